"""Dataset files and refs: the item JSON format, JSONL and CSV in and out, corrections, `name@3`."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Final, Literal, TypeAlias

import orjson

from steward.errors import InvalidRequestError
from steward.evals.results import Item
from steward.types import JSONObject

__all__ = [
    "FORMATS",
    "MAX_ID_LENGTH",
    "MAX_NAME_LENGTH",
    "Format",
    "apply_corrections",
    "check_name",
    "content_id",
    "file_format",
    "item_body",
    "item_from_body",
    "item_from_json",
    "item_to_json",
    "parse_corrections",
    "parse_csv",
    "parse_jsonl",
    "parse_ref",
    "read_items",
    "render",
    "render_csv",
    "render_jsonl",
]

Format: TypeAlias = Literal["jsonl", "csv"]
FORMATS: Final = ("jsonl", "csv")
MAX_NAME_LENGTH: Final = 200
MAX_ID_LENGTH: Final = 200
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_VERSION = re.compile(r"[1-9][0-9]*")
_ITEM_KEYS = ("id", "variables", "messages", "expected", "tags")
_CSV_FIXED = ("id", "expected", "tags", "messages")
_MAX_SHOWN = 20


class _Invalid(ValueError):
    """One item's problem; the parser adds where it is."""


class _Problems:
    """Every problem of one file, raised together so one edit fixes them all."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: list[str] = []

    def add(self, line: int, message: str) -> None:
        self.lines.append(f"line {line}: {message}")

    def raise_any(self) -> None:
        if len(self.lines) == 1:
            raise InvalidRequestError(f"{self.source} {self.lines[0]}")
        if self.lines:
            shown = self.lines[:_MAX_SHOWN]
            more = len(self.lines) - len(shown)
            tail = f"\n  ... and {more} more" if more else ""
            body = "\n  ".join(shown)
            raise InvalidRequestError(f"{self.source}: {len(self.lines)} problems\n  {body}{tail}")


def check_name(name: str) -> str:
    """The dataset name, if it is one: letters, digits, `.`, `_` and `-`, at most 200."""
    if len(name) > MAX_NAME_LENGTH or not _NAME.fullmatch(name):
        raise InvalidRequestError(
            f"{name!r} is not a dataset name: use letters, digits, '.', '_' and '-' "
            f"(at most {MAX_NAME_LENGTH}), starting with a letter or digit."
        )
    return name


def parse_ref(ref: str) -> tuple[str, int | None]:
    """`name@3` is version 3 of `name`; `name` (or `name@latest`) is None: the latest."""
    name, at, version = ref.partition("@")
    check_name(name)
    if not at or version == "latest":
        return name, None
    if not _VERSION.fullmatch(version):
        raise InvalidRequestError(
            f"{ref!r}: after '@' comes a version number from 1 (`{name}@3`); "
            f"write `{name}` for the latest."
        )
    return name, int(version)


def content_id(*, variables: Mapping[str, Any] | None = None, messages: Any = None) -> str:
    """The id of an item that has none: a hash of its input, so re-imports keep their ids."""
    content = {"variables": variables} if messages is None else {"messages": messages}
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def item_body(item: Item) -> JSONObject:
    """The stored body: `variables` or `messages`, then `expected` and `tags` when set."""
    body: JSONObject = {}
    if item.messages is not None:
        body["messages"] = [dict(m) for m in item.messages]
    else:
        body["variables"] = dict(item.variables or {})
    if item.expected is not None:
        body["expected"] = item.expected
    if item.tags:
        body["tags"] = list(item.tags)
    return body


def item_to_json(item: Item) -> JSONObject:
    """One JSONL line's object: the body with the id first."""
    return {"id": item.id, **item_body(item)}


def item_from_body(item_id: str, body: Mapping[str, Any]) -> Item:
    """An item from a stored body (validated when it was written)."""
    return Item(
        id=item_id,
        variables=body.get("variables"),
        messages=body.get("messages"),
        expected=body.get("expected"),
        tags=tuple(body.get("tags") or ()),
    )


def item_from_json(data: object) -> Item:
    """An item from a decoded JSONL object; InvalidRequestError says what is wrong with it."""
    try:
        return _decode(data)
    except _Invalid as exc:
        raise InvalidRequestError(str(exc)) from None


def _decode(data: object) -> Item:
    if not isinstance(data, dict):
        raise _Invalid(f"an item is a JSON object, not {_kind(data)}")
    unknown = [key for key in data if key not in _ITEM_KEYS]
    if unknown:
        raise _Invalid(
            f"unknown key {unknown[0]!r}; an item has `id`, `variables` or `messages`, "
            "`expected` and `tags`"
        )
    variables, messages = data.get("variables"), data.get("messages")
    if (variables is None) == (messages is None):
        raise _Invalid("an item has exactly one of `variables` (an object) and `messages` (a list)")
    if variables is not None and not isinstance(variables, dict):
        raise _Invalid(f"`variables` must be an object, not {_kind(variables)}")
    if messages is not None:
        _check_messages(messages)
    item_id = data.get("id")
    if item_id is None:
        item_id = content_id(variables=variables, messages=messages)
    elif not isinstance(item_id, str) or not item_id.strip() or len(item_id) > MAX_ID_LENGTH:
        raise _Invalid(f"`id` must be a non-empty string of at most {MAX_ID_LENGTH} characters")
    tags = _tags(data.get("tags"))
    return Item(item_id, variables, messages, data.get("expected"), tags)


