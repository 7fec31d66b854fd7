"""`steward keys create|list|revoke|rotate`: API keys, stored hashed, shown once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from steward.cli.common import ConfigOption, admin_session, fail

if TYPE_CHECKING:
    from steward.tenancy.admin import Admin

app = typer.Typer(help="Create, list, rotate and revoke API keys.", no_args_is_help=True)

ROLES = ("admin", "owner", "developer", "reviewer", "viewer", "app")
Limit = Annotated[int | None, typer.Option(min=1, help="Limit per minute (None: unlimited).")]


@app.command("create")
def create(
    name: Annotated[str, typer.Option(help="A label for the key, e.g. the app or person.")],
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")] = "app",
    app_id: Annotated[str | None, typer.Option("--app", help="The app of an app key.")] = None,
    team_id: Annotated[
        str | None, typer.Option("--team", help="The team of a person's key.")
    ] = None,
    expires_in_days: Annotated[
        float | None, typer.Option(help="Expire after this many days.", min=0.001)
    ] = None,
    rpm: Limit = None,
    tpm: Limit = None,
    config: ConfigOption = None,
) -> None:
    """Create a key and print it once; only its hash is stored."""
    if role not in ROLES:
        fail(f"unknown role '{role}'; use one of: {', '.join(ROLES)}")
    with admin_session(config) as admin:
        row, secret = admin.create_key(
            name,
            role,
            team_id=team_id,
            app_id=app_id,
            expires_in_days=expires_in_days,
            rpm=rpm,
            tpm=tpm,
        )
    typer.echo(f"created key {row.id} ({row.name}, role {row.role}). Shown once:")
    typer.echo(secret)


@app.command("list")
def list_(
    team_id: Annotated[str | None, typer.Option("--team", help="Only this team's.")] = None,
    config: ConfigOption = None,
) -> None:
    """List keys (ids and prefixes, never secrets)."""
    with admin_session(config) as admin:
        rows = [k for k in admin.list_keys() if team_id is None or k.team_id == team_id]
    for row in rows:
        state = "revoked" if row.revoked_at else "active"
        expires = row.expires_at.isoformat() if row.expires_at else "never"
        owner = row.app_id or row.team_id or "organisation"
        typer.echo(
            f"{row.id}  {row.prefix}…  {row.name}  {row.role}  {owner}  {state}  expires {expires}"
        )


@app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (from `steward keys list`).")],
    config: ConfigOption = None,
) -> None:
    """Revoke a key; every running gateway stops accepting it within seconds."""
    with admin_session(config) as admin:
        row = admin.revoke_key(_resolve(admin, key_id))
    typer.echo(f"revoked key {row.id} ({row.name}).")


@app.command("rotate")
def rotate(
    key_id: Annotated[str, typer.Argument(help="The key's id (from `steward keys list`).")],
    overlap_s: Annotated[
        float, typer.Option(help="Seconds the old key keeps working.", min=0)
    ] = 3600.0,
    config: ConfigOption = None,
) -> None:
    """Issue a new secret for a key; the old one keeps working for the overlap, then expires."""
    with admin_session(config) as admin:
        old, new, secret = admin.rotate_key(_resolve(admin, key_id), overlap_s)
    expires = old.expires_at.isoformat() if old.expires_at else "now"
    typer.echo(f"rotated key {old.id} -> {new.id}; the old secret works until {expires}.")
    typer.echo("New secret, shown once:")
    typer.echo(secret)


def _resolve(admin: Admin, key_id_or_prefix: str) -> str:
    """Accept an id, a listed prefix or the secret itself, as `keys revoke` always has."""
    from steward.errors import InvalidRequestError, NotFoundError
    from steward.storage import keys

    needle = key_id_or_prefix
    hashed = keys.hash_key(needle)
    matches = [k for k in admin.list_keys() if needle in (k.id, k.prefix) or k.key_hash == hashed]
    if not matches:
        raise NotFoundError(
            f"No API key has the id or prefix {needle!r}; `steward keys list` shows them"
        )
    if len(matches) > 1:
        raise InvalidRequestError(f"{len(matches)} API keys match {needle!r}; use the key id")
    return matches[0].id
