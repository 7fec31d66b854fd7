"""`steward datasets ...`: versioned evaluation datasets, imported, exported, sampled, corrected."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from steward.cli.common import ConfigOption, cli_actor, database_session, fail, load

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.engine import Engine

    from steward.evals.from_records import RecordSample
    from steward.evals.results import Item
    from steward.payloads.keys import PayloadKeyring
    from steward.storage.datasets import DatasetVersion

app = typer.Typer(
    help="Versioned evaluation datasets: import, export, sample from records, correct.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="The dataset's name.", show_default=False)]
RefArg = Annotated[
    str, typer.Argument(help="NAME (the latest version) or NAME@VERSION.", show_default=False)
]
NoteOption = Annotated[
    str | None, typer.Option("--note", help="Why this version exists (default: what made it).")
]
AppendOption = Annotated[
    bool, typer.Option("--append", help="Add to the latest version's items instead of replacing.")
]


@app.command("list")
def list_(
    name: Annotated[
        str | None, typer.Argument(help="Show this dataset's versions.", show_default=False)
    ] = None,
    config: ConfigOption = None,
) -> None:
    """List datasets (their latest versions), or every version of one."""
    from steward.storage import datasets as store

    with database_session(config) as engine:
        rows = store.list_datasets(engine) if name is None else store.list_versions(engine, name)
    if not rows:
        typer.echo("no datasets yet; `steward datasets import NAME FILE` creates one")
        return
    header = ("dataset", "items", "created", "by", "note")
    table = [header, *[_version_row(v) for v in rows]]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        typer.echo("  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]))


def _version_row(v: DatasetVersion) -> tuple[str, str, str, str, str]:
    created = v.created_at.strftime("%Y-%m-%d %H:%M")
    return (v.ref, str(v.item_count), created, v.created_by, v.note or "")


@app.command("show")
def show(
    ref: RefArg,
    limit: Annotated[int, typer.Option(help="Show at most this many items.", min=1)] = 20,
    config: ConfigOption = None,
) -> None:
    """Show a version and its first items: id, input, expected output, tags."""
    from steward.evals.datasets import parse_ref
    from steward.storage import datasets as store

    with database_session(config) as engine:
        name, number = parse_ref(ref)
        version = store.get_version(engine, name, number)
        items = store.get_items(engine, name, version.version, limit=limit)
    typer.echo(f"{version.ref}: {version.item_count} items")
    typer.echo(
        f"created {version.created_at.isoformat(timespec='seconds')} by {version.created_by}"
    )
    if version.note:
        typer.echo(f"note: {version.note}")
    for item in items:
        typer.echo(_item_line(item))
    if version.item_count > len(items):
        typer.echo(f"... and {version.item_count - len(items)} more (--limit)")


def _item_line(item: Item) -> str:
    import orjson

    def short(value: object, width: int) -> str:
        text = value if isinstance(value, str) else orjson.dumps(value).decode()
        text = text.replace("\r", "\\r").replace("\n", "\\n")  # one line per item
        return text if len(text) <= width else text[: width - 3] + "..."

    kind, value = ("messages", item.messages) if item.messages is not None else ("", item.variables)
    line = f"{item.id}  {kind}{' ' if kind else ''}{short(value, 70)}"
    if item.expected is not None:
        line += f"  -> {short(item.expected, 50)}"
    return line + (f"  [{';'.join(item.tags)}]" if item.tags else "")


@app.command("import")
def import_(
    name: NameArg,
    file: Annotated[Path, typer.Argument(help="A .jsonl or .csv file.", show_default=False)],
    note: NoteOption = None,
    append: AppendOption = False,
    config: ConfigOption = None,
) -> None:
    """Import FILE as the dataset's next version (its first, for a new name)."""
    from steward.evals.datasets import check_name, read_items

    with database_session(config) as engine:
        check_name(name)
        items = read_items(file)
        default = f"{'append' if append else 'import'} {file.name}"
        created, kept = _write(engine, name, items, note or default, append=append)
    added = f" ({kept} kept, {len(items)} added)" if append else ""
    typer.echo(f"{created.ref}: {created.item_count} items{added} from {file}")


def _write(
    engine: Engine, name: str, items: list[Item], note: str, *, append: bool
) -> tuple[DatasetVersion, int]:
    """Write the next version: `items`, or with `append` the latest's items and then `items`."""
    from steward.errors import InvalidRequestError, NotFoundError
    from steward.storage import datasets as store

    try:
        parent = store.latest_version(engine, name).version
    except NotFoundError:
        parent = 0
    old = store.get_items(engine, name, parent) if append and parent else []
    clash = {i.id for i in old} & {i.id for i in items}
    if clash:
        raise InvalidRequestError(
            f"{len(clash)} items are already in {name}@{parent}: "
            f"{', '.join(sorted(clash)[:10])}; leave them out, or change expected outputs "
            f"with `steward datasets correct {name} FILE`."
        )
    created = store.create_version(
        engine,
        name,
        [*old, *items],
        note=note,
        created_by=cli_actor()[0],
        parent=parent if append else None,
    )
    return created, len(old)


