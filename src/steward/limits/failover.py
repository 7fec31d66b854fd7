"""Limits that survive Redis going away: shared counters while it answers, local ones while not.

What this promises:
- While Redis answers, every replica counts against the same counters (`redis.py`).
- While it does not, each replica enforces every limit on its own counters (`memory.py`), so N
  replicas admit up to N times a limit; reservations made so are `degraded`. Budgets counted
  locally start from their seed (the spend the database knows). Traffic counted locally is not
  copied to Redis afterwards.
- After a failure Redis is asked again at most once per `retry_s` (by the callers' clock), so
  an outage costs one timeout per `retry_s`, not one per request.
- A reservation is settled by the backend that made it. A settle Redis could not take (or that
  came while Redis was taken to be down) is kept, at most `max_pending` of them (past that the
  oldest are dropped and counted in `dropped`), and retried by `flush()`: in the background
  after the next call Redis answers, and when awaited (the runtime does at shutdown).
- A settle whose reply was lost to a timeout after Redis had applied it may be applied again:
  settles are at least once, not exactly once.
- One warning `limits.redis_unavailable` per outage, one `limits.redis_recovered` at its end.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping, Sequence

import structlog

from steward.errors import StorageError
from steward.limits.base import Refusal, Reservation, Rule
from steward.limits.memory import MemoryLimiter
from steward.limits.redis import RedisLimiter

__all__ = ["FailoverLimiter"]

log = structlog.get_logger("steward.limits")


class FailoverLimiter:
    """A `Limiter` over Redis that counts in memory while Redis is unreachable."""

    def __init__(
        self,
        primary: RedisLimiter,
        fallback: MemoryLimiter,
        *,
        retry_s: float = 1.0,
        max_pending: int = 10_000,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.retry_s = retry_s
        self.dropped = 0
        self.outages = 0
        """Times Redis was found unreachable (each outage counted once)."""
        self._pending: deque[tuple[Reservation, dict[str, float]]] = deque()
        self._max_pending = max_pending
        self._down = False
        self._retry_at = 0.0
        self._now = 0.0  # the latest clock reading a caller gave; settles bring none
        self._flushing: asyncio.Task[bool] | None = None

    @property
    def degraded(self) -> bool:
        """True while Redis is taken to be unreachable."""
        return self._down

    @property
    def pending(self) -> int:
        """Settles waiting for Redis."""
        return len(self._pending)

    async def reserve(self, rules: Sequence[Rule], now: float) -> Reservation | Refusal:
        self._now = now
        if not self._down or now >= self._retry_at:
            if self._down:
                self._retry_at = now + self.retry_s  # one probe at a time, not one per caller
            try:
                result = await self.primary.reserve(rules, now)
            except StorageError as exc:
                self._failed(exc, now)
            else:
                self._answered()
                return result
        result = await self.fallback.reserve(rules, now)
        if isinstance(result, Reservation):
            result.degraded = True
        return result

    async def settle(self, reservation: Reservation, actual: Mapping[str, float]) -> None:
        if reservation.degraded:
            await self.fallback.settle(reservation, actual)
            return
        if reservation.settled:
            return
        if self._down:
            self._keep(reservation, actual)
            return
        try:
            await self.primary.settle(reservation, actual)
        except StorageError as exc:
            self._failed(exc, self._now)
            self._keep(reservation, actual)
        else:
            self._answered()

    async def usage(self, keys: Sequence[str | Rule], now: float) -> dict[str, float]:
        """Shared counts, or this replica's own while Redis is unreachable."""
        try:
            return await self.primary.usage(keys, now)
        except StorageError:
            return await self.fallback.usage(keys, now)

    async def flush(self) -> bool:
        """Retry waiting settles (after a background flush in progress); True when none is left.

        The runtime awaits this at shutdown, before it closes the Redis store."""
        task = self._flushing
        if task is not None and task is not asyncio.current_task():
            await asyncio.wait([task])
        return await self._flush_pending()

    async def _flush_pending(self) -> bool:
        while self._pending:
            reservation, actual = self._pending.popleft()
            try:
                await self.primary.settle(reservation, actual)
            except StorageError as exc:
                self._pending.appendleft((reservation, actual))
                self._failed(exc, self._now)
                return False
            self._recovered()
        return True

    def _keep(self, reservation: Reservation, actual: Mapping[str, float]) -> None:
        if len(self._pending) >= self._max_pending:
            self._pending.popleft()
            self.dropped += 1
        self._pending.append((reservation, dict(actual)))

    def _failed(self, exc: StorageError, now: float) -> None:
        if not self._down:
            self._down = True
            self.outages += 1
            log.warning("limits.redis_unavailable", error=exc.message, pending=len(self._pending))
        self._retry_at = now + self.retry_s

    def _answered(self) -> None:
        self._recovered()
        if self._pending and (self._flushing is None or self._flushing.done()):
            self._flushing = asyncio.get_running_loop().create_task(
                self._flush_pending(), name="limits.flush"
            )

    def _recovered(self) -> None:
        if self._down:
            self._down = False
            log.info("limits.redis_recovered", pending=len(self._pending))
