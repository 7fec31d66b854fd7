"""The cost report: spend by day, team, app, model, route or key; the month-end projection."""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, TypeAlias, get_args

from sqlalchemy import Date, Select, String, case, cast, func, literal_column, select, type_coerce
from sqlalchemy.engine import Engine, Row
from sqlalchemy.sql.elements import ColumnElement, Label

from steward.errors import InvalidRequestError
from steward.storage.database import translate_errors
from steward.storage.tables import requests
from steward.types import JSONObject

__all__ = [
    "DIMENSIONS",
    "CostQuery",
    "CostReport",
    "CostRow",
    "CostSums",
    "Dimension",
    "Projection",
    "cost_report",
    "month_projection",
    "report_json",
]

Dimension: TypeAlias = Literal["day", "team", "app", "model", "route", "key"]
DIMENSIONS: tuple[Dimension, ...] = get_args(Dimension)
CACHE_HITS = ("hit", "semantic")
MIN_PROJECTION_DAYS = 1.0
"""Less of the month than this and the linear projection is withheld: one busy hour is no month."""
_DAY_S = 86_400
_COLUMNS = {
    "team": requests.c.team_id,
    "app": requests.c.app_id,
    "model": requests.c.public_model,
    "route": requests.c.target,
    "key": requests.c.key_id,
}


def _utc(value: datetime) -> datetime:
    """Naive datetimes are taken to be UTC, as `UTCDateTime` does."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class CostQuery:
    """Records with `since <= created_at < until`; `team_id` None means the whole organisation."""

    since: datetime
    until: datetime
    group_by: tuple[Dimension, ...] = ("day",)
    team_id: str | None = None
    model: str | None = None
    app_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "since", _utc(self.since))
        object.__setattr__(self, "until", _utc(self.until))
        if self.since >= self.until:
            raise InvalidRequestError("`since` must be before `until`", param="since")
        unknown = [d for d in self.group_by if d not in DIMENSIONS]
        if unknown or len(set(self.group_by)) != len(self.group_by):
            raise InvalidRequestError(
                f"group_by {list(self.group_by)} is not valid; use distinct dimensions from "
                f"{', '.join(DIMENSIONS)}",
                param="group_by",
            )


@dataclass(frozen=True, slots=True)
class CostSums:
    """What a group of records used and cost; `unpriced_requests` had no cost (counted as 0)."""

    requests: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    cache_hits: int
    unpriced_requests: int


@dataclass(frozen=True, slots=True)
class CostRow:
    dimensions: Mapping[Dimension, str | None]
    """The group's value of each `group_by` dimension; "day" is an ISO date in UTC."""
    sums: CostSums


@dataclass(frozen=True, slots=True)
class CostReport:
    query: CostQuery
    rows: tuple[CostRow, ...]
    """Ordered by day (when grouped by day), then cost descending."""
    totals: CostSums


@dataclass(frozen=True, slots=True)
class Projection:
    """Month-end spend, projected two ways from spend up to `now` (a UTC instant).

    `projected_cost_usd` is a linear run rate, `mtd_cost_usd / days_elapsed * days_in_month`,
    or None in the first `MIN_PROJECTION_DAYS` of a month, when it would be mostly noise.
    `projected_cost_7d_usd` is month-to-date spend plus the rest of the month at the last seven
    days' average daily spend; early in a month it leans on the month before.
    """

    now: datetime
    month_start: datetime
    days_in_month: int
    days_elapsed: float
    mtd_cost_usd: float
    last_7d_cost_usd: float
    projected_cost_usd: float | None
    projected_cost_7d_usd: float


def cost_report(engine: Engine, query: CostQuery) -> CostReport:
    """Aggregate matching records in SQL, one row per combination of `query.group_by` values."""
    dialect = engine.dialect.name
    dimensions = [_dimension(name, dialect) for name in query.group_by]
    where = _filters(query, dialect)
    grouped = _sums_select(dimensions, where).group_by(*dimensions).order_by(*_order(dimensions))
    with translate_errors(engine.url), engine.connect() as connection:
        rows = connection.execute(grouped).all()
        totals = connection.execute(_sums_select([], where)).one()
    return CostReport(
        query=query,
        rows=tuple(_row(query.group_by, row) for row in rows),
        totals=_sums(totals),
    )


def _dimension(name: Dimension, dialect: str) -> Label[Any]:
    if name != "day":
        return _COLUMNS[name].label(name)
    created = requests.c.created_at
    if dialect == "sqlite":
        return func.date(created, type_=String).label("day")
    if dialect == "postgresql":
        # A literal, not a bound parameter: PostgreSQL must see SELECT and GROUP BY as the same.
        return cast(func.timezone(literal_column("'UTC'"), created), Date).label("day")
    raise NotImplementedError(f"no cost report for the {dialect} dialect")


def _sums_select(
    dimensions: Sequence[Label[Any]], where: Sequence[ColumnElement[bool]]
) -> Select[Any]:
    c = requests.c
    return select(
        *dimensions,
        func.count().label("requests"),
        func.coalesce(func.sum(c.input_tokens), 0).label("input_tokens"),
        func.coalesce(func.sum(c.output_tokens), 0).label("output_tokens"),
        func.coalesce(func.sum(c.cost_usd), 0.0).label("cost_usd"),
        func.coalesce(func.sum(case((c.cache.in_(CACHE_HITS), 1), else_=0)), 0).label("hits"),
        func.coalesce(func.sum(case((c.cost_usd.is_(None), 1), else_=0)), 0).label("unpriced"),
    ).where(*where)


