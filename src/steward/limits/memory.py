"""Limits counted in this process only: sub-bucketed windows and budgets in dicts, pruned as
time passes.

A rate rule counts the last `BUCKETS + 1` buckets of its window (`window.py`): over any span of
`window_s` seconds it never admits more than its limit, and it under-admits by at most one
bucket's width (1 s of a minute). The count is summed afresh from the buckets on every request
rather than kept as a running total, so it adds in the order the Redis script does (a running
total would drift from it by float error) and both backends decide alike.

One event loop touches these counters and no method awaits while it holds them, so no lock is
needed. Memory stays bounded: a rate counter keeps the buckets it still counts (at most
`BUCKETS + 1`), a budget counter is dropped once its period ends, and a sweep every
`sweep_every` reservations drops whatever nobody asked about since.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from steward.limits import window
from steward.limits.base import Refusal, Reservation, Rule

__all__ = ["MemoryLimiter"]


@dataclass(slots=True)
class _Rate:
    window_s: float
    counts: dict[int, float] = field(default_factory=dict)
    """Bucket index -> count; `prune` drops the buckets that left the count."""

    def prune(self, now: float) -> None:
        oldest = window.counted_buckets(now, self.window_s).start
        for old in [b for b in self.counts if b < oldest]:
            del self.counts[old]


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
                found[key] = window.rate_used(rate.counts, now, rate.window_s)
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
        counts: dict[int, float] = {}
        if rate is not None and rate.window_s == rule.window_s:
            rate.prune(now)
            counts = rate.counts
        # else never counted, or counted with another window (the limit was reconfigured)
        used = window.rate_used(counts, now, rule.window_s)
        if window.fits(used, rule.amount, rule.limit):
            return None
        args = (counts, now, rule.window_s, rule.limit, rule.amount)
        return Refusal(rule, window.rate_retry_after(*args), used)

    def _add(self, rule: Rule, now: float) -> None:
        if rule.kind == "budget":
            budget = self._budget(rule.key, now)
            if budget is None:
                budget = self._budgets[rule.key] = _Budget(rule.seed, rule.expires_at)
            budget.spend += rule.amount
            return
        rate = self._rates.get(rule.key)
        if rate is None or rate.window_s != rule.window_s:
            rate = self._rates[rule.key] = _Rate(rule.window_s)
        bucket = window.bucket_of(now, rule.window_s)
        rate.counts[bucket] = rate.counts.get(bucket, 0.0) + rule.amount

    def _adjust(self, rule: Rule, reserved_at: float, delta: float) -> None:
        """Apply a settle's difference to the bucket (or budget period) reserved in; one that is
        gone (it left the count, or the period is over) is left alone, as in Redis."""
        if rule.kind == "budget":
            budget = self._budgets.get(rule.key)
            if budget is not None:
                budget.spend += delta
            return
        rate = self._rates.get(rule.key)
        bucket = window.bucket_of(reserved_at, rule.window_s)
        if rate is not None and bucket in rate.counts:
            rate.counts[bucket] = max(0.0, rate.counts[bucket] + delta)

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
        """Drop every bucket and budget counter that no longer counts at `now`."""
        for key, rate in list(self._rates.items()):
            rate.prune(now)
            if not rate.counts:
                del self._rates[key]
        for key in [k for k, b in self._budgets.items() if b.expired(now)]:
            del self._budgets[key]

    def counters(self) -> int:
        """How many counters (rate buckets and budgets) are held (for tests and metrics: memory
        must stay bounded)."""
        return sum(len(r.counts) for r in self._rates.values()) + len(self._budgets)
