"""Checking an answer against the JSON Schema it owes: from the model's config or the request.

A model's `schema` (or `schema_file`) wins over the request's `response_format`, since it is the
operator's contract; without one, `response_format` `json_schema` gives the schema and
`json_object` asks only for a JSON object. Validation is Draft 2020-12 (`jsonschema`); an answer
that does not parse or validate is repaired first (`repair.py`) when repair is on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError

from steward.config.guards_output import OutputGuardsConfig
from steward.errors import ConfigError
from steward.guards.output.repair import repair_json
from steward.types import JSONObject

__all__ = ["ANY_OBJECT", "SchemaCheck", "SchemaOutcome", "load_schema", "schema_for"]

ANY_OBJECT: JSONObject = {"type": "object"}
"""What `response_format: json_object` asks for."""
_MAX_ERRORS = 5


@dataclass(frozen=True, slots=True)
class SchemaOutcome:
    """The answer checked: `text` is what to return (repaired if `fixes`), `errors` why not."""

    text: str
    errors: tuple[str, ...] = ()
    fixes: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        return not self.errors


class SchemaCheck:
    """One compiled schema; `check` is pure CPU (call it off the loop for large answers)."""

    def __init__(self, schema: JSONObject, *, repair: bool = True) -> None:
        self._validator = Draft202012Validator(schema)
        self._repair = repair

    def check(self, text: str) -> SchemaOutcome:
        value, clean, fixes = _parse(text, repair=self._repair)
        if clean is None:
            return SchemaOutcome(text, ("$: the answer is not JSON",))
        return SchemaOutcome(clean if fixes else text, self._errors(value), fixes)

    def _errors(self, value: object) -> tuple[str, ...]:
        found = sorted(self._validator.iter_errors(value), key=_order)[:_MAX_ERRORS]
        return tuple(f"{error.json_path}: {error.message}" for error in found)


def _parse(text: str, *, repair: bool) -> tuple[object, str | None, tuple[str, ...]]:
    """(value, the JSON text, fixes); the text is None when the answer is not JSON."""
    if not repair:
        try:
            return orjson.loads(text), text, ()
        except orjson.JSONDecodeError:
            return None, None, ()
    repaired = repair_json(text)
    if repaired is None:
        return None, None, ()
    return repaired.value, repaired.text, repaired.fixes


def _order(error: ValidationError) -> tuple[int, str]:
    return (len(error.absolute_path), error.json_path)


def load_schema(config: OutputGuardsConfig, base_dir: Path, model: str) -> JSONObject | None:
    """The model's own schema, from the inline table or the file; ConfigError if unusable."""
    if config.output_schema is not None:
        return config.output_schema
    if config.schema_file is None:
        return None
    path = Path(config.schema_file)
    path = path if path.is_absolute() else base_dir / path
    where = f"models.{model}.guards.output.schema_file"
    try:
        schema: Any = orjson.loads(path.read_bytes())
        Draft202012Validator.check_schema(schema)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read {path}: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{where}: {path} is not JSON: {exc}") from None
    except SchemaError as exc:
        raise ConfigError(f"{where}: {path} is not a JSON Schema: {exc.message}") from None
    if not isinstance(schema, dict):
        raise ConfigError(f"{where}: {path} must hold a JSON object")
    return schema


def schema_for(response_format: Mapping[str, Any] | None) -> JSONObject | None:
    """The schema a request's `response_format` asks for, or None (text, or absent)."""
    if not response_format:
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return ANY_OBJECT
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return schema if isinstance(schema, dict) else ANY_OBJECT
    return None
