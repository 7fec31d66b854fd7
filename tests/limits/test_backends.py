"""What only one backend can show: Redis keys, expiries, scripts and persistence; memory bounds."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from steward.errors import StorageError
from steward.limits import MemoryLimiter, RedisLimiter, Reservation, Rule
from steward.limits.redis import Script
from steward.storage.redis import RedisStore
from tests.limits.conftest import START
from tests.limits.test_limiter import budget, refused, reserved, tpm


@pytest.mark.redis
def test_redis_budget_persists_across_limiters_and_ignores_a_later_seed(
    redis_url: str, redis_prefix: str
) -> None:
    async def scenario() -> None:
        first = RedisStore(redis_url, prefix=redis_prefix)
        try:
            await reserved(RedisLimiter(first), [budget(1.0, 0.5, seed=0.4)], START)
        finally:
            await first.aclose()
        second = RedisStore(redis_url, prefix=redis_prefix)
        try:
            limiter = RedisLimiter(second)
            refusal = await refused(limiter, [budget(1.0, 0.5, seed=0.0)], START + 1)
            assert refusal.used == pytest.approx(0.9)
            assert await limiter.usage(["budget:bud_1:2026-12"], START + 1) == {
                "budget:bud_1:2026-12": pytest.approx(0.9)
            }
        finally:
            await second.aclose()

    asyncio.run(scenario())


@pytest.mark.redis
def test_redis_keys_and_their_expiries(redis_url: str, redis_prefix: str) -> None:
    async def scenario() -> None:
        store = RedisStore(redis_url, prefix=redis_prefix)
        try:
            total = Rule("budget:bud_2:total", "total budget bud_2", "budget", 5.0, 1.0)
            await reserved(RedisLimiter(store), [tpm(1000, 10), budget(1.0, 0.1), total], START)
            index = int(START // 60)
            assert await store.command("GET", f"{redis_prefix}rl:rate:key:k:tpm:{index}") == b"10"
            ttl = await store.command("PTTL", f"{redis_prefix}rl:rate:key:k:tpm:{index}")
            assert isinstance(ttl, int) and 120_000 < ttl <= 121_000
            ttl = await store.command("PTTL", f"{redis_prefix}bud:budget:bud_1:2026-12")
            assert isinstance(ttl, int) and 3_599_000 < ttl <= 3_600_000  # expires_at - now
            assert await store.command("PTTL", f"{redis_prefix}bud:budget:bud_2:total") == -1
        finally:
            await store.aclose()

    asyncio.run(scenario())


@pytest.mark.redis
def test_a_script_redis_does_not_know_is_sent_whole_once(redis_url: str, redis_prefix: str) -> None:
    async def scenario() -> None:
        store = RedisStore(redis_url, prefix=redis_prefix)
        try:
            script = Script(f"-- {uuid.uuid4()}\nreturn ARGV[1]")  # never seen: NOSCRIPT
            loaded = await store.command("SCRIPT", "EXISTS", script.sha)
            assert loaded == [0]
            assert await script.run(store, [], ["a"]) == b"a"
            assert await store.command("SCRIPT", "EXISTS", script.sha) == [1]
            assert await script.run(store, [], ["b"]) == b"b"
            failing = Script(f"-- {uuid.uuid4()}\nreturn redis.error_reply('boom')")
            with pytest.raises(StorageError, match="unavailable"):
                await failing.run(store, [], [])
        finally:
            await store.aclose()

    asyncio.run(scenario())


def test_memory_budget_restarts_from_its_seed_when_its_period_ends() -> None:
    async def scenario() -> None:
        limiter = MemoryLimiter()
        end = START + 3600
        await reserved(limiter, [budget(1.0, 0.9, seed=0.05)], START)
        await refused(limiter, [budget(1.0, 0.1, seed=0.05)], end - 1)
        next_period = Rule("budget:bud_1:2026-12", "b", "budget", 1.0, 0.1, expires_at=end + 60)
        assert isinstance(await limiter.reserve([next_period], end), Reservation)

    asyncio.run(scenario())


def test_memory_stays_bounded_as_windows_pass() -> None:
    async def scenario() -> None:
        limiter = MemoryLimiter(sweep_every=100)
        for second in range(600):  # one key over ten windows keeps two of them
            await reserved(limiter, [tpm(10_000, 1)], START + second)
        assert limiter.counters() == 2
        for n in range(99):  # keys nobody asks about again are swept every 100 calls
            rule = Rule(f"rate:key:k{n}:rpm", "rpm", "rate", 10, 1.0, window_s=1.0)
            await reserved(limiter, [rule], START + 600)
        assert limiter.counters() == 101
        await reserved(limiter, [tpm(10_000, 1)], START + 700)  # the 700th call sweeps
        assert limiter.counters() == 1  # and only this request's window is left

    asyncio.run(scenario())
