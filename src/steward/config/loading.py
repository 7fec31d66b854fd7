"""Load configuration: defaults < steward.toml < STEWARD_* environment < CLI flags."""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from steward.config.schema import (
    AnthropicProviderConfig,
    LocalProviderConfig,
    ModelConfig,
    OpenAIProviderConfig,
    StewardConfig,
)
from steward.errors import ConfigError

ENV_PREFIX = "STEWARD_"
ENV_SEPARATOR = "__"


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    config: StewardConfig
    path: Path | None
    base_dir: Path

    @property
    def source(self) -> str:
        return str(self.path) if self.path else "defaults"


def load_config(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> LoadedConfig:
    """Read, merge and validate configuration; raise ConfigError naming file, key and a fix."""
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    if path is not None:
        data = _read_toml(path)
    source = str(path) if path else "defaults"
    for key_path, value in _env_overrides(environ):
        _set_path(data, key_path, value)
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_path(data, tuple(dotted.split(".")), value)
    try:
        config = StewardConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None
    base_dir = path.resolve().parent if path else Path.cwd()
    return LoadedConfig(config=config, path=path, base_dir=base_dir)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file; run `steward init` to write a starter config"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _env_overrides(environ: Mapping[str, str]) -> list[tuple[tuple[str, ...], Any]]:
    found = []
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or ENV_SEPARATOR not in name:
            continue
        parts = tuple(p.lower() for p in name[len(ENV_PREFIX) :].split(ENV_SEPARATOR))
        found.append((parts, _parse_env_value(raw)))
    return found


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _set_path(data: dict[str, Any], parts: tuple[str, ...], value: Any) -> None:
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {'.'.join(parts)}: {part} is not a table")
        node = child
    node[parts[-1]] = value


def _describe(exc: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid configuration"]
    for error in exc.errors():
        loc = [str(p) for p in error["loc"]]
        shown = _display_loc(loc)
        if error["type"] == "extra_forbidden":
            lines.append(f"  {shown}: unknown key{_hint(loc)}")
        else:
            lines.append(f"  {shown or '(top level)'}: {error['msg']}")
    return "\n".join(lines)


def _display_loc(loc: list[str]) -> str:
    """Drop the provider-type tag pydantic inserts: providers.NAME.openai.x -> providers.NAME.x."""
    if len(loc) >= 3 and loc[0] == "providers" and loc[2] in _PROVIDER_TYPES:
        loc = loc[:2] + loc[3:]
    return ".".join(loc)


def _hint(loc: list[str]) -> str:
    """Suggest the closest known key for a misspelt one, and list the allowed keys."""
    model = _model_at(loc[:-1])
    if model is None:
        return ""
    fields = list(model.model_fields)
    close = difflib.get_close_matches(loc[-1], fields, n=1)
    suggestion = f"; did you mean '{close[0]}'?" if close else ""
    return f"{suggestion} (allowed: {', '.join(fields)})"


def _model_at(parents: list[str]) -> type[BaseModel] | None:
    if parents[:1] == ["providers"]:
        if len(parents) < 3:
            return None
        model: type[BaseModel] | None = _PROVIDER_TYPES.get(parents[2])
        parents = parents[3:]
    elif parents[:1] == ["models"]:
        model, parents = ModelConfig, parents[2:]
    else:
        model = StewardConfig
    for part in parents:
        annotation = (
            model.model_fields[part].annotation if model and part in model.model_fields else None
        )
        model = (
            annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel)
            else None
        )
    return model


_PROVIDER_TYPES: dict[str, type[BaseModel]] = {
    "openai": OpenAIProviderConfig,
    "anthropic": AnthropicProviderConfig,
    "local": LocalProviderConfig,
}
