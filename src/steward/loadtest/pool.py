"""The requests a load test cycles through: one prompt, or a pool read from a JSONL file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from steward.errors import ConfigError
from steward.types import JSONObject

__all__ = ["DEFAULT_PROMPT", "from_jsonl", "from_prompt"]

DEFAULT_PROMPT = "Say hello in one short sentence."


def from_prompt(model: str, prompt: str, *, max_tokens: int | None) -> list[JSONObject]:
    """A pool of one request: `prompt` as the only user message."""
    return [_body(model, {"messages": [{"role": "user", "content": prompt}]}, max_tokens)]


def from_jsonl(path: Path, model: str, *, max_tokens: int | None) -> list[JSONObject]:
    """One request per non-blank line: a chat body with `messages` (its other fields, such as
    `temperature`, are kept; `model` is replaced) or a bare array of messages."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the messages file: {exc.strerror}") from None
    pool = [
        _body(model, _request(path, number, line), max_tokens)
        for number, line in enumerate(lines, start=1)
        if line.strip()
    ]
    if not pool:
        raise ConfigError(f"{path}: no requests; write one JSON object per line")
    return pool


def _request(path: Path, number: int, line: str) -> JSONObject:
    try:
        data: Any = json.loads(line)
    except ValueError as exc:
        raise ConfigError(f"{path}:{number}: not valid JSON: {exc}") from None
    if isinstance(data, list):
        data = {"messages": data}
    messages = data.get("messages") if isinstance(data, dict) else None
    if not isinstance(messages, list) or not messages:
        raise ConfigError(
            f"{path}:{number}: expected an object with a non-empty `messages` array, "
            'or an array of messages, e.g. [{"role": "user", "content": "Hi"}]'
        )
    if not all(isinstance(m, dict) and "role" in m for m in messages):
        raise ConfigError(f"{path}:{number}: every message needs a `role`")
    return dict(data)


def _body(model: str, request: JSONObject, max_tokens: int | None) -> JSONObject:
    body = {key: value for key, value in request.items() if key not in ("stream", "model")}
    body.pop("stream_options", None)
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    return {"model": model, **body}
