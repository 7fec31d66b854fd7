"""The record writer when the database goes away: spool to disk, replay in order, lose nothing.

SQLite is taken away by another connection's exclusive lock; PostgreSQL by cutting a TCP proxy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from structlog.testing import capture_logs

from steward.observe.spool import Spool
from steward.observe.writer import RecordWriter
from steward.storage.requests import insert_records
from steward.storage.tables import requests
from tests.storage.conftest import FlakyDatabase
from tests.storage.sample_records import make_records


def _writer(db: FlakyDatabase, spool_dir: Path) -> RecordWriter:
    return RecordWriter(db.engine, spool_dir=spool_dir, flush_interval_s=0.02, retry_interval_s=0.1)


def _stored_ids(db: FlakyDatabase) -> list[str]:
    with db.direct.connect() as connection:
        return list(connection.execute(select(requests.c.id)).scalars())


def _spool_lines(spool_dir: Path) -> int:
    return sum(len(p.read_text().splitlines()) for p in spool_dir.glob("*.jsonl"))


def _wait_for(condition: Callable[[], bool], timeout_s: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_outage_spools_then_replays_every_record_once(
    flaky_db: FlakyDatabase, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    writer = _writer(flaky_db, spool_dir)
    writer.start()
    before, during, spooling = (
        make_records(20),
        make_records(30, start=20),
        make_records(10, start=50),
    )
    with capture_logs() as logs:
        for record in before:
            writer.submit(record)
        assert writer.flush(timeout_s=3)
        assert len(_stored_ids(flaky_db)) == 20

        flaky_db.cut()
        for record in during:
            writer.submit(record)
        assert writer.flush(timeout_s=3)
        assert writer.stats().state == "spooling"
        for record in spooling:
            writer.submit(record)
        assert writer.flush(timeout_s=3)
        assert _spool_lines(spool_dir) == 40
        stats = writer.stats()
        assert (stats.spooled_records, stats.failed_batches, stats.state) == (40, 1, "spooling")

        flaky_db.restore()
        assert _wait_for(
            lambda: writer.stats().state == "ok" and not writer.stats().spooled_records
        )
    writer.stop()
    ids = _stored_ids(flaky_db)
    assert sorted(ids) == [r.id for r in before + during + spooling]
    assert not list(spool_dir.glob("*.jsonl"))
    levels = {entry["event"]: entry["log_level"] for entry in logs}
    assert levels["writer.spooling"] == "warning"
    assert levels["writer.spool_replayed"] == "info"


def test_stop_during_an_outage_spools_and_the_next_start_replays(
    flaky_db: FlakyDatabase, tmp_path: Path
) -> None:
    records = make_records(25)
    writer = _writer(flaky_db, tmp_path)
    writer.start()
    flaky_db.cut()
    for record in records:
        writer.submit(record)
    writer.stop(timeout_s=4)
    assert _spool_lines(tmp_path) == 25
    assert _stored_ids(flaky_db) == []

    flaky_db.restore()
    successor = _writer(flaky_db, tmp_path)
    assert successor.stats().spooled_records == 25
    successor.start()
    assert _wait_for(lambda: len(_stored_ids(flaky_db)) == 25)
    assert _wait_for(lambda: not list(tmp_path.glob("*.jsonl")))
    successor.stop()
    assert successor.stats().spooled_records == 0
    assert sorted(_stored_ids(flaky_db)) == [r.id for r in records]


def test_a_spool_replayed_twice_writes_each_record_once(
    flaky_db: FlakyDatabase, tmp_path: Path
) -> None:
    records = make_records(15)
    insert_records(flaky_db.direct, records[:10])  # as if a replay crashed before deleting
    Spool(tmp_path).append(records)
    Spool(tmp_path).append(records)
    successor = _writer(flaky_db, tmp_path)
    assert successor.stats().spooled_records == 30
    successor.start()
    assert _wait_for(lambda: not list(tmp_path.glob("*.jsonl")))
    successor.stop()
    assert sorted(_stored_ids(flaky_db)) == [r.id for r in records]
