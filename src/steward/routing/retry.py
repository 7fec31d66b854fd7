"""What to do after a failed attempt, and how long to wait before trying again."""

from __future__ import annotations

import random
import re
from typing import Literal

from steward.errors import (
    OutputGuardError,
    OverloadedError,
    ProviderError,
    StewardError,
    UpstreamStatusError,
)

__all__ = ["Verdict", "backoff_s", "is_context_length", "verdict"]

Verdict = Literal["retry", "next", "larger", "stop"]
"""`retry` the same target (after backoff), try the `next` target, move to a target with a
`larger` context window, or `stop` and return the error to the caller."""

_CONTEXT_LENGTH = re.compile(
    r"context[_ ]length|context window|maximum context|prompt is too long|too many tokens",
    re.IGNORECASE,
)


def is_context_length(error: StewardError) -> bool:
    return isinstance(error, UpstreamStatusError) and (
        error.code == "context_length_exceeded"
        or (error.upstream_status in (400, 413) and bool(_CONTEXT_LENGTH.search(error.message)))
    )


def verdict(error: StewardError) -> Verdict:
    """Client errors stop at once; context-length errors look for a larger window; an answer
    an output guard rejected moves to the next target; upstream
    trouble (connection, timeout, 5xx, 429, a full local queue) is retried, then falls back."""
    if is_context_length(error):
        return "larger"
    if isinstance(error, OutputGuardError):
        return "next"  # the target answered, but not acceptably: retrying it would cost as much
    if isinstance(error, UpstreamStatusError):
        return "stop" if error.client_error else "retry"
    if isinstance(error, ProviderError | OverloadedError):
        return "retry"
    return "stop"


def backoff_s(retry: int, base_ms: float, cap_ms: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**retry)]."""
    return rng.uniform(0.0, min(cap_ms, base_ms * (2**retry))) / 1000.0
