"""The Anthropic Messages API that Steward serves at `POST /v1/messages`, both directions."""

from __future__ import annotations

import uuid
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from steward.errors import InvalidRequestError, UpstreamProtocolError
from steward.types import JSONObject
from steward.wire.openai import ChatMessage, ChatRequest, TokenUsage, usage_from_openai

__all__ = [
    "ANTHROPIC_ERROR_TYPES",
    "STOP_REASONS",
    "AnthropicMessage",
    "AnthropicTool",
    "MessagesRequest",
    "MessagesStreamEncoder",
    "anthropic_error_type",
    "chat_to_messages_response",
    "error_body",
    "error_event",
    "message_id",
    "messages_to_chat",
]

STOP_REASONS: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
"""OpenAI `finish_reason` to Anthropic `stop_reason`; anything unknown reads as "end_turn"."""

ANTHROPIC_ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}
"""HTTP status to the Anthropic error `type` that Anthropic's SDKs expect with it."""

# Separators for text blocks flattened into one OpenAI string. Assistant text is split into
# blocks mid-sentence (citations), so it is joined without one.
_JOIN_SYSTEM = "\n\n"
_JOIN_USER = "\n"
_JOIN_ASSISTANT = ""
_DROPPED_BLOCKS = frozenset({"thinking", "redacted_thinking"})  # no OpenAI equivalent


class AnthropicMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["user", "assistant"]
    content: str | list[JSONObject]


class AnthropicTool(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1)
    description: str | None = None
    input_schema: JSONObject


