"""Memory and Redis decide alike: the same requests and settles get the same answers, to the bit."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import pytest

from steward.limits import MemoryLimiter, RedisLimiter, Refusal, Reservation, Rule
from steward.storage.redis import RedisStore
from tests.limits.conftest import START

Outcome = tuple[str, float, float] | None


def rules(rng: random.Random) -> list[Rule]:
    """Requests and fractional tokens per minute, and a 6 s window of 0.1 s buckets."""
    tokens = round(rng.uniform(0.5, 300.0), rng.choice([0, 3, 9]))
    return [
        Rule("rate:key:k:rpm", "rpm", "rate", 40, 1.0),
        Rule("rate:key:k:tpm", "tpm", "rate", 4000.5, tokens),
        Rule("rate:key:k:burst", "burst", "rate", 7, 1.0, window_s=6.0),
    ]


def outcome(result: Reservation | Refusal) -> Outcome:
    if isinstance(result, Reservation):
        return None
    return (result.rule.key, result.used, result.retry_after_s)


def steady_steps(rng: random.Random) -> float:
    return rng.choice([0.0, rng.uniform(0, 0.3), rng.uniform(0, 4)])


def rough_steps(rng: random.Random) -> float:
    """Replicas' clocks a little apart (steps back), idle keys, and quiet spells past a window."""
    steps = [0.0, 0.0, rng.uniform(0, 0.05), rng.uniform(0, 0.3), -rng.uniform(0, 0.3)]
    return rng.choice([*steps, rng.uniform(0, 12), rng.uniform(55, 130)])


async def agree(
    redis_url: str, redis_prefix: str, seed: int, step: Callable[[random.Random], float]
) -> int:
    """Run the same requests and settles on memory and Redis; how many were refused."""
    rng = random.Random(seed)
    memory = MemoryLimiter(sweep_every=50)
    store = RedisStore(redis_url, prefix=redis_prefix)
    shared = RedisLimiter(store)
    now = START + rng.uniform(0, 60)
    held: list[tuple[Reservation, Reservation]] = []
    refusals = 0
    try:
        for _ in range(1500):
            now += step(rng)
            asked = rules(rng)
            local, remote = await memory.reserve(asked, now), await shared.reserve(asked, now)
            assert outcome(local) == outcome(remote), now
            if isinstance(local, Reservation) and isinstance(remote, Reservation):
                held.append((local, remote))
            refusals += isinstance(local, Refusal)
            if held and rng.random() < 0.6:  # settle one in flight, in any order
                mine, theirs = held.pop(rng.randrange(len(held)))
                actual = {"rate:key:k:tpm": round(rng.uniform(0, 400.0), 6)}
                await memory.settle(mine, actual)
                await shared.settle(theirs, actual)
            keys = [r.key for r in asked]
            assert await memory.usage(asked, now) == await shared.usage(asked, now), keys
    finally:
        await store.aclose()
    return refusals


@pytest.mark.redis
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_memory_and_redis_make_the_same_decisions(
    redis_url: str, redis_prefix: str, seed: int
) -> None:
    refusals = asyncio.run(agree(redis_url, redis_prefix, seed, steady_steps))
    assert refusals > 300  # the limits were pressed, not just passed


@pytest.mark.redis
@pytest.mark.parametrize("seed", [4, 5])
def test_memory_and_redis_agree_across_clock_jitter_and_idle_spells(
    redis_url: str, redis_prefix: str, seed: int
) -> None:
    refusals = asyncio.run(agree(redis_url, redis_prefix, seed, rough_steps))
    assert refusals > 200
