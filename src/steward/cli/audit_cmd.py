"""`steward audit list|verify`: read the hash-chained audit log of admin actions and check it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from steward.cli.common import ConfigOption, fail, load

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from steward.storage.audit import AuditRow

app = typer.Typer(help="List and verify the audit log of admin actions.", no_args_is_help=True)


def _engine(config: Path | None) -> Engine:
    loaded = load(config)
    from steward.storage import database

    engine = database.make_engine(
        database.normalise_url(loaded.config.storage.url, loaded.base_dir)
    )
    database.upgrade(engine)
    return engine


@app.command("list")
def list_(
    team: Annotated[
        str | None, typer.Option("--team", help="Only this team's entries (default: all).")
    ] = None,
    limit: Annotated[int, typer.Option(help="Show at most this many entries.", min=1)] = 100,
    config: ConfigOption = None,
) -> None:
    """List entries, newest first: seq, time, actor, action, target, team."""
    from steward.errors import StewardError
    from steward.storage import audit

    try:
        engine = _engine(config)
        rows = audit.list_entries(
            engine, team_id=audit.ALL_TEAMS if team is None else team, limit=limit
        )
        engine.dispose()
    except StewardError as exc:
        fail(exc.message)
    for row in rows:
        typer.echo(_line(row))


@app.command("verify")
def verify(config: ConfigOption = None) -> None:
    """Recompute the hash chain; exit 1 if any entry was edited, deleted or reordered."""
    from steward.errors import StewardError
    from steward.storage import audit

    try:
        engine = _engine(config)
        result = audit.verify(engine)
        engine.dispose()
    except StewardError as exc:
        fail(exc.message)
    if not result.ok:
        typer.echo(f"audit log TAMPERED at entry {result.first_bad_seq}: {result.reason}")
        raise typer.Exit(1)
    typer.echo(f"audit log intact: {result.checked} entries verified")


def _line(row: AuditRow) -> str:
    entry = row.entry
    target = f"{entry.target_type}:{entry.target_id}" if entry.target_id else entry.target_type
    at = row.at.isoformat(timespec="seconds")
    return f"{row.seq}  {at}  {entry.actor}  {entry.action}  {target}  {entry.team_id or 'org'}"
