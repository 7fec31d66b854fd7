"""Alert history in the `alerts` table: one row per episode, `firing` until it is `resolved`.

Several replicas evaluate the same rules, so the table decides who notifies: `open_alert`
inserts a firing row only if the rule has none, under a lock held for the transaction (a
PostgreSQL advisory lock keyed by the rule, `BEGIN IMMEDIATE` on SQLite); `resolve_alert`
flips the firing row with a conditional `UPDATE`, so exactly one replica sees it change.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Literal, TypeAlias

import orjson
from sqlalchemy import insert, select, text, update
from sqlalchemy.engine import Connection, Engine, RowMapping

from steward.storage.database import translate_errors
from steward.storage.tables import alerts

__all__ = [
    "FIRING",
    "RESOLVED",
    "AlertRow",
    "AlertState",
    "Labels",
    "firing_alerts",
    "list_alerts",
    "open_alert",
    "resolve_alert",
]

AlertState: TypeAlias = Literal["firing", "resolved"]
FIRING: AlertState = "firing"
RESOLVED: AlertState = "resolved"
Labels: TypeAlias = dict[str, str | float | None]


@dataclass(frozen=True, slots=True)
class AlertRow:
    id: str
    rule: str
    state: AlertState
    started_at: datetime
    resolved_at: datetime | None
    value: float | None
    """The metric's value when the alert fired."""
    threshold: float | None
    message: str
    """Why it fired; once resolved, why it resolved."""
    labels: Labels


def firing_alerts(engine: Engine) -> dict[str, AlertRow]:
    """The firing episode of every rule that has one, by rule name."""
    query = select(alerts).where(alerts.c.state == FIRING).order_by(alerts.c.started_at)
    with translate_errors(engine.url), engine.connect() as connection:
        return {row.rule: row for row in map(_row, connection.execute(query).mappings())}


def open_alert(
    engine: Engine,
    *,
    rule: str,
    started_at: datetime,
    value: float | None,
    threshold: float,
    message: str,
    labels: Labels,
) -> AlertRow | None:
    """Insert a firing row for `rule`; None when it already had one (another replica fired)."""
    row = AlertRow(
        id="alert_" + secrets.token_hex(8),
        rule=rule,
        state=FIRING,
        started_at=started_at,
        resolved_at=None,
        value=value,
        threshold=threshold,
        message=message,
        labels=labels,
    )
    firing = select(alerts.c.id).where(alerts.c.rule == rule, alerts.c.state == FIRING).limit(1)
    with translate_errors(engine.url), engine.begin() as connection:
        _lock(connection, rule)
        if connection.execute(firing).first() is not None:
            return None
        connection.execute(insert(alerts).values(_values(row)))
    return row


def resolve_alert(
    engine: Engine, *, rule: str, resolved_at: datetime, message: str
) -> AlertRow | None:
    """Mark the rule's firing row resolved; None when none was firing (another replica won)."""
    query = select(alerts).where(alerts.c.rule == rule, alerts.c.state == FIRING)
    with translate_errors(engine.url), engine.begin() as connection:
        for found in map(_row, connection.execute(query).mappings().all()):
            flipped = connection.execute(
                update(alerts)
                .where(alerts.c.id == found.id, alerts.c.state == FIRING)
                .values(state=RESOLVED, resolved_at=resolved_at, message=message)
            )
            if flipped.rowcount == 1:
                return replace(found, state=RESOLVED, resolved_at=resolved_at, message=message)
    return None


def list_alerts(
    engine: Engine, *, state: AlertState | None = None, limit: int = 100
) -> list[AlertRow]:
    """Alert history, newest episode first."""
    query = select(alerts).order_by(alerts.c.started_at.desc(), alerts.c.id.desc()).limit(limit)
    if state is not None:
        query = query.where(alerts.c.state == state)
    with translate_errors(engine.url), engine.connect() as connection:
        return [_row(row) for row in connection.execute(query).mappings()]


def _lock(connection: Connection, rule: str) -> None:
    """Serialise `open_alert` for one rule across processes until the transaction ends."""
    if connection.dialect.name == "postgresql":
        digest = hashlib.sha256(f"steward-alert:{rule}".encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    elif connection.dialect.name == "sqlite":
        # Take the write lock before reading, so two processes cannot both see "none firing".
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _values(row: AlertRow) -> dict[str, object]:
    values = asdict(row)
    values["labels"] = orjson.dumps(row.labels, option=orjson.OPT_SORT_KEYS).decode()
    return values


def _row(mapping: RowMapping) -> AlertRow:
    labels = orjson.loads(mapping["labels"]) if mapping["labels"] else {}
    state: AlertState = RESOLVED if mapping["state"] == RESOLVED else FIRING
    return AlertRow(
        id=mapping["id"],
        rule=mapping["rule"],
        state=state,
        started_at=mapping["started_at"],
        resolved_at=mapping["resolved_at"],
        value=mapping["value"],
        threshold=mapping["threshold"],
        message=mapping["message"],
        labels=labels,
    )
