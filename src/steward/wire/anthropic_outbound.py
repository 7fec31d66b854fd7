"""Canonical (OpenAI) chat to the Anthropic Messages API upstream, and its answers back."""

from __future__ import annotations

from typing import Any

import orjson

from steward.errors import InvalidRequestError, UpstreamProtocolError
from steward.types import JSONObject
from steward.wire.openai import (
    ChatMessage,
    ChatRequest,
    TokenUsage,
    completion_id,
    now_s,
    usage_to_openai,
)

__all__ = [
    "FINISH_REASONS",
    "AnthropicStreamDecoder",
    "error_message",
    "from_anthropic_response",
    "to_anthropic_request",
    "usage_from_anthropic",
]

FINISH_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
"""Anthropic `stop_reason` to OpenAI `finish_reason`; anything unknown reads as "stop"."""

_TOOL_CHOICES: dict[str, str] = {"auto": "auto", "required": "any", "none": "none"}
_EMPTY_SCHEMA: JSONObject = {"type": "object", "properties": {}}
_NO_MESSAGE = "the upstream reported an error without a message"


# -- requests ---------------------------------------------------------------------------------


def to_anthropic_request(
    req: ChatRequest, model: str, *, stream: bool, default_max_tokens: int = 4096
) -> JSONObject:
    """The Messages API body for `req`; raises InvalidRequestError for what Anthropic cannot do."""
    if req.n is not None and req.n > 1:
        raise InvalidRequestError("Anthropic models return one choice; set n to 1", param="n")
    system, turns = _split_messages(req.messages)
    body: JSONObject = {
        "model": model,
        "max_tokens": req.output_limit() or default_max_tokens,
        "messages": _merge_turns(turns),
    }
    if system is not None:
        body["system"] = system
    _add_sampling(body, req)
    _add_tools(body, req)
    if req.user:
        body["metadata"] = {"user_id": req.user}
    if stream:
        body["stream"] = True
    return body


def _split_messages(
    messages: list[ChatMessage],
) -> tuple[str | list[JSONObject] | None, list[tuple[str, list[JSONObject]]]]:
    """System text (hoisted from anywhere in the conversation) and the remaining turns."""
    system: list[JSONObject] = []
    turns: list[tuple[str, list[JSONObject]]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if message.role in ("system", "developer"):
            system.extend(_system_blocks(message.content, where))
        elif message.role == "user":
            turns.append(("user", _content_blocks(message.content, where)))
        elif message.role == "assistant":
            turns.append(("assistant", _assistant_blocks(message, where)))
        elif message.role == "tool":
            turns.append(("user", [_tool_result(message, where)]))
        else:
            raise InvalidRequestError(
                f"{where}: role 'function' is not supported by Anthropic models; "
                "use tools and role 'tool'",
                param=f"{where}.role",
            )
    if not system:
        return None, turns
    if all(block.keys() == {"type", "text"} for block in system):
        return "\n\n".join(block["text"] for block in system), turns
    return system, turns  # blocks carry cache_control, which a string would lose


def _system_blocks(content: str | list[JSONObject] | None, where: str) -> list[JSONObject]:
    blocks = _content_blocks(content, where)
    if any(block["type"] != "text" for block in blocks):
        raise InvalidRequestError(f"{where}: system messages may only contain text", param=where)
    return blocks


def _content_blocks(content: str | list[JSONObject] | None, where: str) -> list[JSONObject]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content.strip() else []
    blocks = [_part_block(part, f"{where}.content[{i}]") for i, part in enumerate(content)]
    return [block for block in blocks if block is not None]


def _part_block(part: JSONObject, where: str) -> JSONObject | None:
    kind = part.get("type")
    if kind in ("text", "refusal"):
        text = part.get(kind)
        if not isinstance(text, str):
            raise InvalidRequestError(
                f"{where}: a {kind} part needs a string {kind!r}", param=where
            )
        if not text.strip():
            return None  # Anthropic refuses empty text blocks
        block: JSONObject = {"type": "text", "text": text}
    elif kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str):
            raise InvalidRequestError(f"{where}: an image_url part needs a url", param=where)
        block = _image_block(url, where)
    else:
        raise InvalidRequestError(
            f"{where}: content parts of type {kind!r} are not supported by Anthropic models; "
            "send text or image_url parts",
            param=where,
        )
    if "cache_control" in part:
        block["cache_control"] = part["cache_control"]
    return block


