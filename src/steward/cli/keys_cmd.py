"""`steward keys create|list|revoke`: API keys, stored hashed, shown once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from steward.cli.common import ConfigOption, fail, load

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)

ROLES = ("admin", "owner", "developer", "reviewer", "viewer", "app")


def _engine(config: Path | None) -> Engine:
    loaded = load(config)
    from steward.storage import database

    engine = database.make_engine(
        database.normalise_url(loaded.config.storage.url, loaded.base_dir)
    )
    database.upgrade(engine)
    return engine


@app.command("create")
def create(
    name: Annotated[str, typer.Option(help="A label for the key, e.g. the app using it.")],
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")] = "app",
    expires_in_days: Annotated[
        int | None, typer.Option(help="Expire after this many days.", min=1)
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Create a key and print it once; only its hash is stored."""
    if role not in ROLES:
        fail(f"unknown role '{role}'; use one of: {', '.join(ROLES)}")
    from steward.errors import StewardError
    from steward.storage import keys

    expires = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    try:
        engine = _engine(config)
        row, secret = keys.create_key(engine, name=name, role=role, expires_at=expires)
        engine.dispose()
    except StewardError as exc:
        fail(exc.message)
    typer.echo(f"created key {row.id} ({row.name}, role {row.role}). Shown once:")
    typer.echo(secret)


@app.command("list")
def list_(config: ConfigOption = None) -> None:
    """List keys (ids and prefixes, never secrets)."""
    from steward.errors import StewardError
    from steward.storage import keys

    try:
        engine = _engine(config)
        rows = keys.list_keys(engine)
        engine.dispose()
    except StewardError as exc:
        fail(exc.message)
    for row in rows:
        state = "revoked" if row.revoked_at else "active"
        expires = row.expires_at.isoformat() if row.expires_at else "never"
        typer.echo(f"{row.id}  {row.prefix}…  {row.name}  {row.role}  {state}  expires {expires}")


@app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (from `steward keys list`).")],
    config: ConfigOption = None,
) -> None:
    """Revoke a key; every running gateway stops accepting it within seconds."""
    from steward.errors import StewardError
    from steward.storage import keys

    try:
        engine = _engine(config)
        row = keys.revoke_key(engine, key_id)
        engine.dispose()
    except StewardError as exc:
        fail(exc.message)
    typer.echo(f"revoked key {row.id} ({row.name}).")
