"""Reading and rewriting answers and the requests the output guards send: pure, no I/O."""

from __future__ import annotations

from typing import Any

from steward.types import JSONObject
from steward.wire.openai import ChatRequest

__all__ = [
    "contents",
    "derive",
    "messages_of",
    "reask_messages",
    "system_text",
    "with_canary",
    "with_content",
    "with_fallback",
    "without_logprobs",
]

_SYSTEM_ROLES = ("system", "developer")


def contents(body: JSONObject) -> list[tuple[int, str]]:
    """(position, text) of every choice whose message has text content (tool calls have none)."""
    found = []
    for position, choice in enumerate(body.get("choices") or []):
        message = choice.get("message") if isinstance(choice, dict) else None
        text = message.get("content") if isinstance(message, dict) else None
        if isinstance(text, str):
            found.append((position, text))
    return found


def with_content(body: JSONObject, position: int, text: str) -> JSONObject:
    """A copy of `body` whose choice at `position` says `text`."""
    choices = list(body["choices"])
    choice = dict(choices[position])
    choice["message"] = {**choice["message"], "content": text}
    choices[position] = choice
    return {**body, "choices": choices}


def with_fallback(body: JSONObject, text: str) -> JSONObject:
    """The completion with one choice that says `text` and nothing else (no tool calls)."""
    message = {"role": "assistant", "content": text, "refusal": None}
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
    return {**body, "choices": [choice]}


def without_logprobs(body: JSONObject) -> JSONObject:
    """The completion without the logprobs the guards asked for and the caller did not."""
    choices = [
        {**c, "logprobs": None} if isinstance(c, dict) else c for c in body.get("choices") or []
    ]
    return {**body, "choices": choices}


def derive(request: ChatRequest, **changes: Any) -> ChatRequest:
    """A copy of a request, non-streamed, with some parameters (or the messages) changed."""
    data = request.model_dump(exclude_none=True)
    data.pop("stream_options", None)
    data["stream"] = False
    data.update(changes)
    return ChatRequest.model_validate(data)


def messages_of(request: ChatRequest) -> list[JSONObject]:
    return [m.model_dump(exclude_none=True) for m in request.messages]


def with_canary(messages: list[JSONObject], line: str) -> list[JSONObject]:
    """The messages with `line` at the end of the first system message (or in a new one)."""
    for index, message in enumerate(messages):
        if message.get("role") not in _SYSTEM_ROLES:
            continue
        content = message.get("content")
        if isinstance(content, str):
            content = f"{content}\n{line}"
        elif isinstance(content, list):
            content = [*content, {"type": "text", "text": line}]
        else:
            content = line
        return [*messages[:index], {**message, "content": content}, *messages[index + 1 :]]
    return [{"role": "system", "content": line}, *messages]


def system_text(request: ChatRequest) -> str:
    """The text of every system (and developer) message, as the caller sent it."""
    parts: list[str] = []
    for message in request.messages:
        if message.role not in _SYSTEM_ROLES:
            continue
        if isinstance(message.content, str):
            parts.append(message.content)
        elif isinstance(message.content, list):
            parts += [p["text"] for p in message.content if isinstance(p.get("text"), str)]
    return "\n".join(parts)


def reask_messages(
    messages: list[JSONObject], answer: str, errors: tuple[str, ...]
) -> list[JSONObject]:
    """The conversation with the invalid answer and what was wrong with it appended."""
    problems = "\n".join(f"- {e}" for e in errors)
    feedback = (
        "Your previous answer does not match the required JSON schema:\n"
        f"{problems}\n"
        "Reply again with only the corrected JSON, no prose and no code fences."
    )
    return [
        *messages,
        {"role": "assistant", "content": answer},
        {"role": "user", "content": feedback},
    ]
