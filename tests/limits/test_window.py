"""The sliding-window arithmetic on its own: weights, fits, and how long until a request fits."""

from __future__ import annotations

import pytest

from steward.limits import window


def test_window_index_and_previous_weight() -> None:
    assert window.window_index(119.9, 60.0) == 1
    assert window.window_index(120.0, 60.0) == 2
    assert window.previous_weight(120.0, 60.0) == 1.0
    assert window.previous_weight(135.0, 60.0) == pytest.approx(0.75)
    assert window.sliding_used(100.0, 10.0, 0.75) == 85.0


def test_fits_allows_float_sums_to_reach_the_limit_exactly() -> None:
    spend = 0.0
    for _ in range(19):
        spend += 0.05
    assert window.fits(spend, 0.05, 1.0)
    assert not window.fits(spend + 0.05, 0.01, 1.0)


def test_retry_after_is_zero_when_it_fits() -> None:
    assert window.rate_retry_after(50.0, 20.0, 130.0, 60.0, 100.0, 1.0) == 0.0


def test_retry_after_waits_for_the_previous_window_to_decay() -> None:
    # At 10 s into the window: 100 * (5/6) + 20 = 103.3; 1 more fits once 100 * w <= 79.
    wait = window.rate_retry_after(100.0, 20.0, 130.0, 60.0, 100.0, 1.0)
    assert wait == pytest.approx((50 / 60 - 0.79) * 60)


def test_retry_after_crosses_the_boundary_when_the_current_window_is_full() -> None:
    # Current window holds 100 of 100: at the boundary it weighs 100, then 1 fits at w = 0.99.
    wait = window.rate_retry_after(0.0, 100.0, 130.0, 60.0, 100.0, 1.0)
    assert wait == pytest.approx(50.0 + 0.6)


def test_an_amount_over_the_limit_never_fits() -> None:
    assert window.rate_retry_after(0.0, 0.0, 130.0, 60.0, 100.0, 101.0) == 60.0


def test_budget_retry_after_is_the_end_of_the_period_or_zero_for_a_total() -> None:
    assert window.budget_retry_after(100.0, 160.0) == 60.0
    assert window.budget_retry_after(200.0, 160.0) == 0.0
    assert window.budget_retry_after(100.0, None) == 0.0
