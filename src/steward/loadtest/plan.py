"""What a load test does over time: open-loop arrival schedules and closed-loop worker starts.

Both ramp linearly from zero to the target over `ramp_s`, then hold it for `duration_s`. An
open-loop schedule is a list of send times fixed in advance: with a ramp the arrival rate is
r(t) = R·t/ramp, so the expected arrivals by t are Λ(t) = R·t²/(2·ramp) during the ramp and
R·ramp/2 + R·(t - ramp) after it. Uniform arrivals are sent where Λ(t) = 0, 1, 2, ...;
Poisson arrivals where Λ(t) crosses the running sum of unit exponential gaps (a Poisson process
of rate r(t), by the time-change theorem).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

__all__ = ["Arrivals", "LoadPlan", "arrival_times", "worker_starts"]

Arrivals = Literal["poisson", "uniform"]


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """An open loop at `rps`, or a closed loop of `concurrency` workers (exactly one of them)."""

    duration_s: float
    ramp_s: float = 0.0
    rps: float | None = None
    concurrency: int | None = None
    arrivals: Arrivals = "poisson"
    max_in_flight: int = 1000
    seed: int | None = None

    def __post_init__(self) -> None:
        if (self.rps is None) == (self.concurrency is None):
            raise ValueError("give exactly one of --rps (open loop) and --concurrency (closed)")
        if self.rps is not None and not self.rps > 0:
            raise ValueError("--rps must be above 0")
        if self.concurrency is not None and self.concurrency < 1:
            raise ValueError("--concurrency must be at least 1")
        if not self.duration_s > 0:
            raise ValueError("--duration must be above 0 seconds")
        if self.ramp_s < 0:
            raise ValueError("--ramp cannot be negative")
        if self.max_in_flight < 1:
            raise ValueError("--max-in-flight must be at least 1")

    @property
    def mode(self) -> Literal["open", "closed"]:
        return "open" if self.rps is not None else "closed"

    @property
    def end_s(self) -> float:
        """When sending stops, from the start of the run: the ramp, then the steady state."""
        return self.ramp_s + self.duration_s


def arrival_times(plan: LoadPlan) -> Iterator[float]:
    """Send times of an open-loop plan in seconds from the start, ascending, all before `end_s`."""
    if plan.rps is None:
        raise ValueError("arrival times need an open-loop plan (--rps)")
    rate, ramp, end = plan.rps, plan.ramp_s, plan.end_s
    rng = random.Random(plan.seed)
    expected = 0.0 if plan.arrivals == "uniform" else rng.expovariate(1.0)
    while (at := _time_of(expected, rate, ramp)) < end:
        yield at
        expected += 1.0 if plan.arrivals == "uniform" else rng.expovariate(1.0)


def _time_of(expected: float, rate: float, ramp_s: float) -> float:
    """The inverse of Λ: when `expected` arrivals are due."""
    during_ramp = rate * ramp_s / 2
    if expected <= during_ramp:
        return math.sqrt(2 * ramp_s * expected / rate) if ramp_s > 0 else 0.0
    return ramp_s + (expected - during_ramp) / rate


def worker_starts(plan: LoadPlan) -> list[float]:
    """When each closed-loop worker starts: evenly over the ramp, the first at once."""
    if plan.concurrency is None:
        raise ValueError("worker starts need a closed-loop plan (--concurrency)")
    count = plan.concurrency
    return [plan.ramp_s * index / count for index in range(count)]
