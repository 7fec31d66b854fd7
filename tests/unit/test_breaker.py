"""Circuit breakers in one process: volume and ratio, open, half-open probes, the sliding window."""

from __future__ import annotations

import asyncio

import pytest
from tests.clock import ManualClock

from steward.config.schema import BreakerConfig
from steward.routing.breaker import Breakers
from steward.routing.window import SharedCounts, Window

T = "up/gpt-test"


def breakers(clock: ManualClock, **config: object) -> Breakers:
    settings: dict[str, object] = {"window_s": 60.0, "min_requests": 10, "open_s": 30.0}
    settings.update(config)
    return Breakers(BreakerConfig.model_validate(settings), clock=clock)


def fail(b: Breakers, times: int, target: str = T) -> None:
    for _ in range(times):
        assert b.allow(target)
        b.record(target, ok=False)


def succeed(b: Breakers, times: int, target: str = T) -> None:
    for _ in range(times):
        assert b.allow(target)
        b.record(target, ok=True)


def opened(clock: ManualClock, **config: object) -> Breakers:
    b = breakers(clock, **config)
    fail(b, 10)
    assert b.state(T) == "open"
    return b


def test_unknown_targets_are_closed() -> None:
    b = breakers(ManualClock())
    assert b.state("x/y") == "closed"
    assert b.snapshot() == {}
    assert b.allow("x/y")


def test_one_failure_never_opens_with_the_defaults() -> None:
    b = Breakers(BreakerConfig(), clock=ManualClock())
    fail(b, 1)
    assert b.state(T) == "closed"


def test_below_min_requests_it_stays_closed_even_at_full_failure() -> None:
    b = breakers(ManualClock())
    fail(b, 9)
    assert b.state(T) == "closed"
    assert b.snapshot()[T]["failure_ratio"] == 1.0
    assert b.allow(T)


def test_opens_when_the_ratio_is_reached() -> None:
    b = breakers(ManualClock(), failure_ratio=0.5)
    succeed(b, 5)
    fail(b, 4)
    assert b.state(T) == "closed"
    fail(b, 1)
    assert b.state(T) == "open"


def test_stays_closed_below_the_ratio() -> None:
    b = breakers(ManualClock(), failure_ratio=0.3)
    succeed(b, 8)
    fail(b, 2)
    assert b.state(T) == "closed"
    fail(b, 1)  # 3 of 11 is still below 0.3
    assert b.state(T) == "closed"
    fail(b, 1)  # 4 of 12 is not
    assert b.state(T) == "open"


def test_a_ratio_like_point_three_opens_exactly_at_the_ratio() -> None:
    b = breakers(ManualClock(), failure_ratio=0.3)
    succeed(b, 7)
    fail(b, 3)
    assert b.state(T) == "open"


def test_open_refuses_attempts_and_reports_times() -> None:
    clock = ManualClock()
    b = opened(clock)
    assert not b.allow(T)
    clock.advance(29.9)
    assert not b.allow(T)
    view = b.snapshot()[T]
    assert view["state"] == "open"
    assert view["requests"] == 10
    assert view["failures"] == 10
    opened_at, open_until = view["opened_at"], view["open_until"]
    assert isinstance(opened_at, float)
    assert open_until == pytest.approx(opened_at + 30.0)
    assert opened_at > 1.6e9  # wall clock, epoch seconds


def test_other_targets_are_unaffected() -> None:
    b = opened(ManualClock())
    assert b.allow("other/model")
    assert b.state("other/model") == "closed"


def test_half_open_lets_exactly_the_probes_through() -> None:
    clock = ManualClock()
    b = opened(clock, half_open_probes=2)
    clock.advance(30.0)
    assert b.state(T) == "half_open"
    assert b.allow(T)
    assert b.allow(T)
    assert not b.allow(T)
    assert b.snapshot()[T]["probes_in_flight"] == 2


