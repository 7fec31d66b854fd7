"""Retention and erasure on SQLite and PostgreSQL: what goes, what stays, and the audit trail."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from steward.observe.redact import PatternRedactor
from steward.payloads.capture import PayloadDraft
from steward.payloads.erasure import erase_user, user_reference
from steward.payloads.retention import ACTOR_ID, RetentionJob
from steward.payloads.sealing import Sealer
from steward.storage import audit
from steward.storage.payloads import Entry, SealedRecord, insert_entries
from steward.storage.tables import payloads, requests
from tests.storage.sample_records import make_records

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
SEALER = Sealer(None, PatternRedactor())


def _entries(
    model: str, age_days: float, count: int, *, user: str = "u", prefix: str
) -> list[Entry]:
    """`count` records of `model`, `age_days` old at NOW, every other one with a payload."""
    entries: list[Entry] = []
    for n, record in enumerate(make_records(count, prefix=prefix)):
        record = replace(
            record,
            public_model=model,
            user=user,
            created_at=NOW - timedelta(days=age_days, seconds=n),
        )
        if n % 2:
            entries.append(record)
        else:
            row = SEALER(record, PayloadDraft("full", b'{"model": "m"}'))
            entries.append(SealedRecord(record, row))
    return entries


def _ids(engine: Engine) -> tuple[set[str], set[str]]:
    with engine.connect() as connection:
        records = set(connection.execute(select(requests.c.id)).scalars())
        rows = set(connection.execute(select(payloads.c.request_id)).scalars())
    return records, rows


def _record_id(entry: Entry) -> str:
    return entry.record.id if isinstance(entry, SealedRecord) else entry.id


def test_retention_deletes_only_expired_rows_of_models_that_set_it(engine: Engine) -> None:
    old_a = _entries("a", 31, 7, prefix="old-a")
    new_a = _entries("a", 29, 3, prefix="new-a")
    old_b = _entries("b", 400, 3, prefix="old-b")  # model b keeps everything
    old_none = [replace(r, public_model=None) for r in make_records(2, prefix="nomodel")]
    insert_entries(engine, [*old_a, *new_a, *old_b, *old_none])

    job = RetentionJob(engine, {"a": 30}, batch_size=3)
    purge = job.run_once(NOW)

    assert (purge.requests, purge.payloads) == (7, 4)
    assert purge.transactions == 3  # 3 + 3 + 1 records, 3 batches that deleted something
    records, rows = _ids(engine)
    assert records == {_record_id(e) for e in [*new_a, *old_b]} | {r.id for r in old_none}
    assert rows == {e.record.id for e in [*new_a, *old_b] if isinstance(e, SealedRecord)}

    entries = audit.list_entries(engine, team_id=None)
    assert [e.entry.actor_id for e in entries] == [ACTOR_ID] * 3
    assert {e.entry.action for e in entries} == {"retention.purge"}
    first = entries[-1].entry.after
    assert first is not None
    assert first["requests"] == 3 and first["models"]["a"]["requests"] == 3
    assert first["models"]["a"]["before"] == (NOW - timedelta(days=30)).isoformat("T", "seconds")
    assert sum(e.entry.after["payloads"] for e in entries if e.entry.after) == 4
    assert audit.verify(engine).ok

    assert job.run_once(NOW) == type(purge)()  # nothing left: no transaction, no entry
    assert len(audit.list_entries(engine, team_id=None)) == 3


def test_retention_job_runs_on_its_thread_and_stops(engine: Engine) -> None:
    insert_entries(engine, _entries("a", 3, 2, prefix="t"))
    job = RetentionJob(engine, {"a": 1}, interval_s=60)
    job.start()
    deadline = time.monotonic() + 5
    while _ids(engine)[0] and time.monotonic() < deadline:
        time.sleep(0.02)
    job.stop()
    assert _ids(engine) == (set(), set())
    assert job.last_error is None


def test_erasure_removes_every_row_of_one_user_and_is_audited(engine: Engine) -> None:
    ann = _entries("a", 1, 4, user="ann@example.com", prefix="ann")
    bob = _entries("b", 1, 3, user="bob", prefix="bob")
    insert_entries(engine, [*ann, *bob])

    done = erase_user(engine, "ann@example.com", actor_id="cli:ops", actor="steward CLI (ops)")

    assert (done.requests, done.payloads) == (4, 2)
    records, rows = _ids(engine)
    assert records == {_record_id(e) for e in bob}
    assert len(rows) == 2
    (entry,) = audit.list_entries(engine, team_id=None)
    assert entry.entry.action == "data.delete_user" and entry.entry.actor_id == "cli:ops"
    assert entry.entry.target_id == user_reference("ann@example.com")
    assert "ann" not in (entry.entry.target_id or "")
    assert entry.entry.after == {"requests": 4, "payloads": 2}
    assert audit.verify(engine).ok

    again = erase_user(engine, "ann@example.com", actor_id="cli:ops", actor="ops")
    assert (again.requests, again.payloads) == (0, 0)
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(requests)).scalar_one() == 3
