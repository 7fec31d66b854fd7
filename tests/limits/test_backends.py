"""What only one backend can show: Redis keys, expiries, scripts and persistence; memory bounds."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from steward.errors import StorageError
from steward.limits import Limiter, MemoryLimiter, RedisLimiter, Reservation, Rule, window
from steward.limits.redis import Script
from steward.limits.window import BUCKETS
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


async def fields(store: RedisStore, key: str) -> dict[str, bytes]:
    flat = await store.command("HGETALL", key)
    assert isinstance(flat, list)
    return {field.decode(): value for field, value in zip(flat[::2], flat[1::2], strict=True)}


@pytest.mark.redis
def test_redis_keys_and_their_expiries(redis_url: str, redis_prefix: str) -> None:
    async def scenario() -> None:
        store = RedisStore(redis_url, prefix=redis_prefix)
        try:
            total = Rule("budget:bud_2:total", "total budget bud_2", "budget", 5.0, 1.0)
            await reserved(RedisLimiter(store), [tpm(1000, 10), budget(1.0, 0.1), total], START)
            limiter = RedisLimiter(store)
            await reserved(limiter, [tpm(1000, 5)], START + 0.05)  # the same 100 ms bucket
            await reserved(limiter, [tpm(1000, 2.5)], START + 1)
            rates = f"{redis_prefix}rl:rate:key:k:tpm"
            at = window.bucket_of(START, 60.0)
            assert await fields(store, rates) == {
                "t": b"17.5",
                "o": b"%d" % (at + 10 - BUCKETS),
                str(at): b"15",
                str(at + 10): b"2.5",
            }
            ttl = await store.command("PTTL", rates)  # the window and two buckets
            assert isinstance(ttl, int) and 60_000 < ttl <= 60_200
            await reserved(limiter, [tpm(1000, 1)], START + 60.5)  # bucket START has left
            assert await fields(store, rates) == {
                "t": b"3.5",
                "o": b"%d" % (at + 605 - BUCKETS),
                str(at + 10): b"2.5",
                str(at + 605): b"1",
            }
            await reserved(limiter, [tpm(1000, 1)], START + 200)  # idle past the window
            assert await fields(store, rates) == {
                "t": b"1",
                "o": b"%d" % (at + 2000 - BUCKETS),
                str(at + 2000): b"1",
            }
            ttl = await store.command("PTTL", f"{redis_prefix}bud:budget:bud_1:2026-12")
            assert isinstance(ttl, int) and 3_599_000 < ttl <= 3_600_000  # expires_at - now
            assert await store.command("PTTL", f"{redis_prefix}bud:budget:bud_2:total") == -1
        finally:
            await store.aclose()

    asyncio.run(scenario())


@pytest.mark.redis
def test_a_rate_hash_is_deleted_when_its_last_bucket_leaves(
    redis_url: str, redis_prefix: str
) -> None:
    async def scenario() -> None:
        store = RedisStore(redis_url, prefix=redis_prefix)
        try:
            limiter = RedisLimiter(store)
            await reserved(limiter, [tpm(10, 10)], START)
            await refused(limiter, [tpm(10, 20)], START + 61)  # too big, but the bucket left
            assert await store.command("EXISTS", f"{redis_prefix}rl:rate:key:k:tpm") == 0
        finally:
            await store.aclose()

    asyncio.run(scenario())


async def steady_traffic(limiter: Limiter, seconds: float) -> AsyncIterator[float]:
    """30 requests a second, all admitted and settled, for `seconds`; yields each clock reading."""
    rule = tpm(100_000, 100.0)
    for n in range(int(seconds * 30)):
        now = START + 0.01 + n / 30
        await limiter.settle(await reserved(limiter, [rule], now), {rule.key: 40.0})
        yield now


def test_memory_holds_at_most_a_window_of_buckets_under_steady_traffic() -> None:
    async def scenario() -> None:
        limiter = MemoryLimiter()
        most = 0
        async for _ in steady_traffic(limiter, 200):
            most = max(most, limiter.buckets("rate:key:k:tpm"))
        assert most == BUCKETS + 1  # every bucket of the window, and no more

    asyncio.run(scenario())


@pytest.mark.redis
def test_a_redis_hash_holds_at_most_a_window_of_buckets_under_steady_traffic(
    redis_url: str, redis_prefix: str
) -> None:
    async def scenario() -> None:
        store = RedisStore(redis_url, prefix=redis_prefix)
        try:
            key = f"{redis_prefix}rl:rate:key:k:tpm"
            most = 0
            async for _ in steady_traffic(RedisLimiter(store), 200):
                size = await store.command("HLEN", key)
                assert isinstance(size, int)
                most = max(most, size)
            assert most == BUCKETS + 3  # every bucket of the window, the total and the oldest
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
        for second in range(600):  # one key over ten windows keeps the 61 buckets it counts
            await reserved(limiter, [tpm(10_000, 1)], START + second)
        assert limiter.counters() == 61
        for n in range(99):  # keys nobody asks about again are swept every 100 calls
            rule = Rule(f"rate:key:k{n}:rpm", "rpm", "rate", 10, 1.0, window_s=1.0)
            await reserved(limiter, [rule], START + 600)
        assert limiter.counters() == 61 + 99
        await reserved(limiter, [tpm(10_000, 1)], START + 720)  # the 700th call sweeps
        assert limiter.counters() == 1  # and only this request's bucket is left

    asyncio.run(scenario())
