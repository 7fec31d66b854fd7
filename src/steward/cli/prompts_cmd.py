"""`steward prompts push|list|show|diff|label|rollback`: the prompt registry from the shell."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from steward.cli.common import ConfigOption, cli_actor, database_session, fail

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from steward.prompts.registry import PromptRegistry
    from steward.storage.prompts import StoredPrompt

app = typer.Typer(
    help="Versioned prompts: push files, list, show, diff, move labels, roll back.",
    no_args_is_help=True,
)


@app.command("push")
def push(
    directory: Annotated[
        Path, typer.Argument(help="Folder of prompt files (*.toml).", show_default=True)
    ] = Path("prompts"),
    label: Annotated[
        str | None,
        typer.Option(help="Also point this label (e.g. staging) at each pushed version."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Store every changed prompt file as that prompt's next version (unchanged files: none)."""
    from steward.errors import StewardError
    from steward.prompts.definition import load_directory

    try:
        definitions = load_directory(directory)
    except StewardError as exc:
        fail(exc.message)
    if not definitions:
        fail(f"{directory} holds no prompt files (*.toml).")
    with database_session(config) as engine:
        pushed = _registry(engine).push(definitions, label=label)
    for row in pushed:
        state = "new version" if row.created else "unchanged"
        suffix = f", labelled {label}" if label else ""
        typer.echo(f"{row.name}: v{row.version} ({state}{suffix})")


@app.command("list")
def list_(config: ConfigOption = None) -> None:
    """Every prompt with its latest version and its labels."""
    from steward.storage import prompts as store

    with database_session(config) as engine:
        rows = store.list_prompts(engine)
    if not rows:
        typer.echo("no prompts yet: write prompts/NAME.toml and run `steward prompts push`")
    for row in rows:
        labels = ", ".join(f"{k}=v{v}" for k, v in sorted(row.labels.items())) or "no labels"
        typer.echo(f"{row.name}  latest v{row.latest}  {labels}")


@app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@LABEL or NAME@VERSION.")],
    config: ConfigOption = None,
) -> None:
    """Print one version as TOML, with who made it and when."""
    with database_session(config) as engine:
        stored = _stored(engine, ref)
    typer.echo(
        f"# {stored.name} v{stored.version}, by {stored.created_by} at "
        f"{stored.created_at:%Y-%m-%d %H:%M:%S} UTC, sha256 {stored.digest[:12]}"
    )
    typer.echo(stored.definition.to_toml(), nl=False)


@app.command("diff")
def diff(
    name: Annotated[str, typer.Argument(help="The prompt.")],
    a: Annotated[str, typer.Argument(help="A version number or a label.")],
    b: Annotated[str, typer.Argument(help="A version number or a label.")],
    config: ConfigOption = None,
) -> None:
    """A unified diff between two versions (or labels) of a prompt; exit 1 if they differ."""
    import difflib

    with database_session(config) as engine:
        left, right = _stored(engine, f"{name}@{a}"), _stored(engine, f"{name}@{b}")
    lines = list(
        difflib.unified_diff(
            left.definition.to_toml().splitlines(keepends=True),
            right.definition.to_toml().splitlines(keepends=True),
            fromfile=f"{name}@{left.version}",
            tofile=f"{name}@{right.version}",
        )
    )
    if not lines:
        typer.echo(f"{name} v{left.version} and v{right.version} are identical")
        return
    typer.echo("".join(lines), nl=False)
    raise typer.Exit(1)


@app.command("label")
def label(
    name: Annotated[str, typer.Argument(help="The prompt.")],
    label_name: Annotated[str, typer.Argument(metavar="LABEL", help="e.g. production, staging.")],
    version: Annotated[int, typer.Argument(help="The version the label will point at.", min=1)],
    force: Annotated[
        bool,
        typer.Option(help="Promote to production without a passing gate run (audited)."),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Point a label at a version; `production` needs a passing `steward eval gate` run."""
    with database_session(config) as engine:
        move = _registry(engine).label(name, label_name, version, force=force)
    was = f" (was v{move.previous})" if move.previous is not None else ""
    forced = " [forced]" if move.forced else ""
    typer.echo(f"{name}: {move.label} -> v{move.version}{was}{forced}")


@app.command("rollback")
def rollback(
    name: Annotated[str, typer.Argument(help="The prompt.")],
    label_name: Annotated[
        str, typer.Option("--label", help="The label to move back.")
    ] = "production",
    config: ConfigOption = None,
) -> None:
    """Move a label back to the version it pointed at before its last move."""
    with database_session(config) as engine:
        move = _registry(engine).rollback(name, label=label_name)
    typer.echo(f"{name}: {move.label} -> v{move.version} (was v{move.previous})")


def _registry(engine: Engine) -> PromptRegistry:
    from steward.prompts.registry import PromptRegistry

    actor_id, actor = cli_actor()
    return PromptRegistry(engine, actor_id=actor_id, actor=actor)


def _stored(engine: Engine, ref: str) -> StoredPrompt:
    from steward.prompts.refs import parse_prompt_ref
    from steward.storage import prompts as store

    parsed = parse_prompt_ref(ref)
    version = store.resolve_version(engine, parsed.name, version=parsed.version, label=parsed.label)
    return store.get_version(engine, parsed.name, version)
