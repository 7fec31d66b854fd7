"""What every command shares: finding and loading the config, and printing errors."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from steward.config.loading import LoadedConfig
    from steward.tenancy.admin import Admin

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file (default: $STEWARD_CONFIG, else ./steward.toml).",
        show_default=False,
    ),
]

DEFAULT_CONFIG = Path("steward.toml")


def config_path(option: Path | None) -> Path:
    if option is not None:
        return option
    env = os.environ.get("STEWARD_CONFIG")
    return Path(env) if env else DEFAULT_CONFIG


def load(option: Path | None, **overrides: object) -> LoadedConfig:
    """Load and validate config; imported here so `steward --help` stays fast."""
    from steward.config.loading import load_config
    from steward.errors import StewardError

    try:
        return load_config(config_path(option), overrides=overrides)
    except StewardError as exc:
        fail(exc.message)


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def admin_session(option: Path | None) -> Iterator[Admin]:
    """An admin acting from the CLI (audited as `cli:$USER`) on the configured database;
    errors are printed and exit 1."""
    loaded = load(option)
    from steward.errors import StewardError
    from steward.storage import database
    from steward.tenancy.admin import Admin
    from steward.tenancy.roles import Actor

    user = os.environ.get("USER") or _login()
    actor = Actor(id=f"cli:{user}", name=f"steward CLI ({user})", role="admin", team_id=None)
    engine = None
    try:
        engine = database.make_engine(
            database.normalise_url(loaded.config.storage.url, loaded.base_dir)
        )
        database.upgrade(engine)
        yield Admin(engine, actor)
    except StewardError as exc:
        fail(exc.message)
    finally:
        if engine is not None:
            engine.dispose()


def _login() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def open_engine(option: Path | None) -> Engine:
    """An engine on the configured database, migrated; the caller disposes of it."""
    loaded = load(option)
    from steward.storage import database

    engine = database.make_engine(
        database.normalise_url(loaded.config.storage.url, loaded.base_dir)
    )
    database.upgrade(engine)
    return engine


def cli_actor() -> tuple[str, str]:
    """(actor id, display name) the audit log records for a change made from the CLI."""
    user = os.environ.get("USER") or _login()
    return f"cli:{user}", f"steward CLI ({user})"


@contextmanager
def database_session(option: Path | None) -> Iterator[Engine]:
    """An engine on the configured, migrated database; Steward errors print and exit 1."""
    from steward.errors import StewardError

    engine = None
    try:
        engine = open_engine(option)
        yield engine
    except StewardError as exc:
        fail(exc.message)
    finally:
        if engine is not None:
            engine.dispose()