@app.command("export")
def export(
    ref: RefArg,
    file: Annotated[
        Path, typer.Argument(help="The file to write; - for standard output.", show_default=False)
    ],
    format: Annotated[
        str | None,
        typer.Option("--format", help="jsonl or csv (default: from FILE's suffix, else jsonl)."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Write a version's items to FILE as JSON Lines or CSV."""
    from steward.evals.datasets import file_format, parse_ref, render
    from steward.storage import datasets as store

    to_stdout = str(file) == "-"
    with database_session(config) as engine:
        name, number = parse_ref(ref)
        version = store.get_version(engine, name, number)
        items = store.get_items(engine, name, version.version)
        text = render(items, file_format(file, format or ("jsonl" if to_stdout else None)))
        if to_stdout:
            typer.echo(text, nl=False)
            return
        try:
            file.write_text(text, encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {file}: {exc.strerror or exc}")
    typer.echo(f"{version.ref}: {len(items)} items written to {file}")


@app.command("sample")
def sample(
    name: NameArg,
    model: Annotated[str, typer.Option("--model", help="The public model of the records.")],
    count: Annotated[int, typer.Option("--count", help="Items to draw.", min=1)],
    since: Annotated[
        str | None, typer.Option(help="From this date or ISO time (UTC unless it says).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Before this date or ISO time.")] = None,
    team: Annotated[str | None, typer.Option(help="Only records of this team id.")] = None,
    user: Annotated[str | None, typer.Option(help="Only records of this end user.")] = None,
    prompt: Annotated[str | None, typer.Option(help="Only records served by this prompt.")] = None,
    status: Annotated[str, typer.Option(help="Status: exact (200) or a class (2xx).")] = "200",
    seed: Annotated[int | None, typer.Option(help="Seed of the draw (default: random).")] = None,
    note: NoteOption = None,
    append: AppendOption = False,
    config: ConfigOption = None,
) -> None:
    """Draw --count records at random; their captured calls become the next version."""
    from steward.evals.datasets import check_name
    from steward.evals.from_records import sample_records
    from steward.storage import datasets as store

    keyring = _keyring(config)
    with database_session(config) as engine:
        check_name(name)
        where = store.RecordFilter(
            public_model=model,
            since=_instant(since, "--since"),
            until=_instant(until, "--until"),
            status=status,
            team_id=team,
            user=user,
            prompt_name=prompt,
        )
        taken = _taken(engine, name) if append else set()
        drawn = sample_records(engine, keyring, where, count=count, seed=seed, taken=taken)
        if not drawn.items:
            fail(_nothing_drawn(drawn.matched, model, _skipped(drawn, model)))
        default = f"sample of {len(drawn.items)} {model} records, seed {drawn.seed}"
        created, _ = _write(engine, name, list(drawn.items), note or default, append=append)
    for line in _sampled(created, drawn, model, count):
        typer.echo(line)


def _sampled(created: DatasetVersion, drawn: RecordSample, model: str, count: int) -> list[str]:
    lines = [
        f"{created.ref}: {len(drawn.items)} items sampled from {drawn.matched} matching records "
        f"(seed {drawn.seed})"
    ]
    skipped = _skipped(drawn, model)
    if skipped:
        lines.append(f"skipped: {'; '.join(skipped)}")
    if len(drawn.items) < count:
        lines.append(f"only {len(drawn.items)} of the {count} asked for: no more usable records")
    return lines


def _taken(engine: Engine, name: str) -> set[str]:
    from steward.errors import NotFoundError
    from steward.storage import datasets as store

    try:
        return {item.id for item in store.get_items(engine, name)}
    except NotFoundError:
        return set()


def _skipped(drawn: RecordSample, model: str) -> list[str]:
    """What was passed over, for the output; records without a payload say how to get them."""
    parts = []
    if drawn.uncaptured:
        parts.append(
            f"{drawn.uncaptured} records without a captured payload (set [models.{model}] "
            'capture = "redacted" or "full" to capture new ones)'
        )
    if drawn.unreadable:
        parts.append(
            f"{drawn.unreadable} payloads not decryptable (see [payloads] encryption_keys)"
        )
    if drawn.unusable:
        parts.append(f"{drawn.unusable} payloads without chat messages")
    if drawn.duplicates:
        parts.append(f"{drawn.duplicates} repeating an input already taken")
    return parts


def _nothing_drawn(matched: int, model: str, skipped: list[str]) -> str:
    if not matched:
        return (
            f"no chat records of model {model!r} match; check --model, --since, --until, "
            "--team, --user, --prompt and --status (default 200)"
        )
    return f"nothing to sample: {matched} records matched; " + "; ".join(skipped)


def _keyring(config: Path | None) -> PayloadKeyring | None:
    from steward.errors import ConfigError
    from steward.payloads.keys import PayloadKeyring

    try:
        return PayloadKeyring.from_config(load(config).config.payloads)
    except ConfigError as exc:
        typer.echo(f"warning: {exc.message}; encrypted payloads are skipped", err=True)
        return None


def _instant(raw: str | None, option: str) -> datetime | None:
    from datetime import UTC, datetime

    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        fail(f"{option} must be a date (2026-12-01) or an ISO time (2026-12-01T09:30:00Z)")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@app.command("correct")
def correct(
    name: NameArg,
    file: Annotated[
        Path, typer.Argument(help='JSON Lines of {"id": ..., "expected": ...}.', show_default=False)
    ],
    note: NoteOption = None,
    config: ConfigOption = None,
) -> None:
    """Replace the expected outputs of the items FILE names, as the dataset's next version."""
    from steward.evals.datasets import apply_corrections, check_name, parse_corrections
    from steward.storage import datasets as store

    with database_session(config) as engine:
        check_name(name)
        corrections = parse_corrections(_read(file), source=str(file))
        latest = store.latest_version(engine, name)
        items = store.get_items(engine, name, latest.version)
        corrected, changed = apply_corrections(items, corrections, where=latest.ref)
        if not changed:
            typer.echo(f"no changes: {latest.ref} already has these expected outputs")
            return
        created = store.create_version(
            engine,
            name,
            corrected,
            note=note or f"{changed} corrections from {file.name}",
            created_by=cli_actor()[0],
            parent=latest.version,
        )
    typer.echo(f"{created.ref}: {changed} expected outputs corrected, of {len(items)} items")


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        fail(f"{file} is not UTF-8 text")
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")
