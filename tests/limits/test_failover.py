"""Redis going away: limits still hold in memory, and settles Redis missed reach it later."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping, MutableMapping, Sequence

import pytest
from structlog.testing import capture_logs

from steward.errors import StorageError
from steward.limits import FailoverLimiter, MemoryLimiter, RedisLimiter, Refusal, Reservation, Rule
from steward.storage.redis import RedisStore
from tests.limits.conftest import START
from tests.limits.test_limiter import refused, reserved, rpm, tpm

TPM = "rate:key:k:tpm"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class SwitchedRedisLimiter(RedisLimiter):
    """The real Redis limiter, except while `down`: then it fails as an unreachable Redis does."""

    def __init__(self, store: RedisStore) -> None:
        super().__init__(store)
        self.down = False
        self.calls = 0

    def _reach(self) -> None:
        self.calls += 1
        if self.down:
            raise StorageError("Redis at test is unavailable (switched off).")

    async def reserve(self, rules: Sequence[Rule], now: float) -> Reservation | Refusal:
        self._reach()
        return await super().reserve(rules, now)

    async def settle(self, reservation: Reservation, actual: Mapping[str, float]) -> None:
        self._reach()
        await super().settle(reservation, actual)


def events(logs: list[MutableMapping[str, object]]) -> list[object]:
    return [entry["event"] for entry in logs if str(entry["event"]).startswith("limits.")]


def test_unreachable_redis_still_enforces_limits_in_memory() -> None:
    async def scenario() -> None:
        store = RedisStore(f"redis://127.0.0.1:{closed_port()}/0", timeout_s=0.05)
        limiter = FailoverLimiter(RedisLimiter(store), MemoryLimiter())
        try:
            with capture_logs() as logs:
                made = [await reserved(limiter, [rpm(3)], START + n) for n in range(3)]
                assert all(r.degraded for r in made)
                assert limiter.degraded
                await refused(limiter, [rpm(3)], START + 3)
                await limiter.settle(made[0], {"rate:key:k:rpm": 0})  # a refund, in memory
                assert (await reserved(limiter, [rpm(3)], START + 4)).degraded
            assert events(logs) == ["limits.redis_unavailable"]
            assert limiter.pending == 0
        finally:
            await store.aclose()

    asyncio.run(scenario())


@pytest.mark.redis
def test_a_settle_redis_missed_is_applied_when_it_is_back(
    redis_url: str, redis_prefix: str
) -> None:
    async def scenario() -> None:
        store = RedisStore(redis_url, prefix=redis_prefix)
        primary = SwitchedRedisLimiter(store)
        limiter = FailoverLimiter(primary, MemoryLimiter(), retry_s=1.0)
        shared = RedisLimiter(store)  # what every other replica sees
        try:
            with capture_logs() as logs:
                first = await reserved(limiter, [tpm(1000, 800)], START + 1)
                assert not first.degraded
                primary.down = True
                await limiter.settle(first, {TPM: 100})
                assert limiter.pending == 1 and not first.settled
                during = await reserved(limiter, [tpm(1000, 900)], START + 2)
                assert during.degraded  # memory counts alone, from zero
                await refused(limiter, [tpm(1000, 200)], START + 2.5)
                assert (await shared.usage([TPM], START + 3))[TPM] == 800
                primary.down = False
                back = await reserved(limiter, [tpm(1000, 50)], START + 3)
                assert not back.degraded
                assert await limiter.flush()
            assert limiter.pending == 0 and first.settled
            assert (await shared.usage([TPM], START + 3))[TPM] == 150
            assert events(logs) == ["limits.redis_unavailable", "limits.redis_recovered"]
        finally:
            await store.aclose()

    asyncio.run(scenario())


@pytest.mark.redis
def test_redis_is_probed_once_per_retry_period_and_pending_settles_are_bounded(
    redis_url: str, redis_prefix: str
) -> None:
    async def scenario() -> None:
        store = RedisStore(redis_url, prefix=redis_prefix)
        primary = SwitchedRedisLimiter(store)
        limiter = FailoverLimiter(primary, MemoryLimiter(), retry_s=1.0, max_pending=2)
        try:
            made = [await reserved(limiter, [tpm(1000, 100)], START + 1) for _ in range(3)]
            primary.down = True
            primary.calls = 0
            for reservation in made:
                await limiter.settle(reservation, {TPM: 10})
            for at in (1.2, 1.5, 2.0, 2.5, 3.1):
                assert (await reserved(limiter, [tpm(1000, 1)], START + at)).degraded
            assert primary.calls == 3  # the first settle, then the probes at 2.0 and 3.1
            assert (limiter.pending, limiter.dropped) == (2, 1)
            primary.down = False
            assert await limiter.flush()
            used = await RedisLimiter(store).usage([TPM], START + 4)
            assert used[TPM] == 100 + 10 + 10  # the oldest settle was dropped
        finally:
            await store.aclose()

    asyncio.run(scenario())


@pytest.mark.redis
def test_a_reservation_is_settled_by_the_backend_that_made_it(
    redis_url: str, redis_prefix: str
) -> None:
    async def scenario() -> None:
        store = RedisStore(redis_url, prefix=redis_prefix)
        primary = SwitchedRedisLimiter(store)
        limiter = FailoverLimiter(primary, MemoryLimiter(), retry_s=1.0)
        try:
            await reserved(limiter, [tpm(1000, 300)], START + 1)
            primary.down = True
            local = await reserved(limiter, [tpm(1000, 500)], START + 2)
            primary.down = False
            assert not (await reserved(limiter, [tpm(1000, 1)], START + 4)).degraded
            await limiter.settle(local, {TPM: 0})
            assert (await limiter.fallback.usage([TPM], START + 4))[TPM] == 0
            assert (await primary.usage([TPM], START + 4))[TPM] == 301
        finally:
            await store.aclose()

    asyncio.run(scenario())
