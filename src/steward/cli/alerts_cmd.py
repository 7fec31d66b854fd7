"""`steward alerts list|check`: alert history, and every rule measured now."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from steward.cli.common import ConfigOption, fail, load, open_engine

if TYPE_CHECKING:
    from steward.observe.alerts import RuleStatus
    from steward.storage.alerts import AlertRow

app = typer.Typer(help="Alert history and rule checks.", no_args_is_help=True)


class StateFilter(StrEnum):
    firing = "firing"
    resolved = "resolved"


@app.command("list")
def list_(
    state: Annotated[
        StateFilter | None, typer.Option("--state", help="Only firing or only resolved alerts.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Show at most this many alerts.", min=1)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """List alerts, newest first: when, state, rule, value and threshold, message."""
    from steward.errors import StewardError
    from steward.storage import alerts

    try:
        engine = open_engine(config)
        rows = alerts.list_alerts(engine, state=state.value if state else None, limit=limit)
        engine.dispose()
    except StewardError as exc:
        fail(exc.message)
    if as_json:
        typer.echo(json.dumps([_row_json(row) for row in rows], indent=2))
        return
    if not rows:
        typer.echo("no alerts")
    for row in rows:
        typer.echo(_row_line(row))


@app.command("check")
def check(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Measure every rule now and print it; changes no state and notifies no one."""
    loaded = load(config)
    from steward.errors import StewardError
    from steward.observe.alerts import AlertEvaluator

    rules = loaded.config.alerts
    if not rules.rules:
        fail("no rules: add [[alerts.rules]] to the config (see docs/operations.md, Alerts)")
    try:
        engine = open_engine(config)
        evaluator = AlertEvaluator(engine, rules, config_hash=loaded.config.config_hash())
        statuses = evaluator.measure()
        engine.dispose()
    except StewardError as exc:
        fail(exc.message)
    if as_json:
        typer.echo(json.dumps([_status_json(s) for s in statuses], indent=2))
        return
    for status in statuses:
        typer.echo(_status_line(status))


def _row_json(row: AlertRow) -> dict[str, object]:
    return {
        "id": row.id,
        "rule": row.rule,
        "state": row.state,
        "started_at": row.started_at.isoformat(),
        "resolved_at": row.resolved_at.isoformat() if row.resolved_at else None,
        "value": row.value,
        "threshold": row.threshold,
        "message": row.message,
        "labels": row.labels,
    }


def _row_line(row: AlertRow) -> str:
    started = row.started_at.isoformat(timespec="seconds")
    value = "n/a" if row.value is None else f"{row.value:.4g}"
    resolved = (
        f"  resolved {row.resolved_at.isoformat(timespec='seconds')}" if row.resolved_at else ""
    )
    return (
        f"{started}  {row.state:<8}  {row.rule}  {value} vs {row.threshold:g}{resolved}"
        f"\n    {row.message}"
    )


def _status_json(status: RuleStatus) -> dict[str, object]:
    rule, measured = status.rule, status.measurement
    return {
        "rule": rule.name,
        "metric": rule.metric,
        "model": rule.model,
        "condition": rule.condition,
        "threshold": rule.threshold,
        "window_s": rule.window_s,
        "value": measured.value,
        "requests": measured.requests,
        "detail": measured.detail,
        "holds": status.holding,
        "firing_since": status.firing_since.isoformat() if status.firing_since else None,
    }


def _status_line(status: RuleStatus) -> str:
    rule, measured = status.rule, status.measurement
    value = "n/a" if measured.value is None else f"{measured.value:.4g}"
    verdict = "HOLDS" if status.holding else "ok"
    firing = (
        f", firing since {status.firing_since.isoformat(timespec='seconds')}"
        if status.firing_since
        else ""
    )
    return (
        f"{rule.name}: {rule.metric} = {value} ({rule.condition} {rule.threshold:g}: {verdict}"
        f"{firing}) - {measured.detail}"
    )
