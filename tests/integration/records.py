"""Read request records back from a gateway's database, after flushing its writer.

A stream's record is submitted when the server finishes the stream, which can be a moment after
the client has read its last event, so these wait (briefly, bounded) for the record to appear.
"""

from __future__ import annotations

import time

from tests.servers import Gateway

from steward.storage.records import RequestRecord
from steward.storage.requests import get_record, list_records

WAIT_S = 5.0


def record_for(gateway: Gateway, request_id: str) -> RequestRecord:
    deadline = time.monotonic() + WAIT_S
    while True:
        gateway.flush()
        record = get_record(gateway.runtime.engine, request_id)
        if record is not None or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert record is not None, f"no record for request {request_id}"
    return record


def latest(gateway: Gateway) -> RequestRecord:
    """The newest record, once the gateway has finished every request it is serving."""
    deadline = time.monotonic() + WAIT_S
    while True:
        gateway.flush()
        records = list_records(gateway.runtime.engine, limit=1)
        idle = gateway.in_flight() == 0
        if (records and idle) or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert records, "no records written"
    return records[0]