def test_release_frees_a_probe_slot() -> None:
    clock = ManualClock()
    b = opened(clock)
    clock.advance(30.0)
    assert b.allow(T)
    assert not b.allow(T)
    b.release(T)
    assert b.state(T) == "half_open"
    assert b.allow(T)


def test_release_on_a_closed_breaker_is_harmless() -> None:
    b = breakers(ManualClock())
    assert b.allow(T)
    b.release(T)
    b.release("never/seen")
    assert b.state(T) == "closed"


def test_a_successful_probe_closes_and_resets_the_window() -> None:
    clock = ManualClock()
    b = opened(clock)
    clock.advance(30.0)
    assert b.allow(T)
    b.record(T, ok=True)
    assert b.state(T) == "closed"
    view = b.snapshot()[T]
    assert view["requests"] == 0
    assert view["opened_at"] is None
    fail(b, 9)  # the old failures are gone: nine more are not enough
    assert b.state(T) == "closed"


def test_a_failed_probe_opens_again_for_open_s() -> None:
    clock = ManualClock()
    b = opened(clock, half_open_probes=2)
    clock.advance(30.0)
    assert b.allow(T)
    assert b.allow(T)
    b.record(T, ok=False)
    assert b.state(T) == "open"
    assert not b.allow(T)
    b.record(T, ok=True)  # the second probe ends while open again: no transition
    assert b.state(T) == "open"
    clock.advance(29.0)
    assert not b.allow(T)
    clock.advance(1.0)
    assert b.state(T) == "half_open"
    assert b.allow(T)


def test_outcomes_while_open_are_counted_without_transition() -> None:
    b = opened(ManualClock())
    b.record(T, ok=True)
    assert b.state(T) == "open"
    assert b.snapshot()[T]["requests"] == 11


def test_the_window_slides_and_old_failures_expire() -> None:
    clock = ManualClock()
    b = breakers(clock)
    fail(b, 9)
    clock.advance(66.0)  # a window and a bucket later
    fail(b, 1)
    assert b.state(T) == "closed"
    assert b.snapshot()[T]["requests"] == 1


def test_failures_within_the_window_add_up() -> None:
    clock = ManualClock()
    b = breakers(clock)
    fail(b, 5)
    clock.advance(40.0)
    fail(b, 4)
    assert b.state(T) == "closed"
    fail(b, 1)
    assert b.state(T) == "open"


def test_without_redis_start_stop_and_sync_are_no_ops() -> None:
    async def scenario() -> bool:
        b = breakers(ManualClock())
        await b.start()
        fail(b, 1)
        result = await b.sync()
        await b.stop()
        return result

    assert asyncio.run(scenario()) is False


def test_window_ring_sums_only_the_last_buckets() -> None:
    window = Window(3)
    window.add(10, 1, 0)
    window.add(11, 1, 1)
    window.add(12, 0, 1)
    assert window.totals(12) == (2, 2)
    assert window.totals(13) == (1, 2)
    window.add(13, 5, 5)  # takes the slot of bucket 10
    window.add(10, 9, 9)  # older than the slot holds: ignored
    assert window.totals(13) == (6, 7)
    window.load({20: (1, 2)})
    assert window.totals(20) == (1, 2)


def test_shared_counts_merge_pending_with_the_fleet_and_give_back() -> None:
    counts = SharedCounts(track=True)
    counts.add(100, 1, 0)
    counts.add(100, 0, 1)
    counts.remote.load({99: (5, 5)})
    assert counts.totals(100, fleet=False) == (1, 1)
    assert counts.totals(100, fleet=True) == (6, 6)
    taken = counts.take(100)
    assert taken == {100: (1, 1)}
    assert counts.totals(100, fleet=True) == (5, 5)
    counts.add(100, 1, 0)
    counts.give_back(taken)
    assert counts.pending == {100: [2, 1]}
    counts.add(200, 0, 1)  # a new bucket prunes deltas older than the window
    assert list(counts.pending) == [200]
