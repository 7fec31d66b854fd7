"""What every guard shares: the decision it records, and the protocols input guards implement.

A guard's decision is on the request record (`guards`, a JSON list) and in metrics; a guard that
blocks raises `GuardBlockedError`, whose message names the guard and never the detection
details (scores, matched patterns) an attacker could tune against. Those stay on the record.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, TypeAlias

import orjson

from steward.types import JSONObject

if TYPE_CHECKING:
    from steward.wire.openai import ChatRequest

__all__ = [
    "ACTIONS",
    "ASK",
    "Action",
    "Ask",
    "Decision",
    "GuardInput",
    "InputGuard",
    "InputVerdict",
    "decisions_json",
]

Ask: TypeAlias = "Callable[[ChatRequest], Awaitable[JSONObject]]"
"""Runs a chat request to the model it names through the gateway; returns the response body
(the injection guard's judge asks its model this way)."""

ASK: ContextVar[Ask | None] = ContextVar("steward_guard_ask", default=None)
"""Set by the input guard stage for the request being guarded (`judge_asker`); None elsewhere,
where a guard that needs a model has none to ask."""

Action = Literal["allow", "flag", "block", "strip", "mask", "pseudonymise", "repair", "escalate"]
ACTIONS: tuple[Action, ...] = (
    "allow",
    "flag",
    "block",
    "strip",
    "mask",
    "pseudonymise",
    "repair",
    "escalate",
)


@dataclass(frozen=True, slots=True)
class Decision:
    """One guard's verdict on one call. `score` is the guard's own measure (for injection the
    highest layer score, in [0, 1]); `detail` is for operators (the record), never the caller."""

    guard: str
    action: Action
    score: float | None = None
    latency_ms: float = 0.0
    detail: str | None = None

    def to_json(self) -> JSONObject:
        data: JSONObject = {"guard": self.guard, "action": self.action}
        if self.score is not None:
            data["score"] = round(self.score, 4)
        data["latency_ms"] = round(self.latency_ms, 3)
        if self.detail:
            data["detail"] = self.detail
        return data


@dataclass(frozen=True, slots=True)
class GuardInput:
    """One piece of text a guard looks at, and where it came from: the user's turn, the system
    prompt, an earlier assistant turn, a tool output, or a document inside a message."""

    message_index: int
    role: str
    text: str
    source: Literal["user", "system", "assistant", "tool", "document"] = "user"


@dataclass(frozen=True, slots=True)
class InputVerdict:
    """What an input guard concluded: its decision, and for `strip`/`mask`/`pseudonymise` the
    replacement text of each message it changed (by message index)."""

    decision: Decision
    replacements: dict[int, str] | None = None
    pseudonyms: dict[str, str] | None = None
    """For `pseudonymise`: placeholder (`<PERSON_1>`) to the real value, restored in the answer."""
    message: str | None = None
    """For `block`: what the caller is told (names the guard and what to fix, nothing more)."""


class InputGuard(Protocol):
    """A guard on the request, before the model. Runs CPU work off the event loop itself."""

    @property
    def name(self) -> str: ...

    async def check(self, inputs: Sequence[GuardInput]) -> InputVerdict: ...


def decisions_json(decisions: Sequence[Decision]) -> str:
    """The record's `guards` column."""
    return orjson.dumps([d.to_json() for d in decisions]).decode()