class MessagesRequest(BaseModel):
    """`POST /v1/messages` body; unknown parameters (for example `thinking`) are accepted."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[AnthropicMessage] = Field(min_length=1)
    max_tokens: int = Field(ge=1)
    system: str | list[JSONObject] | None = None
    stop_sequences: list[str] | None = None
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    stream: bool = False
    tools: list[AnthropicTool] | None = None
    tool_choice: JSONObject | None = None
    metadata: JSONObject | None = None


# -- requests ---------------------------------------------------------------------------------


def messages_to_chat(req: MessagesRequest) -> ChatRequest:
    """The canonical ChatRequest for a Messages API request."""
    messages: list[ChatMessage] = []
    if req.system:
        content = _flatten(_content_parts(req.system, "system"), _JOIN_SYSTEM)
        messages.append(ChatMessage(role="system", content=content))
    for i, message in enumerate(req.messages):
        messages.extend(_chat_messages(message, f"messages[{i}]"))
    fields: JSONObject = {"model": req.model, "messages": messages, "max_tokens": req.max_tokens}
    optional = {
        "stop": req.stop_sequences,
        "temperature": req.temperature,
        "top_p": req.top_p,
        "top_k": req.top_k,
    }
    fields.update((key, value) for key, value in optional.items() if value is not None)
    if req.stream:
        fields["stream"] = True
        fields["stream_options"] = {"include_usage": True}
    if req.tools:
        fields.update(_chat_tools(req.tools, req.tool_choice))
    user_id = (req.metadata or {}).get("user_id")
    if isinstance(user_id, str) and user_id:
        fields["user"] = user_id
    return ChatRequest.model_validate(fields)


def _chat_messages(message: AnthropicMessage, where: str) -> list[ChatMessage]:
    if isinstance(message.content, str):
        return [ChatMessage(role=message.role, content=message.content)]
    for i, block in enumerate(message.content):
        if not isinstance(block.get("type"), str):
            path = f"{where}.content[{i}]"
            raise InvalidRequestError(f"{path}: a content block needs a type", param=path)
    if message.role == "assistant":
        return [_assistant_message(message.content, where)]
    results = [b for b in message.content if b["type"] == "tool_result"]
    rest = [b for b in message.content if b["type"] != "tool_result"]
    chat = [_tool_message(result, where) for result in results]
    if rest or not results:
        content = _flatten(_content_parts(rest, f"{where}.content"), _JOIN_USER)
        chat.append(ChatMessage(role="user", content=content))
    return chat


def _assistant_message(blocks: list[JSONObject], where: str) -> ChatMessage:
    texts: list[JSONObject] = []
    calls: list[JSONObject] = []
    for i, block in enumerate(blocks):
        if block["type"] == "tool_use":
            calls.append(_tool_call(block, f"{where}.content[{i}]"))
        elif block["type"] not in _DROPPED_BLOCKS:
            texts.append(block)
    content = _flatten(_content_parts(texts, f"{where}.content"), _JOIN_ASSISTANT) or None
    return ChatMessage(role="assistant", content=content, tool_calls=calls or None)


def _tool_call(block: JSONObject, where: str) -> JSONObject:
    call_id, name = block.get("id"), block.get("name")
    if not isinstance(call_id, str) or not isinstance(name, str):
        raise InvalidRequestError(f"{where}: a tool_use block needs an id and a name", param=where)
    arguments = orjson.dumps(block.get("input") or {}).decode()
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _tool_message(block: JSONObject, where: str) -> ChatMessage:
    tool_use_id = block.get("tool_use_id")
    if not isinstance(tool_use_id, str):
        raise InvalidRequestError(f"{where}: a tool_result block needs a tool_use_id", param=where)
    content = block.get("content") or ""
    if isinstance(content, list):
        content = _flatten(_content_parts(content, f"{where}.content"), _JOIN_USER)
    return ChatMessage(role="tool", tool_call_id=tool_use_id, content=content)


def _content_parts(blocks: str | list[JSONObject], where: str) -> list[JSONObject]:
    if isinstance(blocks, str):
        return [{"type": "text", "text": blocks}]
    return [_content_part(block, f"{where}[{i}]") for i, block in enumerate(blocks)]


def _content_part(block: JSONObject, where: str) -> JSONObject:
    kind = block.get("type")
    if kind == "text" and isinstance(block.get("text"), str):
        part: JSONObject = {"type": "text", "text": block["text"]}
    elif kind == "image":
        part = {"type": "image_url", "image_url": {"url": _image_url(block.get("source"), where)}}
    else:
        raise InvalidRequestError(
            f"{where}: content blocks of type {kind!r} are not supported here; "
            "send text or image blocks",
            param=where,
        )
    if "cache_control" in block:
        part["cache_control"] = block["cache_control"]
    return part


def _image_url(source: Any, where: str) -> str:
    if isinstance(source, dict):
        if source.get("type") == "base64" and isinstance(source.get("data"), str):
            return f"data:{source.get('media_type')};base64,{source['data']}"
        if source.get("type") == "url" and isinstance(source.get("url"), str):
            return str(source["url"])
    raise InvalidRequestError(f"{where}: image sources must be base64 or url", param=where)


def _flatten(parts: list[JSONObject], separator: str) -> str | list[JSONObject]:
    """One string when every part is plain text, which every OpenAI-shaped upstream accepts."""
    if all(part.keys() == {"type", "text"} for part in parts):
        return separator.join(part["text"] for part in parts)
    return parts


def _chat_tools(tools: list[AnthropicTool], choice: JSONObject | None) -> JSONObject:
    fields: JSONObject = {"tools": [_chat_tool(tool) for tool in tools]}
    if choice is None:
        return fields
    kinds = {"auto": "auto", "any": "required", "none": "none"}
    kind = choice.get("type")
    if kind in kinds:
        fields["tool_choice"] = kinds[kind]
    elif kind == "tool" and isinstance(choice.get("name"), str):
        fields["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    else:
        raise InvalidRequestError(
            "tool_choice type must be auto, any, none, or tool with a name", param="tool_choice"
        )
    if choice.get("disable_parallel_tool_use") is True:
        fields["parallel_tool_calls"] = False
    return fields


def _chat_tool(tool: AnthropicTool) -> JSONObject:
    function: JSONObject = {"name": tool.name, "parameters": tool.input_schema}
    if tool.description:
        function["description"] = tool.description
    spec: JSONObject = {"type": "function", "function": function}
    cache_control = (tool.model_extra or {}).get("cache_control")
    if cache_control is not None:
        spec["cache_control"] = cache_control
    return spec


# -- responses --------------------------------------------------------------------------------


def chat_to_messages_response(completion: JSONObject, *, model: str) -> JSONObject:
    """The Messages API response for an OpenAI `chat.completion`."""
    choices = completion.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise UpstreamProtocolError("the upstream response has no choices; retry the request")
    message = choices[0].get("message") or {}
    content = _response_blocks(message)
    has_tools = any(block["type"] == "tool_use" for block in content)
    return {
        "id": message_id(completion.get("id")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": _stop_reason(choices[0].get("finish_reason"), has_tools=has_tools),
        "stop_sequence": None,
        "usage": _usage(usage_from_openai(completion.get("usage"))),
    }


def _response_blocks(message: JSONObject) -> list[JSONObject]:
    text = message.get("content")
    if isinstance(text, list):
        text = "".join(p.get("text", "") for p in text if isinstance(p, dict))
    if not text and isinstance(message.get("refusal"), str):
        text = message["refusal"]
    blocks: list[JSONObject] = [{"type": "text", "text": text}] if text else []
    for call in message.get("tool_calls") or []:
        blocks.append(_tool_use_block(call))
    return blocks


def _tool_use_block(call: Any) -> JSONObject:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise UpstreamProtocolError("the upstream returned a tool call without a function name")
    arguments = function.get("arguments") or "{}"
    try:
        tool_input = orjson.loads(arguments)
    except orjson.JSONDecodeError as exc:
        raise UpstreamProtocolError(
            f"the upstream returned invalid JSON arguments for tool {function['name']!r}; "
            "retry the request"
        ) from exc
    if not isinstance(tool_input, dict):
        tool_input = {"value": tool_input}
    call_id = call.get("id") or f"toolu_{uuid.uuid4().hex[:24]}"
    return {"type": "tool_use", "id": call_id, "name": function["name"], "input": tool_input}


def _stop_reason(finish_reason: Any, *, has_tools: bool) -> str:
    # Some upstreams report "stop" after tool calls; Anthropic clients run tools on tool_use.
    if has_tools and finish_reason in (None, "stop", "tool_calls", "function_call"):
        return "tool_use"
    return (
        STOP_REASONS.get(finish_reason, "end_turn")
        if isinstance(finish_reason, str)
        else "end_turn"
    )


def _usage(usage: TokenUsage | None) -> JSONObject:
    """Anthropic usage: input_tokens excludes cache reads, which are counted separately."""
    if usage is None:
        return {"input_tokens": 0, "output_tokens": 0}
    body: JSONObject = {
        "input_tokens": max(usage.input_tokens - usage.cached_input_tokens, 0),
        "output_tokens": usage.output_tokens,
    }
    if usage.cached_input_tokens > 0:
        body["cache_read_input_tokens"] = usage.cached_input_tokens
    return body


def message_id(source: Any = None) -> str:
    """A `msg_` id, derived from an OpenAI completion id when there is one."""
    if isinstance(source, str) and source:
        return "msg_" + source.removeprefix("chatcmpl-")
    return f"msg_{uuid.uuid4().hex[:24]}"


# -- errors -----------------------------------------------------------------------------------


def anthropic_error_type(status: int) -> str:
    """The Anthropic error type for an HTTP status, falling back by status class."""
    if status in ANTHROPIC_ERROR_TYPES:
        return ANTHROPIC_ERROR_TYPES[status]
    return "invalid_request_error" if 400 <= status < 500 else "api_error"


def error_body(error_type: str, message: str) -> JSONObject:
    """An Anthropic-shaped error response body."""
    return {"type": "error", "error": {"type": error_type, "message": message}}


def error_event(error_type: str, message: str) -> tuple[str, JSONObject]:
    """The `error` stream event that ends a failed Messages stream."""
    return "error", error_body(error_type, message)


# -- streams ----------------------------------------------------------------------------------


class MessagesStreamEncoder:
    """Turns OpenAI chunks into Messages API stream events: (event name, data) pairs.

    Anthropic streams content blocks one after another, so a block is closed as soon as a
    different one begins. Tool calls are keyed by their OpenAI index, so upstreams that repeat
    the id on every argument chunk still make one block.
    """

    __slots__ = (
        "_blocks",
        "_finish_reason",
        "_finished",
        "_id",
        "_model",
        "_open",
        "_open_kind",
        "_started",
        "_tools",
        "_usage",
    )

    error_event = staticmethod(error_event)

    def __init__(self, model: str, message_id: str) -> None:
        self._model = model
        self._id = message_id
        self._started = False
        self._finished = False
        self._blocks = 0  # content blocks opened so far
        self._open: int | None = None  # index of the open block
        self._open_kind = ""
        self._tools: dict[int, int] = {}  # OpenAI tool_calls index -> content block index
        self._finish_reason: str | None = None
        self._usage: TokenUsage | None = None

    def feed(self, chunk: JSONObject) -> list[tuple[str, JSONObject]]:
        """Events for one OpenAI chunk; the first call also opens the message."""
        if self._finished:
            return []
        events = self._start()
        usage = usage_from_openai(chunk.get("usage"))
        if usage is not None:
            self._usage = usage
        for choice in chunk.get("choices") or []:
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                events.extend(self._choice(choice))
        return events

    def finish(self, usage: TokenUsage | None = None) -> list[tuple[str, JSONObject]]:
        """Close the open block and the message; `usage` overrides any seen in the chunks."""
        if self._finished:
            return []
        events = self._start()
        events.extend(self._close())
        self._finished = True
        stop_reason = _stop_reason(self._finish_reason, has_tools=bool(self._tools))
        delta = {"stop_reason": stop_reason, "stop_sequence": None}
        message_delta = {"type": "message_delta", "delta": delta, "usage": self._final_usage(usage)}
        events.append(("message_delta", message_delta))
        events.append(("message_stop", {"type": "message_stop"}))
        return events

    def _final_usage(self, usage: TokenUsage | None) -> JSONObject:
        body = _usage(usage or self._usage)
        # Anthropic puts output_tokens first in message_delta; key order is cosmetic.
        return {"output_tokens": body.pop("output_tokens"), **body}

    def _start(self) -> list[tuple[str, JSONObject]]:
        if self._started:
            return []
        self._started = True
        message: JSONObject = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},  # known only at the end
        }
        return [("message_start", {"type": "message_start", "message": message})]

    def _choice(self, choice: JSONObject) -> list[tuple[str, JSONObject]]:
        delta = choice.get("delta") or {}
        events: list[tuple[str, JSONObject]] = []
        text = delta.get("content") or delta.get("refusal")
        if isinstance(text, str) and text:
            events.extend(self._text(text))
        for position, call in enumerate(delta.get("tool_calls") or []):
            if isinstance(call, dict):
                events.extend(self._tool_call(call, position))
        if choice.get("finish_reason"):
            self._finish_reason = choice["finish_reason"]
        return events

    def _text(self, text: str) -> list[tuple[str, JSONObject]]:
        events = (
            [] if self._open_kind == "text" else self._begin("text", {"type": "text", "text": ""})
        )
        delta = {"type": "text_delta", "text": text}
        events.append(_block_delta(self._open, delta))
        return events

    def _tool_call(self, call: JSONObject, position: int) -> list[tuple[str, JSONObject]]:
        key = call.get("index", position)
        function = call.get("function") or {}
        events: list[tuple[str, JSONObject]] = []
        if key not in self._tools:
            block: JSONObject = {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{uuid.uuid4().hex[:24]}",
                "name": function.get("name") or "",
                "input": {},
            }
            events = self._begin("tool_use", block)
            self._tools[key] = self._blocks - 1
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            if self._tools[key] != self._open:
                raise UpstreamProtocolError(
                    "the upstream interleaved tool call arguments, which Anthropic streams "
                    "cannot carry; retry without parallel tool calls"
                )
            events.append(
                _block_delta(self._open, {"type": "input_json_delta", "partial_json": arguments})
            )
        return events

    def _begin(self, kind: str, block: JSONObject) -> list[tuple[str, JSONObject]]:
        events = self._close()
        self._open, self._open_kind = self._blocks, kind
        self._blocks += 1
        start = {"type": "content_block_start", "index": self._open, "content_block": block}
        events.append(("content_block_start", start))
        return events

    def _close(self) -> list[tuple[str, JSONObject]]:
        if self._open is None:
            return []
        index, self._open, self._open_kind = self._open, None, ""
        return [("content_block_stop", {"type": "content_block_stop", "index": index})]


def _block_delta(index: int | None, delta: JSONObject) -> tuple[str, JSONObject]:
    return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
