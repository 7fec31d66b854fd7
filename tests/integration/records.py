"""Read request records back from a gateway's database, after flushing its writer."""

from __future__ import annotations

from tests.servers import Gateway

from steward.storage.records import RequestRecord
from steward.storage.requests import get_record, list_records


def record_for(gateway: Gateway, request_id: str) -> RequestRecord:
    gateway.flush()
    record = get_record(gateway.runtime.engine, request_id)
    assert record is not None, f"no record for request {request_id}"
    return record


def latest(gateway: Gateway) -> RequestRecord:
    gateway.flush()
    records = list_records(gateway.runtime.engine, limit=1)
    assert records, "no records written"
    return records[0]
