"""The limits guard: a request with more characters, estimated tokens or messages than the model
allows is blocked, with a message naming the limit and the value (they are no secret)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from steward.config.guards_input import LimitsGuardConfig
from steward.costs.tokens import estimate_input_tokens
from steward.guards.base import Decision, GuardInput, InputVerdict
from steward.wire.openai import ChatMessage, ChatRequest

__all__ = ["LimitsGuard", "estimated_tokens"]


def estimated_tokens(inputs: Sequence[GuardInput]) -> int:
    """The gateway's token estimate (`costs/tokens.py`) of the inputs' text, per message."""
    messages = [ChatMessage.model_construct(role=i.role, content=i.text) for i in inputs]
    return estimate_input_tokens(ChatRequest.model_construct(model="-", messages=messages))


class LimitsGuard:
    name = "limits"

    def __init__(self, config: LimitsGuardConfig) -> None:
        self._config = config

    def refusal(self, decision: Decision) -> str:
        return (
            f"The request was blocked by the limits guard: {decision.detail}; shorten it, or "
            "ask the operator to raise the limit."
        )

    async def check(self, inputs: Sequence[GuardInput]) -> InputVerdict:
        started = time.perf_counter()
        detail = self._over(inputs)
        latency_ms = (time.perf_counter() - started) * 1000.0
        decision = Decision(self.name, "block" if detail else "allow", None, latency_ms, detail)
        return InputVerdict(decision)

    def _over(self, inputs: Sequence[GuardInput]) -> str | None:
        config = self._config
        if config.max_messages is not None and len(inputs) > config.max_messages:
            return f"it has {len(inputs)} messages, over the limit of {config.max_messages} (max_messages)"
        if config.max_chars is not None:
            chars = sum(len(i.text) for i in inputs)
            if chars > config.max_chars:
                return (
                    f"it has {chars} characters, over the limit of {config.max_chars} (max_chars)"
                )
        if config.max_tokens is not None:
            tokens = estimated_tokens(inputs)
            if tokens > config.max_tokens:
                return f"it has about {tokens} tokens, over the limit of {config.max_tokens} (max_tokens)"
        return None
