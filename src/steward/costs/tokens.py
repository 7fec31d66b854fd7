"""A fast, slightly high estimate of a request's prompt tokens, and its output-token ceiling."""

from __future__ import annotations

import math
import string

import orjson

from steward.types import JSONObject
from steward.wire.openai import ChatMessage, ChatRequest, EmbeddingRequest

__all__ = ["estimate_input_tokens", "max_output_tokens"]

BYTES_PER_TOKEN = 4
"""About four bytes of plain English make a token in o200k and cl100k."""
DENSE_BYTES = (string.punctuation + string.digits).encode()
DENSE_EXTRA = 2
"""Punctuation and digits nearly always start a token of their own, so each counts as 3 bytes:
without this, code, markdown and JSON (2.5 characters a token) are undercounted by up to half."""
HIGH_BYTES = bytes(range(0x80, 0x100))
HIGH_EXTRA = 0.5
"""A UTF-8 byte outside ASCII counts 1.5: a CJK character (3 bytes) is about one token."""
IMAGE_TOKENS = 765
"""OpenAI high detail for a 1024x1024 image: 85 base + 4 tiles of 512 px x 170. Other
non-text parts (audio, files) are charged the same as a rough stand-in."""
MESSAGE_TOKENS = 4
"""Per message: role and delimiters, as in OpenAI's counting recipe."""
REPLY_TOKENS = 3
"""Every reply is primed with `<|start|>assistant<|message|>`."""
TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text"})


def estimate_input_tokens(request: ChatRequest | EmbeddingRequest) -> int:
    """Prompt tokens to reserve before the call; rounded up, so over rather than under."""
    if isinstance(request, EmbeddingRequest):
        return _embedding_tokens(request)
    total = REPLY_TOKENS
    for message in request.messages:
        total += MESSAGE_TOKENS + _message_tokens(message)
    if request.tools:
        total += _json_tokens(request.tools)
    if request.response_format:
        total += _json_tokens(request.response_format)
    return total


def max_output_tokens(request: ChatRequest | EmbeddingRequest, default: int) -> int:
    """`max_completion_tokens`, else `max_tokens`, else `default`; embeddings produce none."""
    if isinstance(request, EmbeddingRequest):
        return 0
    return request.max_completion_tokens or request.max_tokens or default


def _message_tokens(message: ChatMessage) -> int:
    content = message.content
    if isinstance(content, str):
        total = _text_tokens(content)
    elif content:
        total = sum(_part_tokens(part) for part in content)
    else:
        total = 0
    if message.name:
        total += _text_tokens(message.name)
    if message.tool_calls:
        total += _json_tokens(message.tool_calls)
    if message.tool_call_id:
        total += _text_tokens(message.tool_call_id)
    return total


def _part_tokens(part: JSONObject) -> int:
    kind = part.get("type")
    if kind in TEXT_PART_TYPES:
        text = part.get("text")
        return _text_tokens(text) if isinstance(text, str) else 0
    if kind == "refusal":
        refusal = part.get("refusal")
        return _text_tokens(refusal) if isinstance(refusal, str) else 0
    return IMAGE_TOKENS


def _embedding_tokens(request: EmbeddingRequest) -> int:
    data = request.input
    if isinstance(data, str):
        return _text_tokens(data)
    total = 0
    for item in data:
        if isinstance(item, str):
            total += _text_tokens(item)
        elif isinstance(item, int):
            total += 1
        else:
            total += len(item)
    return total


def _text_tokens(text: str) -> int:
    return _byte_tokens(text.encode(), ascii_only=text.isascii())


def _json_tokens(value: object) -> int:
    data = orjson.dumps(value)
    return _byte_tokens(data, ascii_only=data.isascii())


def _byte_tokens(data: bytes, *, ascii_only: bool) -> int:
    """Two or three C passes over the bytes (`translate` deletes the counted ones); no regex.
    Measured per paragraph against o200k and cl100k it overestimates English prose by 26%,
    markdown 13%, Python 33%, JSON 19% and CJK 19%, and rarely undercounts (5% of markdown
    paragraphs, by at most 8%) except long runs of digits."""
    size = len(data)
    weighted: float = size + DENSE_EXTRA * (size - len(data.translate(None, DENSE_BYTES)))
    if not ascii_only:
        weighted += HIGH_EXTRA * (size - len(data.translate(None, HIGH_BYTES)))
    return math.ceil(weighted / BYTES_PER_TOKEN)
