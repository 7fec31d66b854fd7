"""The record writer on a healthy database: batches, flush, overflow, refused records, shutdown."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from structlog.testing import capture_logs

from steward.observe.writer import RecordWriter
from steward.storage import database
from steward.storage.requests import count_records, get_record
from tests.storage.sample_records import make_records


def _writer(engine: Engine, spool_dir: Path, **options: float) -> RecordWriter:
    settings: dict[str, float] = {"flush_interval_s": 0.02, "retry_interval_s": 0.05}
    return RecordWriter(engine, spool_dir=spool_dir, **(settings | options))  # type: ignore[arg-type]


def test_submit_never_touches_the_database(tmp_path: Path) -> None:
    # The writer thread is not started: submit must only queue (its cost is in bench/).
    writer = RecordWriter(lambda: pytest.fail("submit touched the database"), spool_dir=tmp_path)
    for record in make_records(1000):
        writer.submit(record)
    assert writer.stats().queue_depth == 1000


def test_writes_in_batches(engine: Engine, tmp_path: Path) -> None:
    writer = _writer(engine, tmp_path / "spool", batch_size=100)
    writer.start()
    records = make_records(1050)
    for record in records:
        writer.submit(record)
    assert writer.flush(timeout_s=4)
    stats = writer.stats()
    assert (stats.written_total, stats.queue_depth, stats.state) == (1050, 0, "ok")
    assert (stats.failed_batches, stats.spooled_records) == (0, 0)
    assert count_records(engine) == 1050
    assert get_record(engine, records[-1].id) == records[-1]
    writer.stop()
    assert not list((tmp_path / "spool").glob("*"))


def test_records_wait_at_most_a_flush_interval(engine: Engine, tmp_path: Path) -> None:
    writer = _writer(engine, tmp_path, batch_size=500)
    writer.start()
    writer.submit(make_records(1)[0])
    deadline = time.monotonic() + 2
    while count_records(engine) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert count_records(engine) == 1
    writer.stop()


def test_stop_writes_everything_queued(engine: Engine, tmp_path: Path) -> None:
    writer = _writer(engine, tmp_path, flush_interval_s=60)
    writer.start()
    for record in make_records(777):
        writer.submit(record)
    writer.stop(timeout_s=4)
    assert count_records(engine) == 777


def test_stop_without_start_still_writes(engine: Engine, tmp_path: Path) -> None:
    writer = _writer(engine, tmp_path)
    for record in make_records(3):
        writer.submit(record)
    assert not writer.flush(timeout_s=0.1)
    writer.stop()
    assert count_records(engine) == 3


def test_queue_overflow_goes_to_the_spool_then_the_database(engine: Engine, tmp_path: Path) -> None:
    writer = _writer(engine, tmp_path, batch_size=50, max_queue=120)
    for record in make_records(400):
        writer.submit(record)
    with capture_logs() as logs:
        writer.start()
        assert writer.flush(timeout_s=4)
        deadline = time.monotonic() + 3
        while writer.stats().spooled_records and time.monotonic() < deadline:
            time.sleep(0.01)
        writer.stop()
    assert count_records(engine) == 400
    events = [entry["event"] for entry in logs]
    assert "writer.queue_overflow" in events
    assert "writer.spool_replayed" in events
    assert not list(tmp_path.glob("*.jsonl"))


def test_records_submitted_after_stop_are_spooled_for_the_next_run(
    engine: Engine, tmp_path: Path
) -> None:
    writer = _writer(engine, tmp_path)
    writer.start()
    writer.stop()
    writer.submit(make_records(1)[0])
    assert writer.stats().spooled_records == 1
    successor = _writer(engine, tmp_path)
    successor.start()
    assert successor.flush(timeout_s=2)
    successor.stop()
    assert count_records(engine) == 1


def test_refused_records_are_set_aside_and_the_rest_written(engine: Engine, tmp_path: Path) -> None:
    records = make_records(10)
    records[4] = dataclasses.replace(records[4], status=None)  # type: ignore[arg-type]
    writer = _writer(engine, tmp_path)
    writer.start()
    with capture_logs() as logs:
        for record in records:
            writer.submit(record)
        assert writer.flush(timeout_s=4)
    writer.stop()
    assert count_records(engine) == 9
    assert writer.stats().state == "ok"
    (rejected,) = tmp_path.glob("rejected-*.jsonl")
    assert records[4].id in rejected.read_text()
    assert any(entry["event"] == "writer.records_rejected" for entry in logs)


def test_an_engine_factory_is_owned_by_the_writer(engine_url: str, tmp_path: Path) -> None:
    database.upgrade(engine_url)
    made: list[Engine] = []

    def factory() -> Engine:
        made.append(database.make_engine(engine_url))
        return made[-1]

    writer = RecordWriter(factory, spool_dir=tmp_path, flush_interval_s=0.02)
    writer.start()
    writer.submit(make_records(1)[0])
    assert writer.flush(timeout_s=2)
    pool = made[0].pool
    writer.stop()
    assert len(made) == 1
    assert made[0].pool is not pool  # disposed: dispose() swaps in a fresh pool
    check = database.make_engine(engine_url)
    assert count_records(check) == 1
    check.dispose()
