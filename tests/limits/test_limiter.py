"""What every limiter does, on memory and on Redis: reserve, refuse, settle, seed, report."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from steward.limits import Limiter, Refusal, Reservation, Rule
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


def test_settle_after_the_window_moved_on_corrects_the_window_reserved_in(
    backend: Backend,
) -> None:
    async def scenario(limiter: Limiter) -> None:
        reservation = await reserved(limiter, [tpm(1000, 800)], START + 50)
        await limiter.settle(reservation, {"rate:key:k:tpm": 200})
        # 15 s into the next window the previous one weighs 3/4: 200 * 0.75.
        used = await limiter.usage([tpm(1000, 0)], START + 75)
        assert used["rate:key:k:tpm"] == pytest.approx(150)

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
    ("fill_at", "fill", "ask_at", "ask"),
    [
        (10.0, 10.0, 20.0, 1.0),  # the current window is full: wait past the boundary
        (10.0, 10.0, 70.0, 1.0),  # the previous window is full: wait for it to decay
        (30.0, 6.0, 80.0, 8.0),  # both windows count
        (59.0, 4.0, 61.0, 9.0),  # a large request just after the boundary
    ],
)
def test_a_refused_request_fits_after_retry_after(
    backend: Backend, fill_at: float, fill: float, ask_at: float, ask: float
) -> None:
    async def scenario(limiter: Limiter) -> None:
        await reserved(limiter, [tpm(10, fill)], START + fill_at)
        if ask_at >= 60:
            await reserved(limiter, [tpm(10, 1.0)], START + ask_at - 0.5)
        refusal = await refused(limiter, [tpm(10, ask)], START + ask_at)
        wait = refusal.retry_after_s
        assert wait > 0.1
        await refused(limiter, [tpm(10, ask)], START + ask_at + wait - 0.05)  # not earlier
        await reserved(limiter, [tpm(10, ask)], START + ask_at + wait + 1e-6)

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
