"""The public names of `steward.limits` are pinned: adding or removing one is a decision."""

from __future__ import annotations

import steward.limits


def test_public_api_is_pinned() -> None:
    assert steward.limits.__all__ == [
        "FailoverLimiter",
        "Limiter",
        "MemoryLimiter",
        "RedisLimiter",
        "Refusal",
        "Reservation",
        "Rule",
        "RuleKind",
    ]
    assert all(hasattr(steward.limits, name) for name in steward.limits.__all__)
