"""The request record: one row per request that reached the gateway."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class RequestRecord:
    """What happened to one request. Built on the request path, written off it in batches."""

    id: str
    created_at: datetime
    endpoint: str
    status: int
    latency_ms: float
    config_hash: str
    stream: bool = False
    key_id: str | None = None
    public_model: str | None = None
    target: str | None = None
    error_type: str | None = None
    ttft_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    attempts: str | None = None
    """JSON list of every routing attempt: target, status, error type, latency, message."""
    attempt_count: int | None = None
    cache: str | None = None
    """`hit`, `semantic`, `miss`, `bypass`, `skip`, or None when the model has no cache."""
    cache_similarity: float | None = None
    team_id: str | None = None
    app_id: str | None = None
    cost_usd: float | None = None
    """From provider-reported usage and the pricing table; 0 for a cache hit."""
    user: str | None = None
    """The end user, from the request's `user` field or the `x-steward-user` header."""
    trace_id: str | None = None
    """The W3C trace id of the call (the caller's `traceparent`, or one Steward started)."""
    prompt_name: str | None = None
    prompt_version: int | None = None
    """The prompt version that served the call, for `prompt:` models."""
    guards: str | None = None
    """JSON list of guard decisions: guard, action, score, latency_ms, detail."""
    confidence: float | None = None
    escalated: bool | None = None

    def to_row(self) -> dict[str, Any]:
        return asdict(self)
