"""What every limiter does, on memory and on Redis: reserve, refuse, settle, seed, report."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable

import pytest

from steward.limits import Limiter, Refusal, Reservation, Rule, window
from steward.limits.window import BUCKETS
from tests.limits.conftest import START, Backend

Scenario = Callable[[Limiter], Awaitable[None]]


def run(backend: Backend, scenario: Scenario) -> None:
    async def main() -> None:
        async with backend.limiter() as limiter:
            await scenario(limiter)

    asyncio.run(main())


def rpm(limit: float) -> Rule:
    return Rule("rate:key:k:rpm", "requests per minute of key k", "rate", limit, 1.0)


def tpm(limit: float, amount: float) -> Rule:
    return Rule("rate:key:k:tpm", "tokens per minute of key k", "rate", limit, amount)


def budget(limit: float, amount: float, *, seed: float = 0.0) -> Rule:
    return Rule(
        "budget:bud_1:2026-12", "monthly budget bud_1", "budget", limit, amount,
        seed=seed, expires_at=START + 3600,
    )  # fmt: skip


async def reserved(limiter: Limiter, rules: list[Rule], now: float) -> Reservation:
    outcome = await limiter.reserve(rules, now)
    assert isinstance(outcome, Reservation), outcome
    return outcome


async def refused(limiter: Limiter, rules: list[Rule], now: float) -> Refusal:
    outcome = await limiter.reserve(rules, now)
    assert isinstance(outcome, Refusal), outcome
    return outcome


def test_settle_refunds_what_the_call_did_not_use(backend: Backend) -> None:
    async def scenario(limiter: Limiter) -> None:
        first = await reserved(limiter, [tpm(1000, 800)], START + 1)
        assert (await refused(limiter, [tpm(1000, 850)], START + 2)).used == 800
        await limiter.settle(first, {"rate:key:k:tpm": 100})
        assert first.settled and not first.degraded
        await reserved(limiter, [tpm(1000, 850)], START + 3)
        assert await limiter.usage([tpm(1000, 0)], START + 3) == {"rate:key:k:tpm": 950}

    run(backend, scenario)


def test_settle_charges_overruns_leaves_absent_rules_and_runs_once(backend: Backend) -> None:
    async def scenario(limiter: Limiter) -> None:
        rules = [rpm(10), tpm(1000, 100), budget(1.0, 0.1)]
        reservation = await reserved(limiter, rules, START + 1)
        actual = {"rate:key:k:tpm": 300, "budget:bud_1:2026-12": 0.25}
        await limiter.settle(reservation, actual)
        await limiter.settle(reservation, actual)  # a second settle changes nothing
        assert await limiter.usage(rules, START + 1) == {
            "rate:key:k:rpm": 1,
            "rate:key:k:tpm": 300,
            "budget:bud_1:2026-12": pytest.approx(0.25),
        }

    run(backend, scenario)


def test_settle_after_time_moved_on_corrects_the_bucket_reserved_in(backend: Backend) -> None:
    async def scenario(limiter: Limiter) -> None:
        reservation = await reserved(limiter, [tpm(1000, 800)], START + 50.5)
        await limiter.settle(reservation, {"rate:key:k:tpm": 200})
        assert (await limiter.usage([tpm(1000, 0)], START + 75))["rate:key:k:tpm"] == 200
        # Bucket 50.5 s counts until bucket 110.6 s starts: one bucket past the 60 s.
        leaves = window.bucket_start(window.bucket_of(START + 50.5, 60.0) + BUCKETS + 1, 60.0)
        assert leaves == pytest.approx(START + 110.6)
        before = math.nextafter(leaves, 0.0)
        assert (await limiter.usage([tpm(1000, 0)], before))["rate:key:k:tpm"] == 200
        assert (await limiter.usage([tpm(1000, 0)], leaves))["rate:key:k:tpm"] == 0

    run(backend, scenario)


def test_a_settle_for_a_bucket_that_left_the_count_is_dropped(backend: Backend) -> None:
    async def scenario(limiter: Limiter) -> None:
        early = await reserved(limiter, [tpm(1000, 800)], START + 1)
        await reserved(limiter, [tpm(1000, 300)], START + 62)  # bucket 1 has left
        await limiter.settle(early, {"rate:key:k:tpm": 0})  # nothing to refund any more
        assert (await limiter.usage([tpm(1000, 0)], START + 62))["rate:key:k:tpm"] == 300
        late = await reserved(limiter, [tpm(1000, 700)], START + 63)
        await limiter.settle(late, {"rate:key:k:tpm": 0})
        assert (await limiter.usage([tpm(1000, 0)], START + 63))["rate:key:k:tpm"] == 300

    run(backend, scenario)


def test_all_or_nothing_a_refusal_by_a_later_rule_consumes_no_earlier_one(
    backend: Backend,
) -> None:
    async def scenario(limiter: Limiter) -> None:
        await reserved(limiter, [rpm(100), tpm(1000, 900)], START + 1)
        refusal = await refused(limiter, [rpm(100), tpm(1000, 200)], START + 2)
        assert refusal.rule.key == "rate:key:k:tpm"
        assert refusal.used == 900
        refusal = await refused(limiter, [rpm(100), budget(1.0, 2.0)], START + 3)
        assert refusal.rule.kind == "budget"
        usage = await limiter.usage([rpm(100), budget(1.0, 0)], START + 3)
        assert usage == {"rate:key:k:rpm": 1, "budget:bud_1:2026-12": 0}

    run(backend, scenario)


@pytest.mark.parametrize(
    ("fills", "ask_at", "ask", "wait"),
    [
        ([(10.0, 10.0)], 20.0, 1.0, 50.1),  # bucket 10.0 s leaves when bucket 70.1 s starts
        ([(30.0, 6.0), (50.0, 4.0)], 80.0, 8.0, 30.1),  # freeing bucket 30.0 s is not enough
        ([(59.0, 4.0), (60.55, 5.0)], 61.5, 2.0, 57.6),  # a fractional clock
        ([(30.0, 7.0), (70.0, 3.0)], 90.02, 6.0, 0.08),  # the boundary is 0.08 s away
    ],
)
def test_a_refused_request_fits_exactly_at_retry_after(
    backend: Backend, fills: list[tuple[float, float]], ask_at: float, ask: float, wait: float
) -> None:
    async def scenario(limiter: Limiter) -> None:
        for at, amount in fills:
            await reserved(limiter, [tpm(10, amount)], START + at)
        now = START + ask_at
        refusal = await refused(limiter, [tpm(10, ask)], now)
        assert refusal.retry_after_s == pytest.approx(wait)
        assert refusal.used == sum(amount for _, amount in fills)
        await refused(limiter, [tpm(10, ask)], now + refusal.retry_after_s - 0.05)  # not earlier
        await refused(limiter, [tpm(10, ask)], math.nextafter(now + refusal.retry_after_s, 0.0))
        await reserved(limiter, [tpm(10, ask)], now + refusal.retry_after_s)

    run(backend, scenario)


def test_retry_after_with_sub_second_buckets(backend: Backend) -> None:
    async def scenario(limiter: Limiter) -> None:
        rule = Rule("rate:key:k:rps", "requests per 6 s of key k", "rate", 3, 1.0, window_s=6.0)
        for at in (0.03, 0.13, 0.23):  # buckets of 10 ms
            await reserved(limiter, [rule], START + at)
        now = START + 2.0
        refusal = await refused(limiter, [rule], now)
        assert refusal.retry_after_s == pytest.approx(6.04 - 2.0)
        await refused(limiter, [rule], now + refusal.retry_after_s - 0.005)
        await reserved(limiter, [rule], now + refusal.retry_after_s)
        await refused(limiter, [rule], now + refusal.retry_after_s)

    run(backend, scenario)


def test_a_refusal_holds_through_a_long_window_of_sparse_buckets(backend: Backend) -> None:
    async def scenario(limiter: Limiter) -> None:
        for n in range(40):  # one request every 1.5 s: 40 buckets held, far apart
            await reserved(limiter, [tpm(40, 1.0)], START + 1.5 * n)
        now = START + 59.0
        refusal = await refused(limiter, [tpm(40, 3.0)], now)
        assert refusal.used == 40
        assert refusal.retry_after_s == pytest.approx(3.0 + 60.1 - 59.0)  # bucket 3.0 s leaves
        await refused(limiter, [tpm(40, 3.0)], now + refusal.retry_after_s - 0.05)
        await reserved(limiter, [tpm(40, 3.0)], now + refusal.retry_after_s)

    run(backend, scenario)


def test_a_request_over_the_limit_never_fits(backend: Backend) -> None:
    async def scenario(limiter: Limiter) -> None:
        refusal = await refused(limiter, [tpm(1000, 1001)], START + 1)
        assert refusal.retry_after_s == 60.0
        assert refusal.used == 0

    run(backend, scenario)


def test_budget_refusal_says_until_when(backend: Backend) -> None:
    async def scenario(limiter: Limiter) -> None:
        await reserved(limiter, [budget(1.0, 0.6)], START + 100)
        refusal = await refused(limiter, [budget(1.0, 0.6)], START + 600)
        assert refusal.used == pytest.approx(0.6)
        assert refusal.retry_after_s == pytest.approx(3000)
        total = Rule("budget:bud_2:total", "total budget bud_2", "budget", 1.0, 2.0)
        assert (await refused(limiter, [total], START)).retry_after_s == 0.0

    run(backend, scenario)


def test_a_budget_counter_starts_from_its_seed(backend: Backend) -> None:
    async def scenario(limiter: Limiter) -> None:
        assert await limiter.usage([budget(1.0, 0, seed=0.9)], START) == {
            "budget:bud_1:2026-12": 0.9
        }
        for _ in range(2):
            await reserved(limiter, [budget(1.0, 0.05, seed=0.9)], START + 1)
        refusal = await refused(limiter, [budget(1.0, 0.05, seed=0.9)], START + 2)
        assert refusal.used == pytest.approx(1.0)
        # Once the counter exists it is the truth: a later seed does not reset it.
        await refused(limiter, [budget(1.0, 0.05, seed=0.0)], START + 3)

    run(backend, scenario)


def test_usage_of_bare_keys(backend: Backend) -> None:
    async def scenario(limiter: Limiter) -> None:
        await reserved(limiter, [rpm(10), budget(1.0, 0.3)], START + 30)
        usage = await limiter.usage(
            ["rate:key:k:rpm", "budget:bud_1:2026-12", "nothing"], START + 30
        )
        assert usage == {
            "rate:key:k:rpm": 1,
            "budget:bud_1:2026-12": pytest.approx(0.3),
            "nothing": 0,
        }

    run(backend, scenario)
