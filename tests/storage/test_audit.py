"""The audit log on SQLite and PostgreSQL: the hash chain, tamper detection, rollback, concurrency."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from steward.errors import InvalidRequestError
from steward.storage import audit
from steward.storage.tables import audit_head, audit_log, teams


def entry(n: int, team_id: str | None = None) -> audit.AuditEntry:
    return audit.AuditEntry(
        actor_id="key_admin",
        actor="alice",
        action="team.update",
        target_type="team",
        target_id=f"team_{n}",
        team_id=team_id,
        before={"rpm": n, "name": "ops"},
        after={"rpm": n + 1, "name": "ops", "tags": {"b": 1, "a": [1, 2]}},
    )


def append_many(engine: Engine, count: int, team_id: str | None = None) -> list[audit.AuditRow]:
    rows = []
    for n in range(count):
        with engine.begin() as connection:
            rows.append(audit.append(connection, entry(n, team_id)))
    return rows


def execute(engine: Engine, sql: str) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql(sql)


def test_appended_entries_form_a_chain_that_verifies(engine: Engine) -> None:
    rows = append_many(engine, 5)
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == audit.GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    assert len({r.hash for r in rows}) == 5
    assert audit.verify(engine) == audit.VerifyResult(ok=True, checked=5)
    with engine.connect() as connection:
        head = connection.execute(select(audit_head)).one()
        stored = connection.execute(select(audit_log).order_by(audit_log.c.seq)).mappings().all()
    assert (head.id, head.seq, head.hash) == (1, 5, rows[-1].hash)
    assert [audit.entry_hash(r) for r in stored] == [r.hash for r in rows]
    assert stored[0]["after"] == '{"name":"ops","rpm":1,"tags":{"a":[1,2],"b":1}}'


def test_verify_streams_in_batches(engine: Engine) -> None:
    append_many(engine, 7)
    assert audit.verify(engine, batch_size=2) == audit.VerifyResult(ok=True, checked=7)
    assert audit.verify(engine, batch_size=7).ok


def test_an_empty_log_verifies(engine: Engine) -> None:
    assert audit.verify(engine) == audit.VerifyResult(ok=True, checked=0)


def test_times_round_trip_to_the_microsecond(engine: Engine) -> None:
    at = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=timezone(timedelta(hours=2)))
    with engine.begin() as connection:
        written = audit.append(connection, entry(1), at=at)
        audit.append(connection, entry(2), at=datetime(2026, 3, 4, 9, 0, 0, 1))  # naive is UTC
    listed = audit.list_entries(engine, team_id=audit.ALL_TEAMS)
    assert listed[1] == written
    assert written.at == at and written.at.tzinfo is UTC
    assert listed[0].at == datetime(2026, 3, 4, 9, 0, 0, 1, tzinfo=UTC)
    assert audit.verify(engine).ok


def test_an_edited_row_is_detected_at_that_row(engine: Engine) -> None:
    append_many(engine, 5)
    execute(engine, """UPDATE audit_log SET "after" = '{"rpm":999}' WHERE seq = 3""")
    result = audit.verify(engine)
    assert (result.ok, result.checked, result.first_bad_seq) == (False, 2, 3)
    assert result.reason and "altered" in result.reason


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(engine: Engine) -> None:
    append_many(engine, 4)
    with engine.begin() as connection:
        row = connection.execute(select(audit_log).where(audit_log.c.seq == 2)).mappings().one()
        forged = {**row, "actor": "mallory"}
        connection.execute(
            audit_log.update()
            .where(audit_log.c.seq == 2)
            .values(actor="mallory", hash=audit.entry_hash(forged))
        )
    result = audit.verify(engine)
    assert (result.ok, result.checked, result.first_bad_seq) == (False, 2, 3)
    assert result.reason and "link" in result.reason


def test_a_deleted_middle_row_is_detected(engine: Engine) -> None:
    append_many(engine, 5)
    execute(engine, "DELETE FROM audit_log WHERE seq = 3")
    result = audit.verify(engine)
    assert (result.ok, result.checked, result.first_bad_seq) == (False, 2, 3)
    assert result.reason and "missing" in result.reason


def test_a_deleted_last_row_is_detected_by_the_head(engine: Engine) -> None:
    append_many(engine, 5)
    execute(engine, "DELETE FROM audit_log WHERE seq = 5")
    result = audit.verify(engine)
    assert (result.ok, result.checked, result.first_bad_seq) == (False, 4, 5)
    assert result.reason and "head" in result.reason


def test_a_head_pointing_elsewhere_is_detected(engine: Engine) -> None:
    rows = append_many(engine, 3)
    execute(engine, f"UPDATE audit_head SET hash = '{rows[1].hash}'")
    result = audit.verify(engine)
    assert (result.ok, result.first_bad_seq) == (False, 3)


def test_reordered_rows_are_detected(engine: Engine) -> None:
    append_many(engine, 4)
    execute(engine, "UPDATE audit_log SET seq = 100 WHERE seq = 2")
    execute(engine, "UPDATE audit_log SET seq = 2 WHERE seq = 3")
    execute(engine, "UPDATE audit_log SET seq = 3 WHERE seq = 100")
    result = audit.verify(engine)
    assert (result.ok, result.checked, result.first_bad_seq) == (False, 1, 2)


def test_rows_outside_the_chain_are_detected(engine: Engine) -> None:
    rows = append_many(engine, 2)
    with engine.begin() as connection:
        forged = connection.execute(select(audit_log).where(audit_log.c.seq == 2)).mappings().one()
        connection.execute(insert(audit_log).values({**forged, "seq": 3}))
    result = audit.verify(engine)
    assert (result.ok, result.checked, result.first_bad_seq) == (False, 2, 3)
    execute(engine, "DELETE FROM audit_head")
    result = audit.verify(engine)
    assert (result.ok, result.first_bad_seq) == (False, 1)
    assert result.reason and "head is missing" in result.reason
    assert rows[0].seq == 1


def fail_after_appending(engine: Engine, n: int) -> None:
    """An admin change and its audit entry in one transaction that then fails."""
    with engine.begin() as connection:
        now = datetime.now(UTC)
        connection.execute(insert(teams).values(id=f"team_{n}", name=f"t{n}", created_at=now))
        audit.append(connection, entry(n))
        raise RuntimeError("the admin change failed")


def test_a_rolled_back_append_leaves_nothing(engine: Engine) -> None:
    with pytest.raises(RuntimeError):
        fail_after_appending(engine, 1)
    assert audit.verify(engine) == audit.VerifyResult(ok=True, checked=0)
    append_many(engine, 2)
    with pytest.raises(RuntimeError):
        fail_after_appending(engine, 3)
    assert audit.verify(engine) == audit.VerifyResult(ok=True, checked=2)
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(teams)).scalar() == 0
        assert connection.execute(select(func.max(audit_log.c.seq))).scalar() == 2
    assert append_many(engine, 1)[0].seq == 3


def test_concurrent_appenders_serialise(engine: Engine) -> None:
    threads, per_thread = 4, 25
    start = threading.Barrier(threads)

    def work(worker: int) -> list[int]:
        start.wait()
        seqs = []
        for n in range(per_thread):
            with engine.begin() as connection:
                seqs.append(audit.append(connection, entry(n, f"team_{worker}")).seq)
        return seqs

    with ThreadPoolExecutor(threads) as pool:
        results = [f.result(timeout=60) for f in [pool.submit(work, w) for w in range(threads)]]
    assert sorted(s for seqs in results for s in seqs) == list(range(1, 101))
    assert all(seqs == sorted(seqs) for seqs in results)
    assert audit.verify(engine) == audit.VerifyResult(ok=True, checked=100)


def test_list_entries_is_scoped_to_a_team_and_pages_newest_first(engine: Engine) -> None:
    append_many(engine, 2, "team_a")
    append_many(engine, 1, "team_b")
    append_many(engine, 2)

    def seqs(team_id: audit.TeamScope, **kwargs: int) -> list[int]:
        return [r.seq for r in audit.list_entries(engine, team_id=team_id, **kwargs)]

    assert seqs("team_a") == [2, 1]
    assert seqs("team_b") == [3]
    assert seqs("team_c") == []
    assert seqs(None) == [5, 4]
    assert seqs(audit.ALL_TEAMS) == [5, 4, 3, 2, 1]
    assert seqs(audit.ALL_TEAMS, limit=2) == [5, 4]
    assert seqs(audit.ALL_TEAMS, limit=2, before_seq=4) == [3, 2]
    row = audit.list_entries(engine, team_id="team_b")[0]
    assert row.entry == entry(0, "team_b")


def test_an_entry_that_is_not_json_is_refused(engine: Engine) -> None:
    bad = audit.AuditEntry("key_admin", "alice", "team.create", "team", after={"at": object()})
    with pytest.raises(InvalidRequestError, match="after"), engine.begin() as connection:
        audit.append(connection, bad)
    assert audit.verify(engine).checked == 0
