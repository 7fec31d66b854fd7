"""Target health in one process: in flight, error rate, latency quantiles over a window."""

from __future__ import annotations

import asyncio

import pytest
from tests.clock import ManualClock

from steward.routing.health import TargetHealth

T = "up/gpt-test"


def run(health: TargetHealth, latencies: list[float], *, ok: bool = True) -> None:
    for latency in latencies:
        health.started(T)
        health.finished(T, latency_ms=latency, ok=ok)


def test_unknown_targets_have_no_figures() -> None:
    health = TargetHealth(clock=ManualClock())
    assert health.in_flight(T) == 0
    assert health.latency_ms(T, 0.5) is None
    assert health.error_rate(T) is None
    assert health.snapshot() == {}


def test_in_flight_counts_started_minus_finished() -> None:
    health = TargetHealth(clock=ManualClock())
    for _ in range(3):
        health.started(T)
    health.finished(T, latency_ms=10.0, ok=True)
    assert health.in_flight(T) == 2
    assert health.local_in_flight(T) == 2
    for _ in range(5):
        health.finished(T, latency_ms=10.0, ok=True)
    assert health.in_flight(T) == 0


def test_quantiles_by_nearest_rank() -> None:
    health = TargetHealth(clock=ManualClock())
    run(health, [float(ms) for ms in range(100, 0, -1)])
    assert health.latency_ms(T, 0.5) == 50.0
    assert health.latency_ms(T, 0.95) == 95.0
    assert health.latency_ms(T, 0.99) == 99.0
    assert health.latency_ms(T, 0.0) == 1.0
    assert health.latency_ms(T, 1.0) == 100.0


def test_error_rate_and_failures_leave_latencies_alone() -> None:
    health = TargetHealth(clock=ManualClock())
    run(health, [10.0] * 7)
    run(health, [9000.0] * 3, ok=False)
    assert health.error_rate(T) == pytest.approx(0.3)
    assert health.latency_ms(T, 0.99) == 10.0


def test_only_failures_give_no_latency() -> None:
    health = TargetHealth(clock=ManualClock())
    run(health, [5.0], ok=False)
    assert health.error_rate(T) == 1.0
    assert health.latency_ms(T, 0.5) is None


def test_old_figures_leave_the_window() -> None:
    clock = ManualClock()
    health = TargetHealth(window_s=10.0, clock=clock)
    run(health, [1000.0] * 5, ok=False)
    run(health, [1000.0] * 5)
    clock.advance(11.0)
    run(health, [20.0])
    assert health.latency_ms(T, 0.99) == 20.0
    assert health.error_rate(T) == 0.0
    assert health.snapshot()[T]["requests"] == 1


def test_latencies_are_bounded_by_max_samples() -> None:
    health = TargetHealth(max_samples=10, clock=ManualClock())
    run(health, [1000.0] * 50 + [1.0] * 10)
    assert health.latency_ms(T, 1.0) == 1.0


def test_quantiles_are_cached_for_a_moment() -> None:
    clock = ManualClock()
    health = TargetHealth(clock=clock)
    run(health, [10.0])
    assert health.latency_ms(T, 0.5) == 10.0
    run(health, [30.0, 30.0])
    assert health.latency_ms(T, 0.5) == 10.0
    clock.advance(0.2)
    assert health.latency_ms(T, 0.5) == 30.0


def test_snapshot_reports_every_figure() -> None:
    health = TargetHealth(clock=ManualClock())
    run(health, [10.0, 20.0, 30.0, 40.0])
    run(health, [1.0], ok=False)
    health.started(T)
    view = health.snapshot()[T]
    assert view == {
        "in_flight": 1,
        "requests": 5,
        "errors": 1,
        "error_rate": 0.2,
        "p50_ms": 20.0,
        "p95_ms": 40.0,
        "p99_ms": 40.0,
        "shared": False,
    }


def test_without_redis_start_stop_and_sync_are_no_ops() -> None:
    async def scenario() -> bool:
        health = TargetHealth(clock=ManualClock())
        await health.start()
        run(health, [1.0])
        result = await health.sync()
        await health.stop()
        return result

    assert asyncio.run(scenario()) is False
