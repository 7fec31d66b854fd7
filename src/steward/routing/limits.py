"""Time limits of one call: the total deadline and the limit of each attempt.

Both come from the model's config and may be overridden per request by headers
(`x-steward-deadline-ms`, `x-steward-attempt-timeout-ms`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from steward.config.schema import ModelConfig
from steward.errors import InvalidRequestError

__all__ = ["CallLimits"]

DEADLINE_HEADER = "x-steward-deadline-ms"
ATTEMPT_HEADER = "x-steward-attempt-timeout-ms"
DEFAULT_DEADLINE_S = 600.0


@dataclass(slots=True)
class CallLimits:
    deadline: float
    """`time.monotonic()` value after which no attempt starts and running ones are cut."""
    attempt_s: float | None

    @classmethod
    def for_call(cls, policy: ModelConfig | None, headers: Mapping[str, str]) -> CallLimits:
        deadline_s = policy.deadline_s if policy is not None else DEFAULT_DEADLINE_S
        attempt_s = policy.attempt_timeout_s if policy is not None else None
        if headers:
            deadline_s = _header_s(headers, DEADLINE_HEADER) or deadline_s
            attempt_s = _header_s(headers, ATTEMPT_HEADER) or attempt_s
        return cls(time.monotonic() + deadline_s, attempt_s)

    def remaining_s(self) -> float:
        return self.deadline - time.monotonic()

    def attempt_timeout(self) -> float:
        remaining = self.remaining_s()
        return remaining if self.attempt_s is None else min(remaining, self.attempt_s)

    def expired(self) -> bool:
        return self.remaining_s() <= 0


def _header_s(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise InvalidRequestError(
            f"Header {name} must be a positive number of milliseconds, not {raw!r}."
        )
    return value / 1000.0
