"""The audit log: an append-only, SHA-256 hash-chained record of every admin action, and its check.

Each entry's hash covers its own fields and the previous entry's hash, so editing, deleting or
reordering stored entries breaks the chain. `audit_head` (one row, id 1) holds the newest seq and
hash: appenders serialise on it, and it exposes deleted tail entries. Someone able to rewrite the
whole table and the head can forge a consistent chain; ship the head hash elsewhere to catch that.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, TypeAlias

import orjson
from sqlalchemy import Insert, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, RowMapping

from steward.errors import InvalidRequestError
from steward.storage.database import translate_errors
from steward.storage.tables import audit_head, audit_log
from steward.types import JSONObject

__all__ = [
    "ALL_TEAMS",
    "GENESIS_HASH",
    "AuditEntry",
    "AuditRow",
    "TeamScope",
    "VerifyResult",
    "append",
    "entry_hash",
    "list_entries",
    "verify",
]

GENESIS_HASH: Final = "0" * 64
"""The `prev_hash` of the first entry, and the head's hash before anything was appended."""
_HEAD_ID = 1
_TEXT_FIELDS = ("actor_id", "actor", "action", "target_type", "target_id", "team_id")
# Spelled out, not derived from AuditEntry: changing this list changes every hash.
_HASHED = ("seq", "at", *_TEXT_FIELDS, "before", "after", "prev_hash")
_VERIFY_BATCH = 500
_HEAD = select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == _HEAD_ID)
_Values: TypeAlias = Mapping[str, Any] | RowMapping


class _AllTeams(enum.Enum):
    ALL = "all"


ALL_TEAMS: Final = _AllTeams.ALL
"""`list_entries(team_id=ALL_TEAMS)`: every entry, organisation-wide and of every team."""
TeamScope: TypeAlias = str | Literal[_AllTeams.ALL] | None
"""A team id (that team's entries), None (organisation-wide entries only) or `ALL_TEAMS`."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One admin action: who did what to which target, with the target's state before and after."""

    actor_id: str
    actor: str
    action: str
    target_type: str
    target_id: str | None = None
    team_id: str | None = None
    before: JSONObject | None = None
    after: JSONObject | None = None


