"""`steward escalations list|show|resolve`: calls the output guards escalated for review."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from steward.cli.common import ConfigOption, database_session, fail, load

if TYPE_CHECKING:
    from steward.storage.escalations import EscalationRow

app = typer.Typer(help="Escalated calls waiting for human review.", no_args_is_help=True)


class StatusFilter(StrEnum):
    open = "open"
    resolved = "resolved"


@app.command("list")
def list_(
    status: Annotated[
        StatusFilter | None, typer.Option("--status", help="Only open or only resolved items.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Only this public model's items.")] = None,
    limit: Annotated[int, typer.Option(help="Show at most this many items.", min=1)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """List escalations, newest first: id, when, status, model, reason, confidence, request."""
    from steward.storage.escalations import list_escalations

    with database_session(config) as engine:
        rows = list_escalations(
            engine, status=status.value if status else None, model=model, limit=limit
        )
    if as_json:
        typer.echo(json.dumps([_summary(row) for row in rows], indent=2))
        return
    if not rows:
        typer.echo("no escalations")
    for row in rows:
        confidence = "-" if row.confidence is None else f"{row.confidence:.3f}"
        typer.echo(
            f"{row.id}  {row.created_at:%Y-%m-%d %H:%M:%S}  {row.status:<8}  "
            f"{row.public_model or '-'}  {row.reason}  confidence {confidence}  {row.request_id}"
        )


@app.command("show")
def show(
    escalation_id: Annotated[str, typer.Argument(help="The escalation's id (esc_...).")],
    config: ConfigOption = None,
) -> None:
    """Print one escalation with its context (request, response, scores, guard decisions),
    decrypted with the configured payload keys."""
    from steward.errors import StewardError
    from steward.guards.output.escalation import open_context
    from steward.payloads.keys import PayloadKeyring
    from steward.storage.escalations import get_escalation

    with database_session(config) as engine:
        row = get_escalation(engine, escalation_id)
    if row is None:
        fail(f"no escalation {escalation_id}; `steward escalations list` shows them")
    try:
        keyring = PayloadKeyring.from_config(load(config).config.payloads)
        context = open_context(row, keyring)
    except StewardError as exc:
        fail(exc.message)
    typer.echo(json.dumps({**_summary(row), "context": context}, indent=2))


@app.command("resolve")
def resolve(
    escalation_id: Annotated[str, typer.Argument(help="The escalation's id (esc_...).")],
    config: ConfigOption = None,
) -> None:
    """Mark an open escalation resolved."""
    from steward.storage.escalations import resolve_escalation

    with database_session(config) as engine:
        done = resolve_escalation(engine, escalation_id)
    if not done:
        fail(f"no open escalation {escalation_id}")
    typer.echo(f"resolved {escalation_id}")


def _summary(row: EscalationRow) -> dict[str, object]:
    return {
        "id": row.id,
        "created_at": row.created_at.isoformat(),
        "status": row.status,
        "request_id": row.request_id,
        "model": row.public_model,
        "team_id": row.team_id,
        "reason": row.reason,
        "confidence": row.confidence,
    }
