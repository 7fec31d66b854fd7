"""Anthropic wire routes of the fake provider: the Messages API, plain and streamed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .faults import (
    Call,
    EventStream,
    JsonObject,
    anthropic_error,
    call_of,
    count_words,
    halves,
    last_user_text,
    split_words,
    sse,
    text_of,
)

_BROKEN_EVENT = b'event: content_block_delta\ndata: {"type": "content_block_delta", "delta": {\n\n'


def routes(api_key: str) -> list[BaseRoute]:
    return [Route("/v1/messages", partial(messages, api_key=api_key), methods=["POST"])]


def _authorized(request: Request, api_key: str) -> bool:
    """Anthropic takes the key as `x-api-key`; recent SDKs send it as a bearer token instead."""
    headers = request.headers
    return (
        headers.get("x-api-key") == api_key or headers.get("authorization") == f"Bearer {api_key}"
    )


@dataclass(frozen=True, slots=True)
class _Message:
    """One planned reply: text, or a `tool_use` of `tool` with `{"query": query}`."""

    id: str
    model: str
    text: str
    tool: str | None
    tool_use_id: str
    query: str
    input_tokens: int

    @property
    def tool_input(self) -> JsonObject:
        return {"query": self.query}

    @property
    def stop_reason(self) -> str:
        return "end_turn" if self.tool is None else "tool_use"

    @property
    def output_tokens(self) -> int:
        return count_words([self.text if self.tool is None else json.dumps(self.tool_input)])

    def block(self) -> JsonObject:
        if self.tool is None:
            return {"type": "text", "text": self.text}
        return {
            "type": "tool_use",
            "id": self.tool_use_id,
            "name": self.tool,
            "input": self.tool_input,
        }

    def envelope(self) -> JsonObject:
        return {"id": self.id, "type": "message", "role": "assistant", "model": self.model}


async def messages(request: Request, *, api_key: str) -> Response:
    if not _authorized(request, api_key):
        return anthropic_error(401, "invalid x-api-key")
    if "anthropic-version" not in request.headers:
        return anthropic_error(400, "anthropic-version: header is required")
    call = call_of(request)
    if "max_tokens" not in call.body:
        return anthropic_error(400, "max_tokens: Field required")
    history = call.body.get("messages")
    if not isinstance(history, list) or not history:
        return anthropic_error(400, "messages: Field required")
    message = _plan(call, history)
    if call.streaming:
        return EventStream(_events(message), call, broken=_BROKEN_EVENT)
    usage = {"input_tokens": message.input_tokens, "output_tokens": message.output_tokens}
    return JSONResponse(
        {
            **message.envelope(),
            "content": [message.block()],
            "stop_reason": message.stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }
    )


def _plan(call: Call, history: list[Any]) -> _Message:
    user_text = last_user_text(history)
    names = _tool_names(call.body.get("tools"))
    forced, disabled = _tool_choice(call.body.get("tool_choice"), names)
    tool = call.tool_to_call(names, user_text=user_text, forced=forced, disabled=disabled)
    texts = [text_of(call.body.get("system"))]
    texts += [text_of(m.get("content")) for m in history if isinstance(m, dict)]
    return _Message(
        id=f"msg_fake{call.seq:06d}",
        model=str(call.body.get("model", "fake-claude")),
        text=call.reply_text(user_text),
        tool=tool,
        tool_use_id=f"toolu_fake{call.seq:06d}",
        query=user_text,
        input_tokens=count_words(texts),
    )


def _tool_names(tools: object) -> list[str]:
    if not isinstance(tools, list):
        return []
    return [t["name"] for t in tools if isinstance(t, dict) and isinstance(t.get("name"), str)]


def _tool_choice(choice: object, names: list[str]) -> tuple[str | None, bool]:
    """(the tool the choice forces, whether it forbids tools)."""
    if not isinstance(choice, dict):
        return None, False
    kind = choice.get("type")
    if kind == "none":
        return None, True
    if kind == "any":
        return (names[0] if names else None), False
    if kind == "tool" and isinstance(name := choice.get("name"), str):
        return name, False
    return None, False


def _events(m: _Message) -> list[bytes]:
    if m.tool is None:
        block: JsonObject = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": word} for word in split_words(m.text)]
    else:
        block = {"type": "tool_use", "id": m.tool_use_id, "name": m.tool, "input": {}}
        pieces = halves(json.dumps(m.tool_input))
        deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in pieces]
    start = {
        **m.envelope(),
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": m.input_tokens, "output_tokens": 1},
    }
    finish = {"stop_reason": m.stop_reason, "stop_sequence": None}
    payloads: list[JsonObject] = [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": block},
        {"type": "ping"},
        *({"type": "content_block_delta", "index": 0, "delta": delta} for delta in deltas),
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": finish, "usage": {"output_tokens": m.output_tokens}},
        {"type": "message_stop"},
    ]
    return [sse(payload, named=True) for payload in payloads]
