"""Cache keys: a request normalised to canonical JSON and hashed, within a scope.

A key covers everything that can change the answer: the messages, the public model and every
parameter except the few that only shape delivery (`stream`, `stream_options`) or bookkeeping
(`user`, `metadata`, `store`, `service_tier`). Unknown parameters count, because they pass
through to the upstream and may change what it says.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from steward.pipeline.context import CallContext
from steward.wire.openai import ChatMessage, ChatRequest

__all__ = ["ANONYMOUS_SCOPE", "Probe", "Scope", "canonical_hash", "probe_for", "prompt_text"]

ANONYMOUS_SCOPE = "anon"
"""The key id of callers when no auth stage names one."""
_NOT_ANSWER = frozenset(
    {"model", "messages", "stream", "stream_options", "user", "metadata", "store", "service_tier"}
)
_VERSION = 1
"""Bumped when the key's recipe changes, so old entries are never read with a new meaning."""


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose cache an entry belongs to. An entry is never served outside its scope.

    Tenancy will add a field here; `parts` is what keys and semantic scopes hash.
    """

    key_id: str
    public_model: str

    @classmethod
    def of(cls, ctx: CallContext) -> Scope:
        key_id = ctx.principal.key_id if ctx.principal is not None else ANONYMOUS_SCOPE
        return cls(key_id=key_id, public_model=ctx.public_model or "")

    def parts(self) -> list[str]:
        return [self.key_id, self.public_model]


@dataclass(frozen=True, slots=True)
class Probe:
    """What the cache needs to look a request up and to store its answer."""

    key: str
    """The exact key: scope, messages and parameters."""
    semantic_scope: str | None
    """Scope, parameters and every message but the last user one; None if not semantic-able."""
    prompt: str | None
    """The text of the last user message, which the semantic index compares."""


def canonical_hash(value: Any) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def answer_parameters(request: ChatRequest) -> dict[str, Any]:
    """The request's parameters that can change the answer, as JSON values."""
    data = request.model_dump(mode="json", exclude_none=True, exclude=set(_NOT_ANSWER))
    return {k: v for k, v in data.items() if k not in _NOT_ANSWER}


def probe_for(scope: Scope, request: ChatRequest) -> Probe:
    messages = [_message(m) for m in request.messages]
    params = answer_parameters(request)
    key = canonical_hash({"v": _VERSION, "scope": scope.parts(), "m": messages, "p": params})
    prompt = prompt_text(request)
    semantic_scope = None
    if prompt is not None:
        context = messages[:-1]
        semantic_scope = canonical_hash(
            {"v": _VERSION, "scope": scope.parts(), "context": context, "p": params}
        )
    return Probe(key=key, semantic_scope=semantic_scope, prompt=prompt)


def prompt_text(request: ChatRequest) -> str | None:
    """The last message's text when it is a user message made only of text, else None."""
    last = request.messages[-1]
    if last.role != "user":
        return None
    content = last.content
    if isinstance(content, str):
        return content if content.strip() else None
    if not content:
        return None
    texts = [p.get("text") for p in content]
    if not all(isinstance(p.get("type"), str) and p["type"] == "text" for p in content):
        return None
    joined = "\n".join(t for t in texts if isinstance(t, str))
    return joined if joined.strip() else None


def _message(message: ChatMessage) -> dict[str, Any]:
    data: dict[str, Any] = message.model_dump(mode="json", exclude_none=True)
    return data
