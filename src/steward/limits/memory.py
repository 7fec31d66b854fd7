"""Limits counted in this process only: running-total windows and budgets in dicts, pruned as
time passes.

A rate rule counts the last `BUCKETS + 1` buckets of its window (`window.py`): over any span of
`window_s` seconds it never admits more than its limit, and under sustained overload a span
admits at most one bucket's content (100 ms of a minute) less. Each rule keeps a
`window.Counter` (running total, oldest index, bucket -> count), so a request costs the buckets
that left since the rule's last request, not a sum over the window; the Redis script repeats
the same steps in the same order, and both backends decide alike.

One event loop touches these counters and no method awaits while it holds them, so no lock is
needed. Memory stays bounded: a rate counter keeps the buckets it still counts (at most
`BUCKETS + 1`), a budget counter is dropped once its period ends, and a sweep every
`sweep_every` reservations drops whatever has been idle for two windows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from steward.limits import window
from steward.limits.base import Refusal, Reservation, Rule
from steward.limits.window import BUCKETS, Counter

__all__ = ["MemoryLimiter"]


@dataclass(slots=True)
class _Rate(Counter):
    window_s: float = 60.0
    """The window the rule was last counted with (for the sweep)."""

    def idle(self, now: float) -> bool:
        """Whether a request at `now`, or at a clock up to a window behind it, would start this
        counter over: then dropping it changes nothing, as Redis (which keeps it) would show."""
        oldest = self.oldest
        first = window.bucket_of(now, self.window_s) - BUCKETS
        return oldest is None or first - BUCKETS - 1 > oldest + BUCKETS + 1


@dataclass(slots=True)
class _Budget:
    spend: float
    expires_at: float | None

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at


class MemoryLimiter:
    """A `Limiter` for one replica (or the fallback of a shared one while Redis is away)."""

    def __init__(self, *, sweep_every: int = 1000) -> None:
        self._rates: dict[str, _Rate] = {}
        self._budgets: dict[str, _Budget] = {}
        self._sweep_every = sweep_every
        self._calls = 0

    async def reserve(self, rules: Sequence[Rule], now: float) -> Reservation | Refusal:
        self._tick(now)
        for rule in rules:
            refusal = self._check(rule, now)
            if refusal is not None:
                return refusal
        for rule in rules:
            self._add(rule, now)
        return Reservation(rules=tuple(rules), now=now)

    async def settle(self, reservation: Reservation, actual: Mapping[str, float]) -> None:
        if reservation.settled:
            return
        reservation.settled = True
        for rule in reservation.rules:
            if rule.key in actual:
                self._adjust(rule, reservation.now, actual[rule.key] - rule.amount)

    async def usage(self, keys: Sequence[str | Rule], now: float) -> dict[str, float]:
        """Budget spend, or the window's count (by the window the rule was counted with)."""
        found: dict[str, float] = {}
        for item in keys:
            key = item if isinstance(item, str) else item.key
            budget = self._budget(key, now)
            rate = self._rates.get(key)
            if budget is not None:
                found[key] = budget.spend
            elif rate is not None:
                window_s = rate.window_s if isinstance(item, str) else item.window_s
                probe = Counter(rate.total, rate.oldest, dict(rate.counts))  # a read: no change
                probe.expire(window.bucket_of(now, window_s) - BUCKETS)
                found[key] = probe.total
            else:
                found[key] = item.seed if isinstance(item, Rule) else 0.0
        return found

    def _check(self, rule: Rule, now: float) -> Refusal | None:
        if rule.kind == "budget":
            budget = self._budget(rule.key, now)
            spend = budget.spend if budget is not None else rule.seed
            if window.fits(spend, rule.amount, rule.limit):
                return None
            return Refusal(rule, window.budget_retry_after(now, rule.expires_at), spend)
        rate = self._rates.get(rule.key)
        if rate is None:
            rate = self._rates[rule.key] = _Rate(window_s=rule.window_s)
        rate.window_s = rule.window_s
        rate.expire(math.floor(now / (rule.window_s / BUCKETS)) - BUCKETS)
        if window.fits(rate.total, rule.amount, rule.limit):
            return None
        never = rule.amount > window.ceiling(rule.limit)
        freeing = None if never else rate.freeing(rule.amount, rule.limit)
        args = (freeing, now, rule.window_s, rule.limit, rule.amount)
        return Refusal(rule, window.rate_retry_after(*args), rate.total)

    def _add(self, rule: Rule, now: float) -> None:
        if rule.kind == "budget":
            budget = self._budget(rule.key, now)
            if budget is None:
                budget = self._budgets[rule.key] = _Budget(rule.seed, rule.expires_at)
            budget.spend += rule.amount
            return
        # `_check` made the counter and expired it at this `now`.
        self._rates[rule.key].add(math.floor(now / (rule.window_s / BUCKETS)), rule.amount)

    def _adjust(self, rule: Rule, reserved_at: float, delta: float) -> None:
        """Apply a settle's difference to the bucket (or budget period) reserved in; one that is
        gone (it left the count, or the period is over) is left alone, as in Redis."""
        if rule.kind == "budget":
            budget = self._budgets.get(rule.key)
            if budget is not None:
                budget.spend += delta
            return
        rate = self._rates.get(rule.key)
        if rate is not None:
            rate.adjust(window.bucket_of(reserved_at, rule.window_s), delta)

    def _budget(self, key: str, now: float) -> _Budget | None:
        budget = self._budgets.get(key)
        if budget is not None and budget.expired(now):
            del self._budgets[key]
            return None
        return budget

    def _tick(self, now: float) -> None:
        self._calls += 1
        if self._calls % self._sweep_every == 0:
            self.sweep(now)

    def sweep(self, now: float) -> None:
        """Drop every rate counter idle for two windows (see `_Rate.idle`) and every budget
        counter whose period is over."""
        for key in [k for k, r in self._rates.items() if r.idle(now)]:
            del self._rates[key]
        for key in [k for k, b in self._budgets.items() if b.expired(now)]:
            del self._budgets[key]

    def counters(self) -> int:
        """How many counters (rate buckets and budgets) are held (for tests and metrics: memory
        must stay bounded)."""
        return sum(len(r.counts) for r in self._rates.values()) + len(self._budgets)

    def buckets(self, key: str) -> int:
        """How many buckets the rate rule `key` holds (for tests: at most `BUCKETS + 1`)."""
        rate = self._rates.get(key)
        return 0 if rate is None else len(rate.counts)
