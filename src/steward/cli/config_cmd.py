"""`steward config check` and `steward db upgrade`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from steward.cli.common import ConfigOption, fail, load

if TYPE_CHECKING:
    from steward.config.schema import StewardConfig

app = typer.Typer(help="Validate and inspect configuration.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("check")
def check(config: ConfigOption = None) -> None:
    """Validate a config file; print what it defines and which secrets are unset."""
    loaded = load(config)
    from steward.config.schema import HTTPProviderConfig
    from steward.config.secrets import resolve_secret

    cfg = loaded.config
    typer.echo(f"{loaded.source}: valid (config hash {cfg.config_hash()})")
    typer.echo(f"  providers: {', '.join(cfg.providers) or 'none'}")
    for name, model in cfg.models.items():
        typer.echo(f"  model {name}: {' -> '.join(t.target for t in model.targets)}")
    for name, provider in cfg.providers.items():
        if not isinstance(provider, HTTPProviderConfig) or provider.api_key is None:
            continue
        if resolve_secret(provider.api_key) is None:
            typer.echo(f"  warning: {provider.api_key} is unset; provider {name} is skipped")
    for hook in cfg.alerts.webhooks:
        if hook.url.startswith("env:") and resolve_secret(hook.url) is None:
            typer.echo(f"  warning: {hook.url} is unset; that alert webhook is skipped")
    _check_payload_keys(cfg)


def _check_payload_keys(cfg: StewardConfig) -> None:
    """The gateway refuses to start with an unusable payload key; so does the check."""
    from steward.errors import ConfigError
    from steward.payloads.keys import PayloadKeyring

    try:
        keyring = PayloadKeyring.from_config(cfg.payloads)
    except ConfigError as exc:
        fail(exc.message)
    if keyring is not None:
        typer.echo(f"  payload keys: {', '.join(keyring.key_ids)} (current {keyring.current_id})")


@db_app.command("upgrade")
def upgrade(config: ConfigOption = None) -> None:
    """Apply database migrations up to the latest."""
    loaded = load(config)
    from steward.errors import StewardError
    from steward.storage import database

    try:
        engine = database.make_engine(
            database.normalise_url(loaded.config.storage.url, loaded.base_dir)
        )
        database.upgrade(engine)
        engine.dispose()
    except StewardError as exc:
        fail(exc.message)
    typer.echo("database is at the latest schema.")
