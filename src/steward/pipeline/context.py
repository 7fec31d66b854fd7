"""The call context: everything one request carries through the pipeline, typed."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from steward.auth.keyring import Principal
from steward.errors import StewardError
from steward.guards.base import Decision
from steward.routing.attempts import Attempt
from steward.routing.targets import Target
from steward.types import Endpoint, Operation
from steward.wire.openai import ChatRequest, EmbeddingRequest, TokenUsage


@dataclass(slots=True)
class CallContext:
    """One request's state. Stages read and fill it; the record stage turns it into a row."""

    id: str
    endpoint: Endpoint
    raw_body: bytes
    credential: str | None
    body_bytes: int = 0
    """Size of the body as sent (read or declared); a body over the limit is not kept."""
    started: float = field(default_factory=time.perf_counter)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    principal: Principal | None = None
    request: ChatRequest | EmbeddingRequest | None = None
    public_model: str | None = None
    target: Target | None = None
    stream: bool = False
    usage: TokenUsage | None = None
    """Tokens of the answer returned, as its upstream reported them."""
    spent: list[tuple[Target, TokenUsage]] = field(default_factory=list)
    """Upstream answers paid for but not returned: the output guards' re-asks and samples, and
    answers they turned down (before a fallback or a block). Their tokens and cost count with
    the answer's, on the record and against limits and budgets (`total_usage`, `settle_cost`)."""
    ttft_ms: float | None = None
    error: StewardError | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    """Request headers stages may read: `cache-control`, `traceparent`, `tracestate` and
    `x-steward-*`, names lowercase."""
    response_headers: dict[str, str] = field(default_factory=dict)
    """Headers stages add to the response (`x-steward-cache`, ...)."""
    attempts: list[Attempt] = field(default_factory=list)
    cache: str | None = None
    cache_similarity: float | None = None
    cost_usd: float | None = None
    trace_id: str | None = None
    """The W3C trace id (32 hex digits) this call belongs to, set by the trace stage."""
    prompt_name: str | None = None
    prompt_version: int | None = None
    """The prompt version a `prompt:` model resolved to, set by the prompt stage."""
    guards: list[Decision] = field(default_factory=list)
    """Every guard decision on this call, input and output, in the order they were made."""
    confidence: float | None = None
    """The answer's confidence in [0, 1], set by the output guards."""
    escalated: bool = False
    """An escalation item was stored for human review."""
    pseudonyms: dict[str, str] = field(default_factory=dict)
    """Placeholders the PII guard put in the request (`<PERSON_1>`) and the values they stand
    for; the answer gets the real values back."""

    @property
    def operation(self) -> Operation:
        return "embeddings" if self.endpoint == "embeddings" else "chat"

    def chat_request(self) -> ChatRequest:
        if not isinstance(self.request, ChatRequest):
            raise TypeError("this call carries no chat request")
        return self.request

    def embedding_request(self) -> EmbeddingRequest:
        if not isinstance(self.request, EmbeddingRequest):
            raise TypeError("this call carries no embeddings request")
        return self.request

    def total_usage(self) -> TokenUsage | None:
        """`usage` plus everything `spent`; None when no upstream reported any."""
        if not self.spent:
            return self.usage
        parts = [u for _, u in self.spent] + ([self.usage] if self.usage is not None else [])
        return TokenUsage(
            input_tokens=sum(u.input_tokens for u in parts),
            output_tokens=sum(u.output_tokens for u in parts),
            cached_input_tokens=sum(u.cached_input_tokens for u in parts),
            reasoning_tokens=sum(u.reasoning_tokens for u in parts),
        )

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000.0
