"""Sliding windows hold their limit over any minute: three times the limit offered, on a
simulated clock, on both backends."""

from __future__ import annotations

import asyncio
import random

from steward.limits import Limiter, Reservation, Rule
from tests.limits.conftest import START, Backend

RATE_PER_S = 30
DURATION_S = 180
SPAN_S = 60


async def offer(limiter: Limiter, amounts: list[float], limit: float) -> list[tuple[float, float]]:
    """Offer `amounts` evenly spaced at RATE_PER_S; (time since start, amount) of each admitted."""
    admitted = []
    for n, amount in enumerate(amounts):
        at = n / RATE_PER_S
        rule = Rule("rate:team:t:limit", "units per minute of team t", "rate", limit, amount)
        if isinstance(await limiter.reserve([rule], START + at), Reservation):
            admitted.append((at, amount))
    return admitted


def in_span(admitted: list[tuple[float, float]], start: float) -> float:
    return sum(amount for at, amount in admitted if start <= at < start + SPAN_S)


def check_accuracy(admitted: list[tuple[float, float]], limit: float) -> None:
    # No minute, wherever it starts, holds more than 5% over the limit.
    for start in range(DURATION_S - SPAN_S + 1):
        assert in_span(admitted, start) <= limit * 1.05, start
    # The first window fills up; once traffic has run a whole window (the approximation takes
    # the previous window's count as spread evenly), every minute holds the limit within 5%.
    assert abs(in_span(admitted, 0) - limit) <= limit * 0.05
    for start in range(SPAN_S, DURATION_S - SPAN_S + 1, 5):
        assert abs(in_span(admitted, start) - limit) <= limit * 0.05, start


def test_requests_per_minute_within_five_percent(backend: Backend) -> None:
    async def scenario() -> None:
        async with backend.limiter() as limiter:
            admitted = await offer(limiter, [1.0] * (RATE_PER_S * DURATION_S), 600)
        check_accuracy(admitted, 600)

    asyncio.run(scenario())


def test_tokens_per_minute_within_five_percent(backend: Backend) -> None:
    rng = random.Random(7)
    amounts = [float(rng.randint(50, 400)) for _ in range(RATE_PER_S * DURATION_S)]

    async def scenario() -> None:
        async with backend.limiter() as limiter:
            admitted = await offer(limiter, amounts, 120_000)
        check_accuracy(admitted, 120_000)

    asyncio.run(scenario())


def test_a_burst_late_in_a_window_is_the_approximations_worst_case(backend: Backend) -> None:
    """Traffic that starts 20 s before a window ends fills that window in those 20 s; the next
    window takes the previous count as spread evenly, so one minute admits 999 of 600. No
    minute can exceed twice the limit: it overlaps two fixed windows, each holding at most it."""

    async def scenario() -> None:
        async with backend.limiter() as limiter:
            admitted = []
            for n in range(RATE_PER_S * 120):
                at = 40 + n / RATE_PER_S
                rule = Rule("rate:team:t:rpm", "requests per minute of team t", "rate", 600, 1.0)
                if isinstance(await limiter.reserve([rule], START + at), Reservation):
                    admitted.append((at, 1.0))
        worst = max(in_span(admitted, start) for start in range(40, 101))
        assert 600 * 1.05 < worst <= 2 * 600

    asyncio.run(scenario())
