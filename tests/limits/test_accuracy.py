"""Rate limits hold over any minute: three to eight times the limit offered at 30 requests a
second, starting at several phases of a minute, on a simulated clock, on both backends.

A span is the half-open `[start, start + 60)`. Upper bounds (never over the limit) are checked
from every whole second, every whole second after the first request, and every admitted request
(where the worst span starts). Lower bounds (at least 95% of the limit) are checked once traffic
has run a whole window, for spans that end before it stops: from the whole seconds, the whole
seconds after the first request, every admitted request and every offered one (requests come
on a grid of 1/30 s, so those spans are every span there is).
"""

from __future__ import annotations

import asyncio
import bisect
import math
import random
from dataclasses import dataclass

import pytest

from steward.limits import Limiter, Reservation, Rule, window
from tests.limits.conftest import START, Backend

RATE_PER_S = 30
DURATION_S = 180
SPAN_S = 60
PHASES = [0.0, 20.0, 37.3]
RPM = 600
TPM = 60_000


@dataclass(frozen=True)
class Admitted:
    """What a limiter let through: times since START, and the running total of amounts."""

    times: list[float]
    totals: list[float]

    @classmethod
    def of(cls, admitted: list[tuple[float, float]]) -> Admitted:
        totals = [0.0]
        for _, amount in admitted:
            totals.append(totals[-1] + amount)
        return cls([at for at, _ in admitted], totals)

    def span(self, start: float) -> float:
        """The total admitted in `[start, start + SPAN_S)`."""
        first = bisect.bisect_left(self.times, start)
        end = bisect.bisect_left(self.times, start + SPAN_S)
        return self.totals[end] - self.totals[first]


async def offer(
    limiter: Limiter, limit: float, amounts: list[float], times: list[float]
) -> Admitted:
    """Offer `amounts[n]` at `START + times[n]`; what was admitted."""
    admitted = []
    for at, amount in zip(times, amounts, strict=True):
        rule = Rule("rate:team:t:limit", "units per minute of team t", "rate", limit, amount)
        if isinstance(await limiter.reserve([rule], START + at), Reservation):
            admitted.append((at, amount))
    return Admitted.of(admitted)


def steady(phase: float) -> list[float]:
    return [phase + n / RATE_PER_S for n in range(RATE_PER_S * DURATION_S)]


def tokens() -> list[float]:
    rng = random.Random(7)
    return [float(rng.randint(50, 500)) for _ in range(RATE_PER_S * DURATION_S)]


def whole_seconds(first: float, last: float) -> list[float]:
    return [float(s) for s in range(math.ceil(first), math.floor(last) + 1)]


def upper_starts(admitted: Admitted, phase: float, end: float) -> list[float]:
    offsets = [phase + k for k in range(math.floor(end - phase) + 1)]
    return whole_seconds(phase - SPAN_S, end) + offsets + admitted.times


def lower_starts(admitted: Admitted, phase: float) -> list[float]:
    """Spans that start once traffic has run a whole window and end before it stops."""
    first, last = phase + SPAN_S, phase + DURATION_S - SPAN_S
    offsets = [phase + k for k in range(SPAN_S, DURATION_S - SPAN_S + 1)]
    requests = [at for at in admitted.times + steady(phase) if first <= at <= last]
    return whole_seconds(first, last) + offsets + requests


def simulate(backend: Backend, limit: float, amounts: list[float], times: list[float]) -> Admitted:
    async def scenario() -> Admitted:
        async with backend.limiter() as limiter:
            return await offer(limiter, limit, amounts, times)

    return asyncio.run(scenario())


@pytest.mark.parametrize("phase", PHASES)
def test_requests_per_minute_hold_the_limit_within_five_percent(
    backend: Backend, phase: float
) -> None:
    admitted = simulate(backend, RPM, [1.0] * (RATE_PER_S * DURATION_S), steady(phase))
    for start in upper_starts(admitted, phase, phase + DURATION_S):
        assert admitted.span(start) <= RPM, start
    assert admitted.span(phase) == RPM  # the first minute fills up
    for start in lower_starts(admitted, phase):
        assert admitted.span(start) >= 0.95 * RPM, start


@pytest.mark.parametrize("phase", PHASES)
def test_tokens_per_minute_never_exceed_the_limit(backend: Backend, phase: float) -> None:
    admitted = simulate(backend, TPM, tokens(), steady(phase))
    for start in upper_starts(admitted, phase, phase + DURATION_S):
        assert admitted.span(start) <= TPM, start
    assert admitted.span(phase) >= 0.95 * TPM


@pytest.mark.parametrize("phase", PHASES)
def test_tokens_per_minute_hold_the_limit_within_five_percent(
    backend: Backend, phase: float
) -> None:
    """This client fills 60,000 tokens in ~7 s, so a 100 ms bucket holds ~1.4% of the limit:
    what a minute can miss when a bucket's reservations come back up to 100 ms late."""
    admitted = simulate(backend, TPM, tokens(), steady(phase))
    for start in lower_starts(admitted, phase):
        assert admitted.span(start) >= 0.95 * TPM, start


def test_a_burst_then_steady_traffic_never_exceeds_the_limit(backend: Backend) -> None:
    burst_at = 30.5
    times = [burst_at] * RPM + [burst_at + (n + 1) / RATE_PER_S for n in range(150 * RATE_PER_S)]
    admitted = simulate(backend, RPM, [1.0] * len(times), times)
    assert admitted.times[:RPM] == [burst_at] * RPM  # the whole burst fits
    # Nothing more until the burst's bucket leaves the count, 60.1 s later.
    bucket = window.bucket_of(START + burst_at, SPAN_S)
    leaves = window.bucket_start(bucket + window.BUCKETS + 1, SPAN_S)
    assert admitted.times[RPM] == min(at for at in times if START + at >= leaves)
    assert admitted.times[RPM] == pytest.approx(90.6)
    for start in upper_starts(admitted, burst_at, times[-1]):
        assert admitted.span(start) <= RPM, start
