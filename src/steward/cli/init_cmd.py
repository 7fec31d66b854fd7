"""`steward init`: write a starter config, create the database and a first key."""

from __future__ import annotations

from importlib import resources
from typing import Annotated

import typer

from steward.cli.common import ConfigOption, config_path, fail, load


def init(
    config: ConfigOption = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing config file.")] = False,
) -> None:
    """Write a working steward.toml (if there is none), migrate the database, make a first key."""
    path = config_path(config)
    if path.exists() and not force:
        typer.echo(f"{path} exists; keeping it (use --force to overwrite).")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(resources.files("steward.config").joinpath("starter.toml").read_text())
        typer.echo(f"wrote {path}")
    loaded = load(path)
    from steward.errors import StewardError
    from steward.storage import database, keys

    try:
        engine = database.make_engine(
            database.normalise_url(loaded.config.storage.url, loaded.base_dir)
        )
        database.upgrade(engine)
        if keys.list_keys(engine):
            typer.echo("database ready; API keys already exist (`steward keys list`).")
            return
        _, secret = keys.create_key(engine, name="first-key", role="admin")
        engine.dispose()
    except StewardError as exc:
        fail(exc.message)
    typer.echo("database ready. Your first API key (shown once, keep it):")
    typer.echo(f"\n    {secret}\n")
