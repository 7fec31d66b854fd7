"""Rate limits and budgets: the rules, and limiters counting them in memory, Redis, or both."""

from __future__ import annotations

from steward.limits.base import Limiter, Refusal, Reservation, Rule, RuleKind
from steward.limits.failover import FailoverLimiter
from steward.limits.memory import MemoryLimiter
from steward.limits.redis import RedisLimiter

__all__ = [
    "FailoverLimiter",
    "Limiter",
    "MemoryLimiter",
    "RedisLimiter",
    "Refusal",
    "Reservation",
    "Rule",
    "RuleKind",
]
