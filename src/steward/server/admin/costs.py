"""`GET /api/costs`: the query string to a cost query, scoped to the caller's team."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import cast

from steward.errors import InvalidRequestError
from steward.storage import costs
from steward.tenancy.admin import Admin


def cost_view(admin: Admin, query: Mapping[str, str]) -> object:
    """since/until: dates or ISO times (UTC; default this month to now); group_by: a comma list
    of day, team, app, model, route, key (default day)."""
    team = admin.cost_scope()
    now = datetime.now(UTC)
    since = _when(query.get("since"), "since") or now.replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    until = _when(query.get("until"), "until") or now + timedelta(seconds=1)
    group_by = tuple(g.strip() for g in query.get("group_by", "day").split(",") if g.strip())
    unknown = [g for g in group_by if g not in costs.DIMENSIONS]
    if unknown:
        raise InvalidRequestError(
            f"Unknown group_by {', '.join(unknown)}; use any of {', '.join(costs.DIMENSIONS)}.",
            param="group_by",
        )
    report = costs.cost_report(
        admin.engine,
        costs.CostQuery(
            since=since,
            until=until,
            group_by=cast(tuple[costs.Dimension, ...], group_by or ("day",)),
            team_id=team,
            model=query.get("model"),
            app_id=query.get("app_id"),
        ),
    )
    return costs.report_json(report, costs.month_projection(admin.engine, now=now, team_id=team))


def _when(raw: str | None, name: str) -> datetime | None:
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidRequestError(
            f"`{name}` must be a date (2026-12-01) or an ISO time.", param=name
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
