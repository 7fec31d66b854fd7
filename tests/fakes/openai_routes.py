"""OpenAI wire routes of the fake provider: chat completions, embeddings and the model list."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import struct
import time
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
    call_of,
    count_words,
    halves,
    last_user_text,
    openai_error,
    split_words,
    sse,
    text_of,
)

MODELS = ("fake-gpt", "fake-gpt-mini", "fake-embedding")
EMBEDDING_DIMS = 8
_BROKEN_CHUNK = (
    b'data: {"id": "chatcmpl-broken", "object": "chat.completion.chunk", "choices": [\n\n'
)


def routes(api_key: str) -> list[BaseRoute]:
    return [
        Route("/v1/chat/completions", partial(chat_completions, api_key=api_key), methods=["POST"]),
        Route("/v1/embeddings", partial(embeddings, api_key=api_key), methods=["POST"]),
        Route("/v1/models", partial(models, api_key=api_key), methods=["GET"]),
    ]


def fake_embedding(text: str, dims: int = EMBEDDING_DIMS) -> list[float]:
    """The fake's deterministic unit vector for `text`, derived from a hash of it."""
    digest = hashlib.shake_256(text.encode()).digest(2 * dims)
    raw = [
        int.from_bytes(digest[i : i + 2], "little") / 32767.5 - 1.0 for i in range(0, 2 * dims, 2)
    ]
    norm = math.sqrt(sum(value * value for value in raw)) or 1.0
    return [value / norm for value in raw]


def _refusal(request: Request, api_key: str) -> Response | None:
    if request.headers.get("authorization") != f"Bearer {api_key}":
        return openai_error(401, "Incorrect API key provided.")
    return None


@dataclass(frozen=True, slots=True)
class _Completion:
    """One planned reply: text, or a call to `tool` with `arguments`."""

    id: str
    created: int
    model: str
    text: str
    tool: str | None
    tool_call_id: str
    arguments: str
    prompt_tokens: int

    @property
    def finish_reason(self) -> str:
        return "stop" if self.tool is None else "tool_calls"

    def usage(self) -> JsonObject:
        completion = count_words([self.text if self.tool is None else self.arguments])
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
        }

    def message(self) -> JsonObject:
        if self.tool is None:
            return {"role": "assistant", "content": self.text, "refusal": None}
        function = {"name": self.tool, "arguments": self.arguments}
        tool_call = {"id": self.tool_call_id, "type": "function", "function": function}
        return {"role": "assistant", "content": None, "refusal": None, "tool_calls": [tool_call]}


async def chat_completions(request: Request, *, api_key: str) -> Response:
    if (refusal := _refusal(request, api_key)) is not None:
        return refusal
    call = call_of(request)
    messages = call.body.get("messages")
    if not isinstance(messages, list) or not messages:
        return openai_error(400, "'messages' must be a non-empty array.", param="messages")
    completion = _plan(call, messages)
    if call.streaming:
        options = call.body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        return EventStream(_chunks(completion, include_usage), call, broken=_BROKEN_CHUNK)
    choice = {"index": 0, "message": completion.message(), "logprobs": None}
    return JSONResponse(
        {
            "id": completion.id,
            "object": "chat.completion",
            "created": completion.created,
            "model": completion.model,
            "choices": [{**choice, "finish_reason": completion.finish_reason}],
            "usage": completion.usage(),
        }
    )


def _plan(call: Call, messages: list[Any]) -> _Completion:
    user_text = last_user_text(messages)
    names = _tool_names(call.body.get("tools"))
    forced, disabled = _tool_choice(call.body.get("tool_choice"), names)
    tool = call.tool_to_call(names, user_text=user_text, forced=forced, disabled=disabled)
    texts = [text_of(m.get("content")) for m in messages if isinstance(m, dict)]
    return _Completion(
        id=f"chatcmpl-fake{call.seq:06d}",
        created=int(time.time()),
        model=str(call.body.get("model", "fake-gpt")),
        text=call.reply_text(user_text),
        tool=tool,
        tool_call_id=f"call_fake{call.seq:06d}",
        arguments=json.dumps({"query": user_text}),
        prompt_tokens=count_words(texts),
    )


