"""OpenAI chat and embeddings wire format: the canonical shape every request takes inside Steward."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from steward.types import JSONObject

__all__ = [
    "ChatMessage",
    "ChatRequest",
    "EmbeddingRequest",
    "StreamOptions",
    "TokenUsage",
    "completion_id",
    "usage_from_openai",
]


class ChatMessage(BaseModel):
    """One message; unknown fields (for example `refusal`) pass through untouched."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[JSONObject] | None = None
    name: str | None = None
    tool_calls: list[JSONObject] | None = None
    tool_call_id: str | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatRequest(BaseModel):
    """`POST /v1/chat/completions` body. Unknown parameters pass through to OpenAI-shaped upstreams."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    n: int | None = Field(default=None, ge=1, le=128)
    stop: str | list[str] | None = None
    seed: int | None = None
    tools: list[JSONObject] | None = None
    tool_choice: str | JSONObject | None = None
    parallel_tool_calls: bool | None = None
    response_format: JSONObject | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    user: str | None = None
    _wire: JSONObject | None = PrivateAttr(default=None)

    def output_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def wants_usage_in_stream(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage

    def keep_wire(self, data: JSONObject) -> None:
        """Keep the decoded client body this request was validated from, so forwarding it to
        an OpenAI-shaped upstream needs no re-serialisation (a `model_dump` per request)."""
        self._wire = data

    def to_upstream(self, model: str, *, stream: bool) -> JSONObject:
        """The body to send an OpenAI-compatible upstream, always asking for usage in streams."""
        if self._wire is not None:
            body = dict(self._wire)
            body["messages"] = [_without_hints(m) for m in self._wire["messages"]]
        else:
            body = self.model_dump(exclude_none=True, exclude_unset=True)
            body["messages"] = [_openai_message(m) for m in self.messages]
        body["model"] = model
        if "tools" in body:
            body["tools"] = [_without_cache_control(t) for t in body["tools"]]
        if stream:
            body["stream"] = True
            options = dict(body.get("stream_options") or {})
            options["include_usage"] = True
            body["stream_options"] = options
        else:
            body.pop("stream", None)
            body.pop("stream_options", None)
        return body


def _openai_message(message: ChatMessage) -> JSONObject:
    """A message for an OpenAI-shaped upstream, without Anthropic's `cache_control` hints
    (kept on the canonical request so they reach Anthropic, refused by OpenAI)."""
    data = message.model_dump(exclude_none=True)
    content = data.get("content")
    if isinstance(content, list):
        data["content"] = [_without_cache_control(part) for part in content]
    data.pop("cache_control", None)
    return data


def _without_hints(message: JSONObject) -> JSONObject:
    """A client's message as sent, minus `cache_control` hints; copied only when it has any."""
    content = message.get("content")
    if "cache_control" in message or (
        isinstance(content, list)
        and any("cache_control" in p for p in content if isinstance(p, dict))
    ):
        message = {k: v for k, v in message.items() if k != "cache_control"}
        if isinstance(content, list):
            message["content"] = [_without_cache_control(p) for p in content]
    return message


def _without_cache_control(item: Any) -> Any:
    if isinstance(item, dict) and "cache_control" in item:
        return {k: v for k, v in item.items() if k != "cache_control"}
    return item


class EmbeddingRequest(BaseModel):
    """`POST /v1/embeddings` body."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = None

    def texts(self) -> list[str]:
        """The inputs as strings; token-id inputs are refused by providers that need text."""
        if isinstance(self.input, str):
            return [self.input]
        return [x for x in self.input if isinstance(x, str)]

    def to_upstream(self, model: str) -> JSONObject:
        body = self.model_dump(exclude_none=True, exclude_unset=True)
        body["model"] = model
        return body


@dataclass(slots=True)
class TokenUsage:
    """Token counts as the provider reported them; cached and reasoning tokens are subsets."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0


def usage_from_openai(usage: Any) -> TokenUsage | None:
    """Read an OpenAI `usage` object; None when absent or malformed."""
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens")
    completion = usage.get("completion_tokens")
    if not isinstance(prompt, int):
        return None
    details = usage.get("prompt_tokens_details") or {}
    out_details = usage.get("completion_tokens_details") or {}
    return TokenUsage(
        input_tokens=prompt,
        output_tokens=completion if isinstance(completion, int) else 0,
        cached_input_tokens=int(details.get("cached_tokens") or 0),
        reasoning_tokens=int(out_details.get("reasoning_tokens") or 0),
    )


def usage_to_openai(usage: TokenUsage) -> JSONObject:
    body: JSONObject = {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }
    if usage.cached_input_tokens:
        body["prompt_tokens_details"] = {"cached_tokens": usage.cached_input_tokens}
    return body


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def now_s() -> int:
    return int(time.time())
