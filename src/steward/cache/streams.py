"""Streams and cached answers: a completion replayed as chunks, chunks assembled into one.

Both sides speak the OpenAI shapes (`chat.completion` and `chat.completion.chunk`), which is
what every encoder in `server/streaming.py` reads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from steward.types import JSONObject

__all__ = ["StreamAssembler", "replay_chunks", "replay_rest"]

_HEAD = ("id", "created", "model", "system_fingerprint")


def replay_chunks(body: JSONObject) -> list[JSONObject]:
    """The chunks a stream of `body` would have had: per choice a role delta, the content (and
    refusal) in one delta, each tool call whole, the finish reason; then a usage chunk."""
    head: JSONObject = {k: body[k] for k in _HEAD if k in body}
    head["object"] = "chat.completion.chunk"
    chunks: list[JSONObject] = []
    for position, choice in enumerate(body.get("choices") or []):
        index = choice.get("index", position)
        for delta in _deltas(choice.get("message") or {}):
            chunks.append({**head, "choices": [_choice(index, delta, None)]})
        done = _choice(index, {}, choice.get("finish_reason"))
        chunks.append({**head, "choices": [done]})
    if body.get("usage") is not None:
        chunks.append({**head, "choices": [], "usage": body["usage"]})
    return chunks


async def replay_rest(chunks: list[JSONObject]) -> AsyncIterator[JSONObject]:
    for chunk in chunks:
        yield chunk


def _choice(index: int, delta: JSONObject, finish_reason: Any) -> JSONObject:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


def _deltas(message: JSONObject) -> list[JSONObject]:
    calls = message.get("tool_calls") or []
    content = message.get("content")
    first: JSONObject = {
        "role": message.get("role", "assistant"),
        "content": "" if not calls else None,
    }
    deltas = [first]
    if isinstance(content, str) and content:
        deltas.append({"content": content})
    if isinstance(message.get("refusal"), str):
        deltas.append({"refusal": message["refusal"]})
    for index, call in enumerate(calls):
        deltas.append({"tool_calls": [{"index": index, **call}]})
    return deltas


class _Choice:
    __slots__ = ("calls", "content", "finish_reason", "refusal", "role")

    def __init__(self) -> None:
        self.role = "assistant"
        self.content: list[str] = []
        self.refusal: list[str] = []
        self.calls: dict[int, JSONObject] = {}
        self.finish_reason: str | None = None

    def feed(self, choice: JSONObject) -> None:
        delta = choice.get("delta") or {}
        if isinstance(role := delta.get("role"), str):
            self.role = role
        if isinstance(text := delta.get("content"), str):
            self.content.append(text)
        if isinstance(text := delta.get("refusal"), str):
            self.refusal.append(text)
        for position, call in enumerate(delta.get("tool_calls") or []):
            self._call(call.get("index", position), call)
        if isinstance(reason := choice.get("finish_reason"), str):
            self.finish_reason = reason

    def _call(self, index: int, part: JSONObject) -> None:
        call = self.calls.setdefault(
            index, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
        )
        if part.get("id"):
            call["id"] = part["id"]
        if part.get("type"):
            call["type"] = part["type"]
        function = part.get("function") or {}
        if function.get("name"):
            call["function"]["name"] = function["name"]
        if isinstance(function.get("arguments"), str):
            call["function"]["arguments"] += function["arguments"]

    def message(self) -> JSONObject:
        message: JSONObject = {"role": self.role}
        message["content"] = "".join(self.content) if self.content or not self.calls else None
        message["refusal"] = "".join(self.refusal) if self.refusal else None
        if self.calls:
            message["tool_calls"] = [self.calls[i] for i in sorted(self.calls)]
        return message


class StreamAssembler:
    """Watches a stream's chunks and rebuilds the `chat.completion` they add up to.

    `completion()` is None unless every choice finished; a stream that carried logprobs (they
    are not kept) or a chunk it could not read is not assembled, so its answer is not cached.
    """

    __slots__ = ("_choices", "_head", "_spoilt", "_usage")

    def __init__(self) -> None:
        self._head: JSONObject = {}
        self._choices: dict[int, _Choice] = {}
        self._usage: JSONObject | None = None
        self._spoilt = False

    def __call__(self, chunk: JSONObject) -> None:
        """Observe one chunk; never raises, since it runs inside the stream being served."""
        if self._spoilt:
            return
        try:
            self._feed(chunk)
        except (AttributeError, KeyError, TypeError, ValueError):
            self._spoilt = True  # a chunk this does not understand: do not cache the answer

    def _feed(self, chunk: JSONObject) -> None:
        if not self._head:
            self._head = {k: chunk[k] for k in _HEAD if k in chunk}
        if isinstance(usage := chunk.get("usage"), dict):
            self._usage = usage
        for position, choice in enumerate(chunk.get("choices") or []):
            if choice.get("logprobs") is not None:
                self._spoilt = True
            index = choice.get("index", position)
            self._choices.setdefault(index, _Choice()).feed(choice)

    def completion(self) -> JSONObject | None:
        choices = [self._choices[i] for i in sorted(self._choices)]
        if self._spoilt or not choices or any(c.finish_reason is None for c in choices):
            return None
        body: JSONObject = {"id": self._head.get("id"), "object": "chat.completion"}
        body.update({k: v for k, v in self._head.items() if k != "id"})
        body["choices"] = [
            {"index": i, "message": c.message(), "logprobs": None, "finish_reason": c.finish_reason}
            for i, c in zip(sorted(self._choices), choices, strict=True)
        ]
        if self._usage is not None:
            body["usage"] = self._usage
        return body