@dataclass(frozen=True, slots=True)
class AuditRow:
    """A stored entry with its place in the chain."""

    seq: int
    at: datetime
    entry: AuditEntry
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of `verify`: `checked` entries passed before `first_bad_seq` (if any) failed."""

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str | None = None


def entry_hash(values: _Values) -> str:
    """The chain hash of one entry from its stored column values (`before`/`after` as JSON text).

    The one definition used by both `append` and `verify`: SHA-256 over orjson with sorted keys,
    `at` as an ISO 8601 UTC string with microseconds.
    """
    canonical = {name: values[name] for name in _HASHED}
    canonical["at"] = _utc(values["at"]).isoformat(timespec="microseconds")
    return hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()


def append(connection: Connection, entry: AuditEntry, *, at: datetime | None = None) -> AuditRow:
    """Append `entry` inside the caller's transaction, so it commits (or not) with the change.

    Concurrent appenders wait for each other on the head row until the first one commits.
    """
    with translate_errors(connection.engine.url):
        head_seq, head_hash = _lock_head(connection)
        values: dict[str, Any] = {
            "seq": head_seq + 1,
            "at": _utc(at or datetime.now(UTC)),
            **_entry_values(entry),
            "prev_hash": head_hash,
        }
        values["hash"] = entry_hash(values)
        connection.execute(audit_log.insert(), [values])
        connection.execute(
            update(audit_head)
            .where(audit_head.c.id == _HEAD_ID)
            .values(seq=values["seq"], hash=values["hash"])
        )
    return _row(values)


def list_entries(
    engine: Engine, *, team_id: TeamScope, limit: int = 100, before_seq: int | None = None
) -> list[AuditRow]:
    """Entries newest first, at most `limit`, older than `before_seq` if given (for paging)."""
    query = select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit)
    if team_id is None:
        query = query.where(audit_log.c.team_id.is_(None))
    elif team_id is not ALL_TEAMS:
        query = query.where(audit_log.c.team_id == team_id)
    if before_seq is not None:
        query = query.where(audit_log.c.seq < before_seq)
    with translate_errors(engine.url), engine.connect() as connection:
        return [_row(r) for r in connection.execute(query).mappings()]


def verify(engine: Engine, *, batch_size: int = _VERIFY_BATCH) -> VerifyResult:
    """Walk the chain in seq order, recomputing every hash; say where it first breaks, if it does.

    Entries appended while this runs are left for the next check: the walk stops at the head
    read first.
    """
    with translate_errors(engine.url), engine.connect() as connection:
        head = connection.execute(_HEAD).first()
        head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
        result = _walk(_batches(connection, head_seq, batch_size), head_seq, head_hash)
        if not result.ok:
            return result
        stray = _stray_seq(connection)
    if stray is None:
        return result
    if head is None:
        return _bad(0, stray, "the audit head is missing, so the log has been tampered with")
    return _bad(result.checked, stray, f"the entry lies outside the chain ending at {head_seq}")


def _lock_head(connection: Connection) -> tuple[int, str]:
    """Take the write lock with a no-op update of the head (creating it first), then read it."""
    lock = update(audit_head).where(audit_head.c.id == _HEAD_ID).values(seq=audit_head.c.seq)
    if connection.execute(lock).rowcount == 0:
        # Two first appenders may race here; DO NOTHING makes the loser wait, then skip.
        connection.execute(_insert_genesis_head(connection))
        connection.execute(lock)
    head = connection.execute(_HEAD).one()
    return int(head.seq), str(head.hash)


def _insert_genesis_head(connection: Connection) -> Insert:
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    values = {"id": _HEAD_ID, "seq": 0, "hash": GENESIS_HASH}
    return insert(audit_head).values(values).on_conflict_do_nothing(index_elements=["id"])


def _batches(connection: Connection, head_seq: int, size: int) -> Iterator[RowMapping]:
    """Rows with 1 <= seq <= head_seq in order, fetched `size` at a time by keyset paging."""
    last = 0
    while True:
        query = (
            select(audit_log)
            .where(audit_log.c.seq > last, audit_log.c.seq <= head_seq)
            .order_by(audit_log.c.seq)
            .limit(size)
        )
        rows = connection.execute(query).mappings().all()
        yield from rows
        if len(rows) < size:
            return
        last = rows[-1]["seq"]


def _walk(rows: Iterator[RowMapping], head_seq: int, head_hash: str) -> VerifyResult:
    checked, prev_hash = 0, GENESIS_HASH
    for row in rows:
        seq = checked + 1
        if row["seq"] != seq:
            return _bad(checked, seq, f"the entry is missing (the next entry is {row['seq']})")
        if row["prev_hash"] != prev_hash:
            return _bad(checked, seq, "the entry does not link to the one before it")
        if entry_hash(row) != row["hash"]:
            return _bad(checked, seq, "the entry was altered after it was written")
        checked, prev_hash = seq, row["hash"]
    if checked < head_seq:
        return _bad(checked, checked + 1, f"the entry is missing (the head records {head_seq})")
    if prev_hash != head_hash:
        return _bad(checked, head_seq, "the entry does not match the head's hash")
    return VerifyResult(ok=True, checked=checked)


def _stray_seq(connection: Connection) -> int | None:
    """The lowest seq outside 1..head: one statement, so it sees the head and rows consistently."""
    head_seq = func.coalesce(
        select(audit_head.c.seq).where(audit_head.c.id == _HEAD_ID).scalar_subquery(), 0
    )
    query = select(func.min(audit_log.c.seq)).where(
        or_(audit_log.c.seq > head_seq, audit_log.c.seq < 1)
    )
    seq = connection.execute(query).scalar()
    return None if seq is None else int(seq)


def _bad(checked: int, seq: int, reason: str) -> VerifyResult:
    return VerifyResult(ok=False, checked=checked, first_bad_seq=seq, reason=reason)


def _entry_values(entry: AuditEntry) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(entry, name) for name in _TEXT_FIELDS}
    return {
        **values,
        "before": _dumps(entry.before, "before"),
        "after": _dumps(entry.after, "after"),
    }


def _dumps(value: JSONObject | None, name: str) -> str | None:
    if value is None:
        return None
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONEncodeError as exc:
        raise InvalidRequestError(f"audit entry `{name}` is not JSON-serialisable: {exc}") from exc


def _row(values: _Values) -> AuditRow:
    entry = AuditEntry(
        **{name: values[name] for name in _TEXT_FIELDS},
        before=_loads(values["before"]),
        after=_loads(values["after"]),
    )
    return AuditRow(values["seq"], _utc(values["at"]), entry, values["prev_hash"], values["hash"])


def _loads(text: str | None) -> JSONObject | None:
    if text is None:
        return None
    value: JSONObject = orjson.loads(text)
    return value


def _utc(at: datetime) -> datetime:
    """Aware UTC; naive values are taken to be UTC, as `UTCDateTime` stores them on SQLite."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