def _image_block(url: str, where: str) -> JSONObject:
    if url.startswith("data:"):
        header, comma, data = url[5:].partition(",")
        media_type, *params = header.split(";")
        if not comma or "base64" not in params or not media_type:
            raise InvalidRequestError(
                f"{where}: image data URLs must look like data:<media type>;base64,<data>",
                param=where,
            )
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise InvalidRequestError(
        f"{where}: image URLs must be http(s) URLs or base64 data URLs", param=where
    )


def _assistant_blocks(message: ChatMessage, where: str) -> list[JSONObject]:
    blocks = _content_blocks(message.content, where)
    for i, call in enumerate(message.tool_calls or []):
        blocks.append(_tool_use_block(call, f"{where}.tool_calls[{i}]"))
    return blocks


def _tool_use_block(call: JSONObject, where: str) -> JSONObject:
    function = call.get("function")
    name = function.get("name") if isinstance(function, dict) else None
    call_id = call.get("id")
    if not isinstance(name, str) or not isinstance(call_id, str) or not isinstance(function, dict):
        raise InvalidRequestError(
            f"{where}: a tool call needs an id and a function name", param=where
        )
    arguments = function.get("arguments")
    return {"type": "tool_use", "id": call_id, "name": name, "input": _arguments(arguments, where)}


def _arguments(raw: Any, where: str) -> JSONObject:
    if isinstance(raw, dict):
        return raw
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    try:
        value = orjson.loads(raw) if isinstance(raw, str) else None
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise InvalidRequestError(
            f"{where}: function.arguments must be a JSON object encoded as a string",
            param=f"{where}.function.arguments",
        )
    return value


def _tool_result(message: ChatMessage, where: str) -> JSONObject:
    if not message.tool_call_id:
        raise InvalidRequestError(f"{where}: tool messages need a tool_call_id", param=where)
    content: str | list[JSONObject] = message.content or ""
    if isinstance(content, list):
        content = _content_blocks(content, where)
    return {"type": "tool_result", "tool_use_id": message.tool_call_id, "content": content}


def _merge_turns(turns: list[tuple[str, list[JSONObject]]]) -> list[JSONObject]:
    """Anthropic wants user and assistant to alternate, so neighbours of one role become one."""
    merged: list[JSONObject] = []
    for role, blocks in turns:
        if not blocks:
            continue
        if merged and merged[-1]["role"] == role:
            merged[-1]["content"].extend(blocks)
        else:
            merged.append({"role": role, "content": list(blocks)})
    for message in merged:
        content: list[JSONObject] = message["content"]
        content.sort(key=lambda block: block["type"] != "tool_result")  # results must lead
        if len(content) == 1 and content[0].keys() == {"type", "text"}:
            message["content"] = content[0]["text"]
    if merged and merged[-1]["role"] == "assistant" and isinstance(merged[-1]["content"], str):
        # A prefilled final assistant turn may not end in whitespace.
        merged[-1]["content"] = merged[-1]["content"].rstrip()
    return merged


def _add_sampling(body: JSONObject, req: ChatRequest) -> None:
    if req.stop:
        body["stop_sequences"] = [req.stop] if isinstance(req.stop, str) else list(req.stop)
    if req.temperature is not None:
        body["temperature"] = min(req.temperature, 1.0)  # OpenAI allows up to 2
    if req.top_p is not None:
        body["top_p"] = req.top_p
    top_k = (req.model_extra or {}).get("top_k")
    if isinstance(top_k, int):
        body["top_k"] = top_k