def _filters(query: CostQuery, dialect: str) -> list[ColumnElement[bool]]:
    c = requests.c
    created = _created(dialect)
    where = [created >= _bound(query.since, dialect), created < _bound(query.until, dialect)]
    if query.team_id is not None:
        where.append(c.team_id == query.team_id)
    if query.model is not None:
        where.append(c.public_model == query.model)
    if query.app_id is not None:
        where.append(c.app_id == query.app_id)
    return where


def _created(dialect: str) -> ColumnElement[Any]:
    """`created_at`, compared as text on SQLite (see `_bound`)."""
    column = requests.c.created_at
    return type_coerce(column, String) if dialect == "sqlite" else column


def _bound(instant: datetime, dialect: str) -> object:
    """A UTC instant to compare `_created` with.

    SQLite holds instants as text, and `insert_records` stores a whole second without the
    ".000000" that a Core bind adds; ISO text without it sorts right against either form.
    """
    return instant.replace(tzinfo=None).isoformat(" ") if dialect == "sqlite" else instant


def _order(dimensions: Sequence[Label[Any]]) -> list[ColumnElement[Any]]:
    days = [d for d in dimensions if d.name == "day"]
    others = [d.asc().nulls_last() for d in dimensions if d.name != "day"]
    return [*days, literal_column("cost_usd").desc(), *others]


def _row(group_by: Sequence[Dimension], row: Row[Any]) -> CostRow:
    values = {name: _text(value) for name, value in zip(group_by, row, strict=False)}
    return CostRow(dimensions=values, sums=_sums(row))


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, date) else str(value)


def _sums(row: Row[Any]) -> CostSums:
    m = row._mapping
    return CostSums(
        requests=int(m["requests"]),
        input_tokens=int(m["input_tokens"]),
        output_tokens=int(m["output_tokens"]),
        cost_usd=float(m["cost_usd"]),
        cache_hits=int(m["hits"]),
        unpriced_requests=int(m["unpriced"]),
    )


def month_projection(engine: Engine, *, now: datetime, team_id: str | None) -> Projection:
    """Spend so far this UTC month (up to `now`) and where it is heading; see `Projection`."""
    now = _utc(now)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    week_start = now - timedelta(days=7)
    mtd, week = _window_costs(engine, (month_start, week_start, now), team_id)
    days_in_month = calendar.monthrange(now.year, now.month)[1]
    elapsed = (now - month_start).total_seconds() / _DAY_S
    linear = mtd / elapsed * days_in_month if elapsed >= MIN_PROJECTION_DAYS else None
    return Projection(
        now=now,
        month_start=month_start,
        days_in_month=days_in_month,
        days_elapsed=elapsed,
        mtd_cost_usd=mtd,
        last_7d_cost_usd=week,
        projected_cost_usd=linear,
        projected_cost_7d_usd=mtd + week / 7 * (days_in_month - elapsed),
    )


def _window_costs(
    engine: Engine, window: tuple[datetime, datetime, datetime], team_id: str | None
) -> tuple[float, float]:
    """Spend in [month_start, now) and in [week_start, now), in one query."""
    month_start, week_start, now = window
    dialect, created = engine.dialect.name, _created(engine.dialect.name)

    def spent_since(start: datetime) -> ColumnElement[float]:
        spent = case((created >= _bound(start, dialect), requests.c.cost_usd))
        return func.coalesce(func.sum(spent), 0.0)

    query = select(spent_since(month_start), spent_since(week_start)).where(
        created >= _bound(min(month_start, week_start), dialect), created < _bound(now, dialect)
    )
    if team_id is not None:
        query = query.where(requests.c.team_id == team_id)
    with translate_errors(engine.url), engine.connect() as connection:
        mtd, week = connection.execute(query).one()
    return float(mtd), float(week)


def report_json(report: CostReport, projection: Projection | None) -> JSONObject:
    """The body of `GET /api/costs`; costs and day counts are rounded to 6 decimals.

    {"since": ISO-8601, "until": ISO-8601, "group_by": ["day", ...], "team_id": str | null,
     "rows": [{<each group_by dimension>: str | null, "requests": int, "input_tokens": int,
               "output_tokens": int, "cost_usd": float, "cache_hits": int,
               "unpriced_requests": int}, ...],
     "totals": {"requests", "input_tokens", "output_tokens", "cost_usd", "cache_hits",
                "unpriced_requests"},
     "projection": {"month": "YYYY-MM", "now": ISO-8601, "days_in_month": int,
                    "days_elapsed": float, "mtd_cost_usd": float, "last_7d_cost_usd": float,
                    "projected_cost_usd": float | null, "projected_cost_7d_usd": float} | null}
    """
    query = report.query
    return {
        "since": query.since.isoformat(),
        "until": query.until.isoformat(),
        "group_by": list(query.group_by),
        "team_id": query.team_id,
        "rows": [{**row.dimensions, **_sums_json(row.sums)} for row in report.rows],
        "totals": _sums_json(report.totals),
        "projection": _projection_json(projection) if projection is not None else None,
    }


def _sums_json(sums: CostSums) -> JSONObject:
    return {**asdict(sums), "cost_usd": round(sums.cost_usd, 6)}


def _projection_json(p: Projection) -> JSONObject:
    linear = p.projected_cost_usd
    return {
        "month": p.month_start.strftime("%Y-%m"),
        "now": p.now.isoformat(),
        "days_in_month": p.days_in_month,
        "days_elapsed": round(p.days_elapsed, 6),
        "mtd_cost_usd": round(p.mtd_cost_usd, 6),
        "last_7d_cost_usd": round(p.last_7d_cost_usd, 6),
        "projected_cost_usd": round(linear, 6) if linear is not None else None,
        "projected_cost_7d_usd": round(p.projected_cost_7d_usd, 6),
    }
