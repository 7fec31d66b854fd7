"""Escalation rows: calls the output guards could not vouch for, kept sealed for human review.

A row's `context` is the JSON document of the call (request, response, scores, guard
decisions), encrypted like a payload (`payloads/keys.py`, the escalation id as authenticated
data) or plaintext when `key_id` is None. Rows are inserted by the escalation writer
(`guards/output/escalation_writer.py`), idempotently, and resolved by `steward escalations`.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal, TypeAlias

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, RowMapping

from steward.storage.database import translate_errors
from steward.storage.tables import escalations

__all__ = [
    "OPEN",
    "RESOLVED",
    "EscalationRow",
    "EscalationStatus",
    "get_escalation",
    "insert_escalations",
    "list_escalations",
    "resolve_escalation",
]

EscalationStatus: TypeAlias = Literal["open", "resolved"]
OPEN: EscalationStatus = "open"
RESOLVED: EscalationStatus = "resolved"


@dataclass(frozen=True, slots=True)
class EscalationRow:
    id: str
    created_at: datetime
    request_id: str
    public_model: str | None
    team_id: str | None
    reason: str
    """`low_confidence`, `guard` (a guard asked for it)."""
    confidence: float | None
    status: EscalationStatus
    context: bytes
    key_id: str | None = None
    nonce: bytes | None = None

    def to_json(self) -> dict[str, Any]:
        """For the spool: bytes as base64 (the context stays ciphertext when sealed)."""
        values = asdict(self)
        values["created_at"] = self.created_at.isoformat()
        values["context"] = base64.b64encode(self.context).decode()
        values["nonce"] = base64.b64encode(self.nonce).decode() if self.nonce else None
        return values

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> EscalationRow:
        values = dict(values)
        values["created_at"] = datetime.fromisoformat(values["created_at"])
        values["context"] = base64.b64decode(values["context"], validate=True)
        nonce = values.get("nonce")
        values["nonce"] = base64.b64decode(nonce, validate=True) if nonce else None
        return cls(**values)


def insert_escalations(engine: Engine, rows: Sequence[EscalationRow]) -> None:
    """Insert in one transaction, skipping ids already stored (a replayed spool)."""
    if not rows:
        return
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    statement = insert(escalations).on_conflict_do_nothing(index_elements=["id"])
    with translate_errors(engine.url), engine.begin() as connection:
        connection.execute(statement, [asdict(row) for row in rows])


def list_escalations(
    engine: Engine,
    *,
    status: EscalationStatus | None = None,
    model: str | None = None,
    limit: int = 50,
) -> list[EscalationRow]:
    """Newest first."""
    query = select(escalations).order_by(escalations.c.created_at.desc()).limit(limit)
    if status is not None:
        query = query.where(escalations.c.status == status)
    if model is not None:
        query = query.where(escalations.c.public_model == model)
    with translate_errors(engine.url), engine.connect() as connection:
        return [_row(row) for row in connection.execute(query).mappings()]


def get_escalation(engine: Engine, escalation_id: str) -> EscalationRow | None:
    query = select(escalations).where(escalations.c.id == escalation_id)
    with translate_errors(engine.url), engine.connect() as connection:
        row = connection.execute(query).mappings().first()
    return _row(row) if row is not None else None


def resolve_escalation(engine: Engine, escalation_id: str) -> bool:
    """Mark an open item resolved; False when there is no such open item."""
    statement = (
        update(escalations)
        .where(escalations.c.id == escalation_id, escalations.c.status == OPEN)
        .values(status=RESOLVED)
    )
    with translate_errors(engine.url), engine.begin() as connection:
        return int(connection.execute(statement).rowcount) == 1


def _row(row: RowMapping) -> EscalationRow:
    return EscalationRow(
        id=row["id"],
        created_at=row["created_at"],
        request_id=row["request_id"],
        public_model=row["public_model"],
        team_id=row["team_id"],
        reason=row["reason"],
        confidence=row["confidence"],
        status=row["status"],
        context=bytes(row["context"]),
        key_id=row["key_id"],
        nonce=bytes(row["nonce"]) if row["nonce"] is not None else None,
    )