def _add_tools(body: JSONObject, req: ChatRequest) -> None:
    if not req.tools:
        return  # Anthropic refuses tool_choice without tools
    body["tools"] = [_tool_spec(tool, f"tools[{i}]") for i, tool in enumerate(req.tools)]
    choice = _tool_choice(req.tool_choice)
    if req.parallel_tool_calls is False and choice.get("type") != "none":
        choice["disable_parallel_tool_use"] = True
    if req.tool_choice is not None or len(choice) > 1:
        body["tool_choice"] = choice


def _tool_spec(tool: JSONObject, where: str) -> JSONObject:
    function = tool.get("function")
    if tool.get("type") != "function" or not isinstance(function, dict):
        raise InvalidRequestError(
            f"{where}: only function tools are supported by Anthropic models", param=where
        )
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequestError(f"{where}: a function tool needs a name", param=where)
    spec: JSONObject = {"name": name, "input_schema": function.get("parameters") or _EMPTY_SCHEMA}
    if function.get("description"):
        spec["description"] = function["description"]
    if "cache_control" in tool:
        spec["cache_control"] = tool["cache_control"]
    return spec


def _tool_choice(choice: str | JSONObject | None) -> JSONObject:
    if choice is None:
        return {"type": "auto"}
    if isinstance(choice, str):
        if choice not in _TOOL_CHOICES:
            raise InvalidRequestError(
                "tool_choice must be 'auto', 'required', 'none' or a function", param="tool_choice"
            )
        return {"type": _TOOL_CHOICES[choice]}
    function = choice.get("function")
    name = function.get("name") if isinstance(function, dict) else None
    if choice.get("type") != "function" or not isinstance(name, str):
        raise InvalidRequestError(
            'tool_choice objects must look like {"type": "function", "function": {"name": ...}}',
            param="tool_choice",
        )
    return {"type": "tool", "name": name}


# -- responses --------------------------------------------------------------------------------


def from_anthropic_response(body: JSONObject, *, model: str) -> JSONObject:
    """An OpenAI `chat.completion` for a Messages API response body."""
    content = body.get("content")
    if not isinstance(content, list) or not all(isinstance(b, dict) for b in content):
        raise UpstreamProtocolError("the Anthropic response has no content list; retry the request")
    texts = [
        b["text"] for b in content if b.get("type") == "text" and isinstance(b.get("text"), str)
    ]
    calls = [_tool_call(b) for b in content if b.get("type") == "tool_use"]
    message: JSONObject = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    completion: JSONObject = {
        "id": body.get("id") or completion_id(),
        "object": "chat.completion",
        "created": now_s(),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": _finish_reason(body.get("stop_reason")),
                "logprobs": None,
            }
        ],
    }
    usage = usage_from_anthropic(body.get("usage"))
    if usage is not None:
        completion["usage"] = usage_to_openai(usage)
    return completion


def _tool_call(block: JSONObject) -> JSONObject:
    try:
        call_id, name, arguments = block["id"], block["name"], orjson.dumps(block.get("input", {}))
    except (KeyError, TypeError) as exc:
        raise UpstreamProtocolError(
            "the Anthropic response has a malformed tool_use block"
        ) from exc
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": arguments.decode()},
    }


def _finish_reason(stop_reason: Any) -> str:
    return FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def usage_from_anthropic(usage: Any) -> TokenUsage | None:
    """Anthropic usage as TokenUsage; input counts cache reads and writes, as OpenAI's does."""
    if not isinstance(usage, dict) or not isinstance(usage.get("input_tokens"), int):
        return None

    def count(key: str) -> int:
        value = usage.get(key)
        return value if isinstance(value, int) else 0

    cache_read = count("cache_read_input_tokens")
    return TokenUsage(
        input_tokens=count("input_tokens") + cache_read + count("cache_creation_input_tokens"),
        output_tokens=count("output_tokens"),
        cached_input_tokens=cache_read,
    )


