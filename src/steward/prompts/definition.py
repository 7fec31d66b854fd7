"""A prompt's definition: messages template, variables schema, model, parameters and output
schema; read from `prompts/*.toml` files and stored whole, as canonical JSON, in each version."""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from steward.errors import ConfigError

__all__ = ["NAME_PATTERN", "PromptDefinition", "PromptMessage", "load_directory", "load_file"]

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
"""Prompt names: lowercase letters, digits, `.`, `_` and `-`; no `@` or `:`, which refs use."""


class PromptMessage(BaseModel):
    """One templated chat message; `content` is a Jinja2 template over the variables."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["system", "developer", "user", "assistant"]
    content: str


class PromptDefinition(BaseModel):
    """Everything one prompt version is. Two definitions with the same canonical JSON are the
    same version: pushing an unchanged file creates nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    model: str = Field(min_length=1)
    """The public model (a `[models.NAME]`) the prompt is sent to."""
    messages: list[PromptMessage] = Field(min_length=1)
    description: str = ""
    variables: dict[str, Any] | None = None
    """A JSON schema (an object schema) the request's variables must satisfy."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Request parameters (temperature, max_tokens, ...), defaults the request may override."""
    output_schema: dict[str, Any] | None = None
    """A JSON schema the answer must satisfy; sent upstream as `response_format`."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_PATTERN.match(value):
            raise ValueError(
                "use lowercase letters, digits, '.', '_' and '-' (at most 100), "
                "starting with a letter or digit"
            )
        return value

    @field_validator("params")
    @classmethod
    def _params(cls, value: dict[str, Any]) -> dict[str, Any]:
        reserved = sorted({"model", "messages", "stream", "variables"} & set(value))
        if reserved:
            raise ValueError(f"{', '.join(reserved)} cannot be a prompt parameter")
        return value

    def canonical_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)

    def digest(self) -> str:
        return hashlib.sha256(self.canonical_json()).hexdigest()

    def to_toml(self) -> str:
        """A readable rendering for `steward prompts show` and `diff` (stable key order)."""
        return _toml(self.model_dump(mode="json", exclude_defaults=True))

    @classmethod
    def from_json(cls, text: str | bytes) -> PromptDefinition:
        return cls.model_validate(orjson.loads(text))


def load_file(path: Path) -> PromptDefinition:
    """Read one `prompts/NAME.toml`; `name` defaults to the file's stem. Errors name the file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}).") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror}).") from None
    data.setdefault("name", path.stem)
    try:
        return PromptDefinition.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigError(f"{path}: '{where}': {first['msg']}.") from None


def load_directory(directory: Path) -> list[PromptDefinition]:
    """Every `*.toml` in `directory`, sorted by name; duplicate names are an error."""
    if not directory.is_dir():
        raise ConfigError(f"{directory} is not a directory of prompt files (*.toml).")
    found: dict[str, Path] = {}
    definitions = []
    for path in sorted(directory.glob("*.toml")):
        definition = load_file(path)
        if definition.name in found:
            raise ConfigError(
                f"{path} and {found[definition.name]} both define prompt {definition.name!r}."
            )
        found[definition.name] = path
        definitions.append(definition)
    return definitions


def _toml(data: dict[str, Any]) -> str:
    """TOML for a prompt definition: scalars first, then tables, then `[[messages]]`."""
    lines: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    for key in sorted(data):
        value = data[key]
        if key == "messages":
            continue
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(f"{key} = {_value(value)}")
    for key, table in tables:
        lines += ["", f"[{key}]"]
        lines += [f"{_key(k)} = {_value(v)}" for k, v in sorted(table.items())]
    for message in data.get("messages", []):
        lines += ["", "[[messages]]", f"role = {_value(message['role'])}"]
        lines.append(f"content = {_value(message['content'])}")
    return "\n".join(lines) + "\n"


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _value(key)


def _value(value: Any) -> str:
    if isinstance(value, str) and "\n" in value and "'''" not in value:
        return "'''\n" + value + "'''"
    # JSON strings, numbers and booleans are valid TOML; objects become inline tables. TOML has
    # no null: this rendering is for reading and diffing, the stored version is JSON.
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if value is None:
        return '""'
    return orjson.dumps(value).decode()
