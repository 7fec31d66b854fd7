"""OpenTelemetry GenAI semantic conventions: attribute names, and their values read from a call.

Pure functions over Steward's own types; nothing here imports OpenTelemetry. Names follow the
GenAI conventions (`gen_ai.*`, `error.type`); Steward's own attributes are `steward.*`.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeAlias

import orjson

from steward.errors import AllTargetsFailedError, StewardError, UpstreamStatusError
from steward.types import JSONObject
from steward.wire.openai import ChatMessage, ChatRequest, TokenUsage

__all__ = [
    "Attributes",
    "content_event",
    "error_type",
    "request_attributes",
    "response_attributes",
    "usage_attributes",
]

AttributeValue: TypeAlias = str | bool | int | float | tuple[str, ...]
Attributes: TypeAlias = dict[str, AttributeValue]

OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
REQUEST_TEMPERATURE = "gen_ai.request.temperature"
REQUEST_TOP_P = "gen_ai.request.top_p"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_ID = "gen_ai.response.id"
FINISH_REASONS = "gen_ai.response.finish_reasons"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
CACHED_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
ERROR_TYPE = "error.type"
HTTP_STATUS = "http.response.status_code"
CONTENT_EVENT = "gen_ai.client.inference.operation.details"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"


def request_attributes(request: object) -> Attributes:
    """The sampling parameters a chat request sets (none for embeddings)."""
    if not isinstance(request, ChatRequest):
        return {}
    attributes: Attributes = {}
    if (limit := request.output_limit()) is not None:
        attributes[REQUEST_MAX_TOKENS] = limit
    if request.temperature is not None:
        attributes[REQUEST_TEMPERATURE] = float(request.temperature)
    if request.top_p is not None:
        attributes[REQUEST_TOP_P] = float(request.top_p)
    return attributes


def response_attributes(body: JSONObject, attributes: Attributes) -> None:
    """Add the model, id and finish reasons of an OpenAI-shaped response (or first chunk)."""
    if isinstance(model := body.get("model"), str):
        attributes[RESPONSE_MODEL] = model
    if isinstance(response_id := body.get("id"), str):
        attributes[RESPONSE_ID] = response_id
    reasons = tuple(
        reason
        for choice in body.get("choices") or ()
        if isinstance(reason := choice.get("finish_reason"), str)
    )
    if reasons:
        attributes[FINISH_REASONS] = reasons


def usage_attributes(usage: TokenUsage | None, attributes: Attributes) -> None:
    if usage is None:
        return
    attributes[INPUT_TOKENS] = usage.input_tokens
    attributes[OUTPUT_TOKENS] = usage.output_tokens
    if usage.cached_input_tokens:
        attributes[CACHED_INPUT_TOKENS] = usage.cached_input_tokens


def error_type(error: BaseException) -> str:
    """Low-cardinality: an upstream's HTTP status, else the error type the caller is shown."""
    if isinstance(error, UpstreamStatusError):
        return str(error.upstream_status)
    if isinstance(error, AllTargetsFailedError):
        return "all_targets_failed"
    if isinstance(error, StewardError):
        return error.error_type
    if isinstance(error, asyncio.CancelledError):
        return "cancelled"
    kind = type(error)
    return f"{kind.__module__}.{kind.__qualname__}"


def content_event(request: object, answer: JSONObject | None) -> Attributes:
    """The attributes of the opt-in content event: the messages in and the answer out."""
    attributes: Attributes = {}
    if isinstance(request, ChatRequest):
        attributes[INPUT_MESSAGES] = _json([_input_message(m) for m in request.messages])
    if answer is not None:
        attributes[OUTPUT_MESSAGES] = _json(
            [_output_message(choice) for choice in answer.get("choices") or ()]
        )
    return attributes


def _input_message(message: ChatMessage) -> JSONObject:
    parts = _parts(message.content)
    for call in message.tool_calls or ():
        parts.append(_tool_call(call))
    if message.tool_call_id is not None:
        parts = [
            {"type": "tool_call_response", "id": message.tool_call_id, "response": message.content}
        ]
    return {"role": message.role, "parts": parts}


def _output_message(choice: JSONObject) -> JSONObject:
    message = choice.get("message") or {}
    parts = _parts(message.get("content"))
    for call in message.get("tool_calls") or ():
        parts.append(_tool_call(call))
    return {
        "role": message.get("role", "assistant"),
        "parts": parts,
        "finish_reason": choice.get("finish_reason"),
    }


def _parts(content: Any) -> list[JSONObject]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    if isinstance(content, list):
        return [
            {"type": "text", "content": part.get("text")} if part.get("type") == "text" else part
            for part in content
            if isinstance(part, dict)
        ]
    return []


def _tool_call(call: JSONObject) -> JSONObject:
    function = call.get("function") or {}
    return {
        "type": "tool_call",
        "id": call.get("id"),
        "name": function.get("name"),
        "arguments": function.get("arguments"),
    }


def _json(value: object) -> str:
    return orjson.dumps(value, default=str).decode()
