"""Budgets hold under concurrent calls, on one limiter and on two Redis replicas sharing one."""

from __future__ import annotations

import asyncio
import random

import pytest

from steward.limits import Limiter, Reservation, Rule
from tests.limits.conftest import START, Backend

LIMIT_USD = 1.00
WORST_USD = 0.05
RULE = Rule(
    "budget:bud_c:2026-12", "monthly budget bud_c", "budget", LIMIT_USD, WORST_USD,
    expires_at=START + 86_400,
)  # fmt: skip


async def call(limiter: Limiter, rng: random.Random) -> float | None:
    """One request: arrive, reserve the worst case, run a little, settle the real cost."""
    await asyncio.sleep(rng.uniform(0, 0.02))
    outcome = await limiter.reserve([RULE], START + 1)
    if not isinstance(outcome, Reservation):
        return None
    await asyncio.sleep(rng.uniform(0, 0.005))
    cost = rng.uniform(0.01, WORST_USD)
    await limiter.settle(outcome, {RULE.key: cost})
    return cost


async def storm(limiters: tuple[Limiter, ...], per_limiter: int, seed: int) -> list[float]:
    """The cost of every admitted request."""
    rng = random.Random(seed)
    calls = [call(limiter, rng) for limiter in limiters for _ in range(per_limiter)]
    return [cost for cost in await asyncio.gather(*calls) if cost is not None]


def check(costs: list[float], spend: float) -> None:
    assert spend == pytest.approx(sum(costs))  # the counter is exactly what was settled
    assert spend <= LIMIT_USD + WORST_USD
    # Every admitted request reserved the worst case, so at least limit / worst got in; they
    # cost at least $0.01, so no more than limit / 0.01 could.
    assert LIMIT_USD / WORST_USD <= len(costs) <= LIMIT_USD / 0.01


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_budget_holds_under_200_concurrent_calls(backend: Backend, seed: int) -> None:
    async def scenario() -> None:
        async with backend.limiter() as limiter:
            costs = await storm((limiter,), 200, seed)
            spend = (await limiter.usage([RULE], START + 2))[RULE.key]
        check(costs, spend)

    asyncio.run(scenario())


@pytest.mark.redis
@pytest.mark.parametrize("seed", [1, 2])
def test_budget_holds_across_two_replicas(redis_url: str, redis_prefix: str, seed: int) -> None:
    async def scenario() -> None:
        async with Backend("redis", redis_url, redis_prefix).replicas(2) as replicas:
            costs = await storm(replicas, 100, seed)
            spend = (await replicas[0].usage([RULE], START + 2))[RULE.key]
        check(costs, spend)

    asyncio.run(scenario())