def _check_messages(messages: object) -> None:
    if not isinstance(messages, list) or not messages:
        raise _Invalid("`messages` must be a non-empty list of chat messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise _Invalid(f'`messages[{i}]` must be an object with a "role", like a chat message')


def _tags(tags: object) -> tuple[str, ...]:
    if tags is None:
        return ()
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise _Invalid("`tags` must be a list of strings")
    for tag in tags:
        if not tag.strip() or ";" in tag:
            raise _Invalid(f"tag {tag!r}: a tag is non-empty and has no ';'")
    return tuple(tags)


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


class _Unique:
    """Rejects an id seen before, saying on which line (and whether it was generated)."""

    def __init__(self, problems: _Problems) -> None:
        self._lines: dict[str, int] = {}
        self._problems = problems

    def accept(self, item: Item, line: int, *, generated: bool) -> bool:
        first = self._lines.setdefault(item.id, line)
        if first == line:
            return True
        if generated:
            self._problems.add(
                line, f"the same input as line {first}; give one an `id` or remove it"
            )
        else:
            self._problems.add(line, f"id {item.id!r} is already on line {first}")
        return False


def parse_jsonl(text: str, *, source: str = "JSONL") -> list[Item]:
    """One item per line (blank lines skipped); every problem reported with its line number."""
    problems = _Problems(source)
    unique = _Unique(problems)
    items: list[Item] = []
    # Split on newlines only: JSON strings may hold U+2028, which str.splitlines splits on.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            data = orjson.loads(line)
            item = _decode(data)
        except orjson.JSONDecodeError as exc:
            problems.add(number, f"not JSON ({exc})")
            continue
        except _Invalid as exc:
            problems.add(number, str(exc))
            continue
        if unique.accept(item, number, generated="id" not in data):
            items.append(item)
    return _done(items, problems)


def parse_csv(text: str, *, source: str = "CSV") -> list[Item]:
    """A header row, then one item per row: `id`, `expected`, `tags` (`;`-separated) and either
    a `messages` column (JSON) or variable columns (every other column, as text)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    problems = _Problems(source)
    unique = _Unique(problems)
    items: list[Item] = []
    try:
        header = _header(next(reader, []), source)
        line = reader.line_num + 1
        for row in reader:
            parsed = _csv_item(header, row, line, problems) if row else None
            if parsed is not None and unique.accept(parsed[0], line, generated=not parsed[1]):
                items.append(parsed[0])
            line = reader.line_num + 1
    except csv.Error as exc:
        problems.add(reader.line_num, f"not CSV ({exc})")
    return _done(items, problems)


def _header(row: list[str], source: str) -> list[str]:
    names = [name.strip() for name in row]
    if not names:
        raise InvalidRequestError(f"{source} is empty; the first row names the columns")
    problems = [f"column {i + 1} has no name" for i, name in enumerate(names) if not name]
    problems += [f"column {name!r} appears twice" for name in sorted(_repeated(names))]
    variables = [n for n in names if n and n not in _CSV_FIXED]
    if "messages" in names and variables:
        problems.append(
            f"a `messages` column cannot go with variable columns ({', '.join(variables)})"
        )
    if "messages" not in names and not variables:
        problems.append("no input: add variable columns or a `messages` column")
    if problems:
        raise InvalidRequestError(f"{source} line 1: {'; '.join(problems)}")
    return names


def _repeated(names: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    repeated: set[str] = set()
    for name in names:
        (repeated if name in seen else seen).add(name)
    return repeated - {""}


def _csv_item(
    header: list[str], row: list[str], line: int, problems: _Problems
) -> tuple[Item, bool] | None:
    """The row's item and whether its id was given; None after adding the row's problem."""
    if len(row) != len(header):
        problems.add(line, f"{len(row)} cells, but the header has {len(header)} columns")
        return None
    cells = dict(zip(header, row, strict=True))
    data: JSONObject = {}
    if cells.get("id", "").strip():
        data["id"] = cells["id"].strip()
    if cells.get("expected"):
        data["expected"] = cells["expected"]
    data["tags"] = [t.strip() for t in cells.get("tags", "").split(";") if t.strip()]
    try:
        if "messages" in cells:
            data["messages"] = orjson.loads(cells["messages"])
        else:
            data["variables"] = {k: v for k, v in cells.items() if k not in _CSV_FIXED}
        return _decode(data), "id" in data
    except orjson.JSONDecodeError as exc:
        problems.add(line, f"the `messages` cell is not JSON ({exc})")
    except _Invalid as exc:
        problems.add(line, str(exc))
    return None


def _done(items: list[Item], problems: _Problems) -> list[Item]:
    problems.raise_any()
    if not items:
        raise InvalidRequestError(f"{problems.source} holds no items")
    return items


def render_jsonl(items: Iterable[Item]) -> str:
    return "".join(orjson.dumps(item_to_json(item)).decode() + "\n" for item in items)


def render_csv(items: Sequence[Item]) -> str:
    """CSV, refused (suggesting JSONL) for what CSV cannot hold exactly: non-text values, items
    whose variables differ, variables and messages mixed."""
    columns = _csv_columns(items)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", *columns, "expected", "tags"])
    for item in items:
        if not isinstance(item.expected, str | None):
            raise _not_csv(item, f"its expected output is {_kind(item.expected)}")
        if columns == ["messages"]:
            inputs = [orjson.dumps(list(item.messages or ())).decode()]
        else:
            inputs = [(item.variables or {})[name] for name in columns]
        writer.writerow([item.id, *inputs, item.expected or "", ";".join(item.tags)])
    return buffer.getvalue()


def _csv_columns(items: Sequence[Item]) -> list[str]:
    if all(item.messages is not None for item in items):
        return ["messages"]
    first = items[0] if items else Item("")
    names = list(first.variables or {})
    for item in items:
        if item.variables is None:
            raise _not_csv(item, "it has messages while others have variables")
        if list(item.variables) != names:
            raise _not_csv(item, f"its variables differ from {first.id!r}'s")
        for name, value in item.variables.items():
            if name in _CSV_FIXED:
                raise _not_csv(item, f"a variable is named {name!r}, a column CSV reserves")
            if not isinstance(value, str):
                raise _not_csv(item, f"variable {name!r} is {_kind(value)}, not text")
    return names


def _not_csv(item: Item, why: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"Cannot write item {item.id!r} as CSV: {why}; export with `--format jsonl`."
    )


def render(items: Sequence[Item], format: Format) -> str:
    return render_csv(items) if format == "csv" else render_jsonl(items)


def file_format(path: Path, explicit: str | None = None) -> Format:
    """`explicit` if given, else from the suffix (`.jsonl` or `.csv`)."""
    name = explicit or path.suffix.lower().lstrip(".")
    if name == "jsonl":
        return "jsonl"
    if name == "csv":
        return "csv"
    if explicit is not None:
        raise InvalidRequestError(f"Format {explicit!r} is not one of {', '.join(FORMATS)}.")
    raise InvalidRequestError(
        f"Cannot tell the format of {path}: name it .jsonl or .csv, or pass --format."
    )


def read_items(path: Path) -> list[Item]:
    """The items of a `.jsonl` or `.csv` file."""
    format = file_format(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidRequestError(f"{path} is not UTF-8 text.") from None
    except OSError as exc:
        raise InvalidRequestError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    if format == "csv":
        return parse_csv(text, source=str(path))
    return parse_jsonl(text, source=str(path))


def parse_corrections(text: str, *, source: str = "corrections") -> dict[str, Any]:
    """`{"id": ..., "expected": ...}` per line: the new expected output of each item."""
    problems = _Problems(source)
    corrections: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            problems.add(number, f"not JSON ({exc})")
            continue
        if not isinstance(data, dict) or set(data) != {"id", "expected"}:
            problems.add(number, 'a correction is {"id": ..., "expected": ...} and nothing else')
        elif not isinstance(data["id"], str) or not data["id"]:
            problems.add(number, "`id` must be a non-empty string")
        elif data["id"] in lines:
            problems.add(
                number, f"id {data['id']!r} is already corrected on line {lines[data['id']]}"
            )
        else:
            lines[data["id"]] = number
            corrections[data["id"]] = data["expected"]
    problems.raise_any()
    if not corrections:
        raise InvalidRequestError(f"{source} holds no corrections")
    return corrections


def apply_corrections(
    items: Sequence[Item], corrections: Mapping[str, Any], *, where: str
) -> tuple[list[Item], int]:
    """The items with their expected outputs replaced, and how many changed.

    Every id must be among the items (of `where`, named in the error).
    """
    known = {item.id for item in items}
    unknown = [item_id for item_id in corrections if item_id not in known]
    if unknown:
        shown = ", ".join(repr(i) for i in unknown[:_MAX_SHOWN])
        more = f" and {len(unknown) - _MAX_SHOWN} more" if len(unknown) > _MAX_SHOWN else ""
        raise InvalidRequestError(
            f"{len(unknown)} correction ids are not in {where}: {shown}{more}; "
            f"`steward datasets show {where}` lists its item ids."
        )
    corrected = [
        replace(item, expected=corrections[item.id]) if item.id in corrections else item
        for item in items
    ]
    changed = sum(
        1 for old, new in zip(items, corrected, strict=True) if old.expected != new.expected
    )
    return corrected, changed
