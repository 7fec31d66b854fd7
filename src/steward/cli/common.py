"""What every command shares: finding and loading the config, and printing errors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from steward.config.loading import LoadedConfig

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
