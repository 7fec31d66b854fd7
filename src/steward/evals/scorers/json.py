"""JSON scorers: the output parses as JSON, and it is valid against a JSON Schema (2020-12)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from steward.evals.results import Item, Score

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

__all__ = ["JsonSchemaScorer", "JsonScorer", "ParsedJson", "check_schema", "parse_json_output"]

_FENCE = re.compile(r"\A```[ \t]*(?:json|JSON)?[ \t]*\n(?P<body>.*?)\n?```\Z", re.DOTALL)
_ERRORS_SHOWN = 3
_JSON_TYPES: Mapping[type, str] = {
    dict: "object",
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


@dataclass(frozen=True, slots=True)
class ParsedJson:
    """A decoded document; `fenced` says the model wrapped it in a Markdown code fence."""

    value: Any
    fenced: bool


def parse_json_output(output: str) -> ParsedJson:
    """Decode an output that is JSON, or JSON inside one ```json fence spanning all of it.

    Raises ValueError (json.JSONDecodeError) when it is neither.
    """
    text = output.strip()
    fence = _FENCE.match(text)
    if fence is not None:
        return ParsedJson(json.loads(fence.group("body")), fenced=True)
    return ParsedJson(json.loads(text), fenced=False)


def _fence_note(parsed: ParsedJson) -> str:
    return " (inside a ```json fence)" if parsed.fenced else ""


@dataclass(frozen=True, slots=True)
class JsonScorer:
    """The output is one JSON document. A Markdown fence around it is tolerated and noted."""

    name: str = "json"

    async def score(self, output: str, item: Item) -> Score:
        try:
            parsed = parse_json_output(output)
        except ValueError as exc:
            return Score(value=0.0, passed=False, detail=f"not JSON: {exc}")
        kind = _JSON_TYPES.get(type(parsed.value), "value")
        return Score(value=1.0, passed=True, detail=f"valid JSON {kind}{_fence_note(parsed)}")


def check_schema(schema: object) -> Validator:
    """A Draft 2020-12 validator for `schema`; ValueError saying what is wrong if it is not one."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    if not isinstance(schema, Mapping | bool):
        raise ValueError(f"a JSON schema is an object or a boolean, not {type(schema).__name__}")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ValueError(
            f"invalid JSON schema at {_path(exc.absolute_path)}: {exc.message}"
        ) from exc
    validator: Validator = Draft202012Validator(schema)
    return validator


def _path(parts: Iterable[str | int]) -> str:
    """A JSON path such as `$.items[2].name`; `$` is the document itself."""
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _validation_errors(validator: Validator, document: object) -> list[str]:
    errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    shown = [f"{_path(e.absolute_path)}: {e.message}" for e in errors[:_ERRORS_SHOWN]]
    if len(errors) > _ERRORS_SHOWN:
        shown.append(f"and {len(errors) - _ERRORS_SHOWN} more")
    return shown


@dataclass(frozen=True, slots=True)
class JsonSchemaScorer:
    """The output is JSON valid against a schema; the detail names the first failing paths.

    The schema is fixed when the spec gives one (`json_schema:PATH` or inline
    `json_schema:{...}`), else per item from `item.expected["schema"]`, so that an item's
    expected JSON answer is never mistaken for a schema.
    """

    name: str = "json_schema"
    validator: Validator | None = field(default=None, repr=False)

    async def score(self, output: str, item: Item) -> Score:
        validator = self.validator
        if validator is None:
            found = _item_validator(item)
            if isinstance(found, Score):
                return found
            validator = found
        try:
            parsed = parse_json_output(output)
        except ValueError as exc:
            return Score(value=0.0, passed=False, detail=f"not JSON: {exc}")
        errors = _validation_errors(validator, parsed.value)
        if errors:
            return Score(value=0.0, passed=False, detail="; ".join(errors) + _fence_note(parsed))
        return Score(
            value=1.0, passed=True, detail=f"valid against the schema{_fence_note(parsed)}"
        )


def _item_validator(item: Item) -> Validator | Score:
    expected = item.expected
    if not isinstance(expected, Mapping) or "schema" not in expected:
        detail = f"item {item.id!r} has no schema: give json_schema:PATH or expected.schema"
        return Score(value=0.0, passed=False, detail=detail)
    try:
        return check_schema(expected["schema"])
    except ValueError as exc:
        return Score(value=0.0, passed=False, detail=f"item {item.id!r}: {exc}")
