"""Request records over a time window, for alerts and drift: counts in SQL, bounded samples.

Counts are one aggregate query (portable Core: `count`, `sum(case ...)`), served by the index on
`created_at`. Distributions (latency percentiles, token lengths) are computed in Python from the
newest `limit` values of the window: the same numbers on SQLite and PostgreSQL, and bounded work
however busy the window was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeAlias

from sqlalchemy import case, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from steward.errors import BudgetExceededError, RateLimitedError
from steward.storage.costs import CACHE_HITS
from steward.storage.database import translate_errors
from steward.storage.tables import requests

__all__ = [
    "DEFAULT_SAMPLE_LIMIT",
    "SampleColumn",
    "Window",
    "WindowCounts",
    "sample",
    "window_counts",
]

DEFAULT_SAMPLE_LIMIT = 10_000
SampleColumn: TypeAlias = Literal["latency_ms", "input_tokens", "output_tokens"]


@dataclass(frozen=True, slots=True)
class Window:
    """Records with `since <= created_at < until`, of one public model or (None) of all."""

    since: datetime
    until: datetime
    model: str | None = None

    def where(self) -> list[ColumnElement[bool]]:
        created = requests.c.created_at
        clauses = [created >= self.since, created < self.until]
        if self.model is not None:
            clauses.append(requests.c.public_model == self.model)
        return clauses


@dataclass(frozen=True, slots=True)
class WindowCounts:
    requests: int
    errors: int
    """Status 500 and above: Steward or every upstream failed (not the caller's 4xx, not 499)."""
    retried: int
    """Needed more than one attempt: a retry on the same target or a fallback to another."""
    budget_refusals: int
    rate_limited: int
    """Refused by one of Steward's own rate limits (not an upstream 429)."""
    cache_hits: int
    cost_usd: float
    """Sum over the window; records without a cost count as 0."""
    priced: int
    """Records that have a cost (failed calls have none)."""
    guard_blocks: int = 0
    """Refused by a guard (a `block` decision in the record's `guards`)."""
    escalated: int = 0
    confidence_sum: float = 0.0
    confident: int = 0
    """Records with a confidence score (models with output guards)."""


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def window_counts(engine: Engine, window: Window) -> WindowCounts:
    c = requests.c
    query = select(
        func.count(),
        _count_if(c.status >= 500),
        _count_if(c.attempt_count > 1),
        _count_if(c.error_type == BudgetExceededError.error_type),
        _count_if(c.error_type == RateLimitedError.error_type),
        _count_if(c.cache.in_(CACHE_HITS)),
        func.coalesce(func.sum(c.cost_usd), 0.0),
        func.count(c.cost_usd),
        # The column is compact JSON written by `decisions_json`, so the pair is spelled exactly so.
        _count_if(c.guards.like('%"action":"block"%')),
        _count_if(c.escalated.is_(True)),
        func.coalesce(func.sum(c.confidence), 0.0),
        func.count(c.confidence),
    ).where(*window.where())
    with translate_errors(engine.url), engine.connect() as connection:
        row = connection.execute(query).one()
    total, errors, retried, budget, limited, hits, cost, priced, blocks, escalated, conf, n = row
    return WindowCounts(
        requests=int(total),
        errors=int(errors),
        retried=int(retried),
        budget_refusals=int(budget),
        rate_limited=int(limited),
        cache_hits=int(hits),
        cost_usd=float(cost),
        priced=int(priced),
        guard_blocks=int(blocks),
        escalated=int(escalated),
        confidence_sum=float(conf),
        confident=int(n),
    )


def sample(
    engine: Engine, window: Window, column: SampleColumn, *, limit: int = DEFAULT_SAMPLE_LIMIT
) -> list[float]:
    """The newest `limit` values of `column` among the window's successful (status < 400)
    records that have one."""
    value = requests.c[column]
    query = (
        select(value)
        .where(*window.where(), requests.c.status < 400, value.is_not(None))
        .order_by(requests.c.created_at.desc())
        .limit(limit)
    )
    with translate_errors(engine.url), engine.connect() as connection:
        return [float(v) for v in connection.execute(query).scalars()]
