"""`steward costs`: spend by day, team, app, model or route, and the month-end projection."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from steward.cli.common import ConfigOption, fail, load

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from steward.storage.costs import CostQuery, CostReport, CostSums, Dimension, Projection

_NUMBERS = ("requests", "input_tokens", "output_tokens", "cache_hits", "cost_usd")


def costs(
    since: Annotated[
        str | None,
        typer.Option(help="First day, YYYY-MM-DD (UTC). Default: the 1st of this month."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="Last day included, YYYY-MM-DD (UTC). Default: today."),
    ] = None,
    by: Annotated[
        str, typer.Option(help="Group by, comma-separated: day, team, app, model, route, key.")
    ] = "day",
    team: Annotated[
        str | None, typer.Option(help="Only this team's spend (default: the organisation).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Report spend and tokens per group, with totals and the month-end projection."""
    from steward.errors import StewardError
    from steward.storage import costs as store

    now = datetime.now(UTC)
    try:
        query = _query(since, until, by, team, now)
        engine = _engine(config)
        report = store.cost_report(engine, query)
        projection = store.month_projection(engine, now=now, team_id=team)
        engine.dispose()
    except StewardError as exc:
        fail(exc.message)
    if as_json:
        typer.echo(json.dumps(store.report_json(report, projection), indent=2))
        return
    for line in [*_table(report), *_notes(report, projection)]:
        typer.echo(line)


def _query(
    since: str | None, until: str | None, by: str, team: str | None, now: datetime
) -> CostQuery:
    from steward.storage.costs import CostQuery

    today = now.date()
    first = _day(since, "--since") if since else today.replace(day=1)
    last = _day(until, "--until") if until else today
    if last < first:
        fail(f"--until {last} is before --since {first}")
    return CostQuery(
        since=_midnight(first),
        until=_midnight(last + timedelta(days=1)),
        group_by=_dimensions(by),
        team_id=team,
    )


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r} is not a date; use YYYY-MM-DD")


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _dimensions(by: str) -> tuple[Dimension, ...]:
    from steward.storage.costs import DIMENSIONS

    known: dict[str, Dimension] = {name: name for name in DIMENSIONS}
    names = [name.strip() for name in by.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        fail(f"--by {by!r} is not valid; use a comma-separated list of: {', '.join(DIMENSIONS)}")
    if len(set(names)) != len(names):
        fail(f"--by {by!r} names a dimension twice")
    return tuple(known[name] for name in names)


def _engine(config: Path | None) -> Engine:
    loaded = load(config)
    from steward.storage import database

    engine = database.make_engine(
        database.normalise_url(loaded.config.storage.url, loaded.base_dir)
    )
    database.upgrade(engine)
    return engine


def _table(report: CostReport) -> list[str]:
    """Dimensions left-aligned, numbers right-aligned, a totals line last."""
    group_by = report.query.group_by
    header = [*group_by, *_NUMBERS]
    body = [
        [*(row.dimensions.get(name) or "-" for name in group_by), *_numbers(row.sums)]
        for row in report.rows
    ]
    padding = [""] * max(len(group_by) - 1, 0)
    totals = ["total", *padding, *_numbers(report.totals)]
    lines = [header, *body, totals]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return [_line(line, widths, numeric_from=len(group_by)) for line in lines]


def _numbers(sums: CostSums) -> list[str]:
    return [
        f"{sums.requests:,}",
        f"{sums.input_tokens:,}",
        f"{sums.output_tokens:,}",
        f"{sums.cache_hits:,}",
        f"{sums.cost_usd:,.6f}",
    ]


def _line(cells: Sequence[str], widths: Sequence[int], *, numeric_from: int) -> str:
    padded = [
        cell.rjust(width) if i >= numeric_from else cell.ljust(width)
        for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
    ]
    return "  ".join(padded).rstrip()


def _notes(report: CostReport, projection: Projection) -> list[str]:
    notes = []
    totals = report.totals
    if totals.unpriced_requests:
        notes.append(
            f"Unpriced: {totals.unpriced_requests:,} of {totals.requests:,} requests had no "
            "cost and count as $0 (is the model in [pricing]?)."
        )
    month = projection.month_start.strftime("%Y-%m")
    notes.append(
        f"Month to date ({month}, {projection.days_elapsed:.2f} of {projection.days_in_month} "
        f"days): ${projection.mtd_cost_usd:,.4f}"
    )
    week = f"${projection.projected_cost_7d_usd:,.4f} at the last 7 days' rate"
    linear = projection.projected_cost_usd
    if linear is None:
        notes.append(f"Projected month end: {week} (too early in the month for a linear run rate).")
    else:
        notes.append(f"Projected month end: ${linear:,.4f} at this month's run rate; {week}.")
    return notes
