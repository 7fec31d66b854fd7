"""Budgets: a spend limit in USD per key, app, team or model, for a day, a month or in total;
and the spend the database knows for each budget's current period."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from sqlalchemy import delete, func, select
from sqlalchemy.engine import Connection, Engine, RowMapping

from steward.storage.database import transaction
from steward.storage.tables import budgets, requests

__all__ = [
    "SCOPES",
    "BudgetRow",
    "Period",
    "Scope",
    "create_budget",
    "delete_budget",
    "get_budget",
    "list_budgets",
    "period_spend",
]

Period = Literal["daily", "monthly", "total"]
Scope = Literal["key", "app", "team", "model"]
SCOPES: tuple[Scope, ...] = ("key", "app", "team", "model")
_SCOPE_COLUMNS = {"key": "key_id", "app": "app_id", "team": "team_id", "model": "public_model"}


@dataclass(frozen=True, slots=True)
class BudgetRow:
    id: str
    scope: str
    scope_id: str
    team_id: str | None
    """The owning team; for a model budget it also limits the budget to that team's calls."""
    period: str
    limit_usd: float
    thresholds: tuple[float, ...]
    """Soft thresholds as fractions of the limit (0.5, 0.8, 1.0): crossing one raises an alert."""
    created_at: datetime


def create_budget(
    target: Engine | Connection,
    *,
    scope: Scope,
    scope_id: str,
    team_id: str | None,
    period: Period,
    limit_usd: float,
    thresholds: Sequence[float] = (0.5, 0.8, 1.0),
) -> BudgetRow:
    row = BudgetRow(
        id="bud_" + secrets.token_hex(6),
        scope=scope,
        scope_id=scope_id,
        team_id=team_id,
        period=period,
        limit_usd=limit_usd,
        thresholds=tuple(sorted(thresholds)),
        created_at=datetime.now(UTC),
    )
    values = {f.name: getattr(row, f.name) for f in fields(row)}
    values["thresholds"] = orjson.dumps(list(row.thresholds)).decode()
    with transaction(target) as connection:
        connection.execute(budgets.insert(), [values])
    return row


def list_budgets(target: Engine | Connection, *, team_id: str | None = None) -> list[BudgetRow]:
    query = select(budgets).order_by(budgets.c.created_at, budgets.c.id)
    if team_id is not None:
        query = query.where(budgets.c.team_id == team_id)
    with transaction(target) as connection:
        return [_row(r._mapping) for r in connection.execute(query)]


def get_budget(target: Engine | Connection, budget_id: str) -> BudgetRow | None:
    with transaction(target) as connection:
        found = connection.execute(select(budgets).where(budgets.c.id == budget_id)).first()
    return _row(found._mapping) if found else None


def delete_budget(target: Engine | Connection, budget_id: str) -> None:
    with transaction(target) as connection:
        connection.execute(delete(budgets).where(budgets.c.id == budget_id))


def period_spend(target: Engine | Connection, budget: BudgetRow, since: datetime | None) -> float:
    """USD recorded against `budget` since the start of its period (None: ever)."""
    c = requests.c
    query = select(func.coalesce(func.sum(c.cost_usd), 0.0)).where(
        c[_SCOPE_COLUMNS[budget.scope]] == budget.scope_id
    )
    if budget.scope == "model" and budget.team_id is not None:
        query = query.where(c.team_id == budget.team_id)
    if since is not None:
        query = query.where(c.created_at >= since)
    with transaction(target) as connection:
        return float(connection.execute(query).scalar_one())


def _row(mapping: RowMapping) -> BudgetRow:
    values: dict[str, Any] = {f.name: mapping[f.name] for f in fields(BudgetRow)}
    values["thresholds"] = tuple(float(t) for t in orjson.loads(values["thresholds"]))
    return BudgetRow(**values)