def error_message(body: Any) -> str:
    """The human-readable message in an Anthropic or OpenAI error body, or a generic one."""
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            body = error
        elif isinstance(error, str) and error.strip():
            return error.strip()
        message = body.get("message")
        if isinstance(message, str) and message.strip():
            return message.strip()
    elif isinstance(body, str) and body.strip():
        return body.strip()[:1000]
    return _NO_MESSAGE


# -- streams ----------------------------------------------------------------------------------


class AnthropicStreamDecoder:
    """Turns Messages API stream events into OpenAI `chat.completion.chunk` dicts, in order."""

    __slots__ = ("_created", "_id", "_model", "_tools", "_usage")

    def __init__(self, model: str) -> None:
        self._model = model
        self._id = completion_id()
        self._created = now_s()
        self._usage: JSONObject = {}
        self._tools: dict[int, int] = {}  # Anthropic content index -> OpenAI tool_calls index

    @property
    def usage(self) -> TokenUsage | None:
        """Usage seen so far; complete once message_delta has arrived."""
        return usage_from_anthropic(self._usage)

    def feed(self, event: str, data: JSONObject) -> list[JSONObject]:
        """Chunks for one event; an `error` event raises UpstreamProtocolError."""
        try:
            return self._dispatch(event, data)
        except (KeyError, TypeError, AttributeError) as exc:
            raise UpstreamProtocolError(
                f"the Anthropic stream sent a malformed {event} event; retry the request"
            ) from exc

    def _dispatch(self, event: str, data: JSONObject) -> list[JSONObject]:
        match event:
            case "content_block_delta":
                return self._block_delta(data["index"], data["delta"])
            case "content_block_start":
                return self._block_start(data["index"], data["content_block"])
            case "message_start":
                return self._message_start(data["message"])
            case "message_delta":
                self._merge_usage(data.get("usage"))
                reason = data["delta"].get("stop_reason")
                return [self._chunk({}, _finish_reason(reason))] if reason else []
            case "message_stop":
                usage = self.usage
                return [] if usage is None else [self._usage_chunk(usage)]
            case "error":
                error = data.get("error")
                code = error.get("type") if isinstance(error, dict) else None
                raise UpstreamProtocolError(
                    f"the Anthropic stream failed: {error_message(data)}",
                    code=code if isinstance(code, str) else None,
                )
            case _:
                return []  # ping, content_block_stop, and event types added later

    def _message_start(self, message: JSONObject) -> list[JSONObject]:
        self._id = message.get("id") or self._id
        self._merge_usage(message.get("usage"))
        return [self._chunk({"role": "assistant", "content": ""})]

    def _merge_usage(self, usage: Any) -> None:
        # message_delta counts are cumulative and may be null where message_start had numbers.
        if isinstance(usage, dict):
            self._usage.update((key, value) for key, value in usage.items() if value is not None)

    def _block_start(self, index: int, block: JSONObject) -> list[JSONObject]:
        if block["type"] == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        if block["type"] != "tool_use":
            return []  # thinking blocks have no OpenAI equivalent
        tool_index = self._tools[index] = len(self._tools)
        call = {
            "index": tool_index,
            "id": block["id"],
            "type": "function",
            "function": {"name": block["name"], "arguments": ""},
        }
        return [self._chunk({"tool_calls": [call]})]

    def _block_delta(self, index: int, delta: JSONObject) -> list[JSONObject]:
        kind = delta["type"]
        if kind == "text_delta":
            return [self._chunk({"content": delta["text"]})] if delta["text"] else []
        if kind != "input_json_delta" or not delta["partial_json"]:
            return []
        if index not in self._tools:
            raise UpstreamProtocolError(
                "the Anthropic stream sent tool input for no tool_use block"
            )
        piece = {"index": self._tools[index], "function": {"arguments": delta["partial_json"]}}
        return [self._chunk({"tool_calls": [piece]})]

    def _chunk(self, delta: JSONObject, finish_reason: str | None = None) -> JSONObject:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }

    def _usage_chunk(self, usage: TokenUsage) -> JSONObject:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [],
            "usage": usage_to_openai(usage),
        }