def _tool_names(tools: object) -> list[str]:
    if not isinstance(tools, list):
        return []
    functions = [tool.get("function") for tool in tools if isinstance(tool, dict)]
    return [f["name"] for f in functions if isinstance(f, dict) and isinstance(f.get("name"), str)]


def _tool_choice(choice: object, names: list[str]) -> tuple[str | None, bool]:
    """(the tool the choice forces, whether it forbids tools)."""
    if choice == "none":
        return None, True
    if choice == "required":
        return (names[0] if names else None), False
    if isinstance(choice, dict) and isinstance(function := choice.get("function"), dict):
        name = function.get("name")
        return (name if isinstance(name, str) else None), False
    return None, False


def _chunk(c: _Completion, delta: JsonObject, finish: str | None, include_usage: bool) -> bytes:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    data: JsonObject = {
        "id": c.id,
        "object": "chat.completion.chunk",
        "created": c.created,
        "model": c.model,
        "system_fingerprint": None,
        "choices": [choice],
    }
    if include_usage:
        data["usage"] = None
    return sse(data)


def _chunks(c: _Completion, include_usage: bool) -> list[bytes]:
    if c.tool is None:
        deltas: list[JsonObject] = [{"role": "assistant", "content": ""}]
        deltas += [{"content": word} for word in split_words(c.text)]
    else:
        function = {"name": c.tool, "arguments": ""}
        first = {"index": 0, "id": c.tool_call_id, "type": "function", "function": function}
        deltas = [{"role": "assistant", "content": None, "tool_calls": [first]}]
        pieces = halves(c.arguments)
        deltas += [{"tool_calls": [{"index": 0, "function": {"arguments": p}}]} for p in pieces]
    events = [_chunk(c, delta, None, include_usage) for delta in deltas]
    events.append(_chunk(c, {}, c.finish_reason, include_usage))
    if include_usage:
        head = {"id": c.id, "object": "chat.completion.chunk", "created": c.created}
        events.append(sse({**head, "model": c.model, "choices": [], "usage": c.usage()}))
    events.append(b"data: [DONE]\n\n")
    return events


async def embeddings(request: Request, *, api_key: str) -> Response:
    if (refusal := _refusal(request, api_key)) is not None:
        return refusal
    body = call_of(request).body
    texts = _embedding_inputs(body.get("input"))
    if not texts:
        message = "'input' must be a string, an array of strings or an array of token arrays."
        return openai_error(400, message, param="input")
    dims = body.get("dimensions", EMBEDDING_DIMS)
    if not isinstance(dims, int) or isinstance(dims, bool) or dims < 1:
        return openai_error(400, "'dimensions' must be a positive integer.", param="dimensions")
    as_base64 = body.get("encoding_format") == "base64"
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": _encode(fake_embedding(t, dims), as_base64),
        }
        for i, t in enumerate(texts)
    ]
    tokens = count_words(texts)
    return JSONResponse(
        {
            "object": "list",
            "data": data,
            "model": str(body.get("model", "fake-embedding")),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


def _embedding_inputs(value: object) -> list[str]:
    """The texts to embed; token arrays are embedded by their decimal spelling."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value:
        return []
    if all(isinstance(item, int) for item in value):
        return [" ".join(map(str, value))]
    if all(isinstance(item, str) for item in value):
        return list(value)
    if all(isinstance(item, list) for item in value):
        return [" ".join(map(str, item)) for item in value]
    return []


def _encode(vector: list[float], as_base64: bool) -> list[float] | str:
    if not as_base64:
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


async def models(request: Request, *, api_key: str) -> Response:
    if (refusal := _refusal(request, api_key)) is not None:
        return refusal
    data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake-provider"} for m in MODELS]
    return JSONResponse({"object": "list", "data": data})
