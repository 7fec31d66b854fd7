"""Payload rows: inserted with their records in one transaction, read, re-sealed and deleted.

A `SealedRecord` is a request record with its payload row, already encrypted: the form in which
the record writer batches, spools and inserts a captured call.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, TypeAlias

from sqlalchemy import Select, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, RowMapping

from steward.storage.database import translate_errors
from steward.storage.records import RequestRecord
from steward.storage.requests import insert_records
from steward.storage.tables import payloads, requests

__all__ = [
    "Entry",
    "PayloadRow",
    "SealedRecord",
    "delete_expired",
    "delete_user",
    "get_payload_row",
    "insert_entries",
    "insert_payloads",
    "rows_to_reseal",
    "update_sealing",
]


@dataclass(frozen=True, slots=True)
class PayloadRow:
    """One row of `payloads`; `key_id` None means `body` is plaintext."""

    request_id: str
    created_at: datetime
    policy: str
    body: bytes
    key_id: str | None = None
    nonce: bytes | None = None
    public_model: str | None = None
    team_id: str | None = None
    user: str | None = None

    def to_json(self) -> dict[str, Any]:
        """For the spool: bytes as base64, the ciphertext stays ciphertext."""
        values = asdict(self)
        values["created_at"] = self.created_at.isoformat()
        values["body"] = base64.b64encode(self.body).decode()
        values["nonce"] = base64.b64encode(self.nonce).decode() if self.nonce else None
        return values

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> PayloadRow:
        values = dict(values)
        values["created_at"] = datetime.fromisoformat(values["created_at"])
        values["body"] = base64.b64decode(values["body"], validate=True)
        nonce = values.get("nonce")
        values["nonce"] = base64.b64decode(nonce, validate=True) if nonce else None
        return cls(**values)


@dataclass(frozen=True, slots=True)
class SealedRecord:
    record: RequestRecord
    payload: PayloadRow


Entry: TypeAlias = RequestRecord | SealedRecord
"""What the record writer batches: a record alone, or with its sealed payload."""


def insert_payloads(connection: Connection, rows: Sequence[PayloadRow]) -> None:
    """Insert rows inside the caller's transaction, skipping request ids already stored."""
    if not rows:
        return
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(payloads).on_conflict_do_nothing(index_elements=["request_id"])
    with translate_errors(connection.engine.url):
        connection.execute(statement, [asdict(row) for row in rows])


def insert_entries(engine: Engine, entries: Sequence[Entry]) -> None:
    """Records and their payloads in one transaction; only records: `insert_records`' fast path."""
    records = [e.record if isinstance(e, SealedRecord) else e for e in entries]
    rows = [e.payload for e in entries if isinstance(e, SealedRecord)]
    if not rows:
        insert_records(engine, records)
        return
    with translate_errors(engine.url), engine.begin() as connection:
        insert_records(connection, records)
        insert_payloads(connection, rows)


def get_payload_row(engine: Engine, request_id: str) -> PayloadRow | None:
    query = select(payloads).where(payloads.c.request_id == request_id)
    with translate_errors(engine.url), engine.connect() as connection:
        row = connection.execute(query).mappings().first()
    return _row(row) if row is not None else None


def delete_user(connection: Connection, user: str) -> tuple[int, int]:
    """Delete every record and payload of the end user; (records, payloads) deleted."""
    with translate_errors(connection.engine.url):
        records = connection.execute(delete(requests).where(requests.c.user == user)).rowcount
        rows = connection.execute(delete(payloads).where(payloads.c.user == user)).rowcount
    return int(records), int(rows)


def delete_expired(
    connection: Connection, public_model: str, cutoff: datetime, limit: int
) -> tuple[int, int]:
    """Delete up to `limit` records and `limit` payloads of the model older than `cutoff`."""
    old_records = (
        select(requests.c.id)
        .where(requests.c.public_model == public_model, requests.c.created_at < cutoff)
        .limit(limit)
    )
    old_payloads = (
        select(payloads.c.request_id)
        .where(payloads.c.public_model == public_model, payloads.c.created_at < cutoff)
        .limit(limit)
    )
    with translate_errors(connection.engine.url):
        records = connection.execute(delete(requests).where(requests.c.id.in_(old_records)))
        rows = connection.execute(delete(payloads).where(payloads.c.request_id.in_(old_payloads)))
    return int(records.rowcount), int(rows.rowcount)


def rows_to_reseal(
    engine: Engine, current_key_id: str, *, after: str, limit: int
) -> list[PayloadRow]:
    """Rows not sealed with the current key (plaintext included), in request id order."""
    query: Select[Any] = (
        select(payloads)
        .where(
            payloads.c.request_id > after,
            payloads.c.key_id.is_(None) | (payloads.c.key_id != current_key_id),
        )
        .order_by(payloads.c.request_id)
        .limit(limit)
    )
    with translate_errors(engine.url), engine.connect() as connection:
        return [_row(row) for row in connection.execute(query).mappings()]


def update_sealing(connection: Connection, old: PayloadRow, new: PayloadRow) -> bool:
    """Replace a row's key, nonce and body if it is still as read; False if it changed meanwhile."""
    unchanged = (
        payloads.c.key_id.is_(None) if old.key_id is None else payloads.c.key_id == old.key_id
    )
    statement = (
        update(payloads)
        .where(payloads.c.request_id == old.request_id, unchanged)
        .values(key_id=new.key_id, nonce=new.nonce, body=new.body)
    )
    with translate_errors(connection.engine.url):
        return int(connection.execute(statement).rowcount) == 1


def _row(row: RowMapping) -> PayloadRow:
    return PayloadRow(
        request_id=row["request_id"],
        created_at=row["created_at"],
        policy=row["policy"],
        body=bytes(row["body"]),
        key_id=row["key_id"],
        nonce=bytes(row["nonce"]) if row["nonce"] is not None else None,
        public_model=row["public_model"],
        team_id=row["team_id"],
        user=row["user"],
    )
