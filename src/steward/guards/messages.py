"""Between chat requests and guards: the text of each message as a `GuardInput`, and a guard's
replacement text written back into the request and the client body it forwards."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from steward.guards.base import GuardInput
from steward.types import JSONObject
from steward.wire.openai import ChatRequest

__all__ = ["apply_replacements", "guard_inputs", "message_text"]

_TEXT_PARTS = frozenset({"text", "input_text"})
_SOURCES: Mapping[str, Any] = {
    "user": "user",
    "system": "system",
    "developer": "system",
    "assistant": "assistant",
    "tool": "tool",
    "function": "tool",
}


def message_text(content: str | list[JSONObject] | None) -> str:
    """A message's text: the string, or its text parts joined by newlines."""
    if isinstance(content, str):
        return content
    if not content:
        return ""
    return "\n".join(
        p["text"]
        for p in content
        if p.get("type") in _TEXT_PARTS and isinstance(p.get("text"), str)
    )


def guard_inputs(request: ChatRequest) -> list[GuardInput]:
    """One input per message, in order (empty text included, so guards can count messages)."""
    return [
        GuardInput(i, m.role, message_text(m.content), _SOURCES[m.role])
        for i, m in enumerate(request.messages)
    ]


def apply_replacements(request: ChatRequest, replacements: Mapping[int, str]) -> None:
    """Write each replacement into its message, in the validated request and in the kept client
    body `to_upstream` forwards (which then must not send the original text)."""
    for index, text in replacements.items():
        message = request.messages[index]
        message.content = _replaced(message.content, text)
    wire = _kept_wire(request)
    if wire is None:
        return
    messages = list(wire["messages"])
    for index, text in replacements.items():
        original = dict(messages[index])
        original["content"] = _replaced(original.get("content"), text)
        messages[index] = original
    request.keep_wire({**wire, "messages": messages})


def _replaced(content: Any, text: str) -> str | list[JSONObject]:
    """`content` with its text replaced: a string becomes `text`; in a list of parts the first
    text part takes all of `text` and the other text parts go (images and files stay)."""
    if not isinstance(content, list):
        return text
    parts: list[JSONObject] = []
    placed = False
    for part in content:
        if isinstance(part, dict) and part.get("type") in _TEXT_PARTS:
            if not placed:
                parts.append({**part, "text": text})
                placed = True
            continue
        parts.append(part)
    return parts if placed else [{"type": "text", "text": text}, *parts]


def _kept_wire(request: ChatRequest) -> JSONObject | None:
    # `ChatRequest` keeps the client's body privately (`keep_wire`); a guard that changes the
    # text must change that copy too, or the original would still be forwarded.
    private = request.__pydantic_private__ or {}
    wire = private.get("_wire")
    return wire if isinstance(wire, dict) else None
