"""`steward teams ...` and `steward apps ...`: the organisation's teams and their apps."""

from __future__ import annotations

from typing import Annotated

import typer

from steward.cli.common import ConfigOption, admin_session

teams_app = typer.Typer(
    help="Create, list and delete teams; set their limits.", no_args_is_help=True
)
apps_app = typer.Typer(help="Create, list and delete apps; set their limits.", no_args_is_help=True)

Limit = Annotated[int | None, typer.Option(min=1, help="Limit per minute (None: unlimited).")]


def _limits(rpm: int | None, tpm: int | None) -> str:
    return f"rpm {rpm or '-'}  tpm {tpm or '-'}"


@teams_app.command("create")
def team_create(
    name: Annotated[str, typer.Argument(help="The team's name, unique.")],
    rpm: Limit = None,
    tpm: Limit = None,
    config: ConfigOption = None,
) -> None:
    """Create a team."""
    with admin_session(config) as admin:
        row = admin.create_team(name, rpm, tpm)
    typer.echo(f"created team {row.id} ({row.name}).")


@teams_app.command("list")
def team_list(config: ConfigOption = None) -> None:
    """List teams."""
    with admin_session(config) as admin:
        rows = admin.list_teams()
    for row in rows:
        typer.echo(f"{row.id}  {row.name}  {_limits(row.rpm, row.tpm)}")


@teams_app.command("set-limits")
def team_limits(
    team_id: Annotated[str, typer.Argument()],
    rpm: Limit = None,
    tpm: Limit = None,
    config: ConfigOption = None,
) -> None:
    """Set a team's requests and tokens per minute (omitted: unlimited)."""
    with admin_session(config) as admin:
        row = admin.update_team(team_id, rpm=rpm, tpm=tpm)
    typer.echo(f"team {row.id}: {_limits(row.rpm, row.tpm)}")


@teams_app.command("delete")
def team_delete(team_id: Annotated[str, typer.Argument()], config: ConfigOption = None) -> None:
    """Delete a team that has no apps and no active keys."""
    with admin_session(config) as admin:
        row = admin.delete_team(team_id)
    typer.echo(f"deleted team {row.id} ({row.name}).")


@apps_app.command("create")
def app_create(
    name: Annotated[str, typer.Argument(help="The app's name, unique in its team.")],
    team_id: Annotated[str, typer.Option("--team", help="The team it belongs to.")],
    rpm: Limit = None,
    tpm: Limit = None,
    config: ConfigOption = None,
) -> None:
    """Create an app in a team."""
    with admin_session(config) as admin:
        row = admin.create_app(name, team_id, rpm, tpm)
    typer.echo(f"created app {row.id} ({row.name}) in team {row.team_id}.")


@apps_app.command("list")
def app_list(
    team_id: Annotated[str | None, typer.Option("--team", help="Only this team's.")] = None,
    config: ConfigOption = None,
) -> None:
    """List apps."""
    with admin_session(config) as admin:
        rows = [a for a in admin.list_apps() if team_id is None or a.team_id == team_id]
    for row in rows:
        typer.echo(f"{row.id}  {row.name}  team {row.team_id}  {_limits(row.rpm, row.tpm)}")


@apps_app.command("set-limits")
def app_limits(
    app_id: Annotated[str, typer.Argument()],
    rpm: Limit = None,
    tpm: Limit = None,
    config: ConfigOption = None,
) -> None:
    """Set an app's requests and tokens per minute (omitted: unlimited)."""
    with admin_session(config) as admin:
        row = admin.update_app(app_id, rpm=rpm, tpm=tpm)
    typer.echo(f"app {row.id}: {_limits(row.rpm, row.tpm)}")


@apps_app.command("delete")
def app_delete(app_id: Annotated[str, typer.Argument()], config: ConfigOption = None) -> None:
    """Delete an app that has no active keys."""
    with admin_session(config) as admin:
        row = admin.delete_app(app_id)
    typer.echo(f"deleted app {row.id} ({row.name}).")
