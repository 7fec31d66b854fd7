"""The window arithmetic on its own: buckets, counts, fits, and how long until a request fits."""

from __future__ import annotations

import pytest

from steward.limits import window


def test_buckets_of_a_minute_are_seconds_and_a_request_counts_sixty_one() -> None:
    assert window.bucket_width(60.0) == 1.0
    assert window.bucket_of(119.9, 60.0) == 119
    assert window.bucket_of(120.0, 60.0) == 120
    assert window.counted_buckets(120.5, 60.0) == range(60, 121)
    assert window.bucket_of(3.0, 6.0) == 30  # 0.1 s buckets


@pytest.mark.parametrize("window_s", [1.0, 6.0, 7.0, 60.0, 3600.0])
@pytest.mark.parametrize("index", [1, 7, 123_456, 29_000_000_003, 10**11 + 17])
def test_bucket_start_is_the_first_clock_reading_in_the_bucket(window_s: float, index: int) -> None:
    import math

    at = window.bucket_start(index, window_s)
    assert window.bucket_of(at, window_s) == index
    assert window.bucket_of(math.nextafter(at, -math.inf), window_s) == index - 1


def test_rate_used_sums_only_the_counted_buckets() -> None:
    counts = {58: 100.0, 59: 7.0, 100: 5.0, 119: 2.0, 120: 1.0, 121: 50.0}
    # At 119.5 the buckets 59..=119 count: 58 has left, 120 and 121 have not started.
    assert window.rate_used(counts, 119.5, 60.0) == 7.0 + 5.0 + 2.0
    assert window.rate_used(counts, 120.0, 60.0) == 5.0 + 2.0 + 1.0
    assert window.rate_used({}, 120.0, 60.0) == 0.0


def test_fits_allows_float_sums_to_reach_the_limit_exactly() -> None:
    spend = 0.0
    for _ in range(19):
        spend += 0.05
    assert window.fits(spend, 0.05, 1.0)
    assert not window.fits(spend + 0.05, 0.01, 1.0)


def test_retry_after_is_zero_when_it_fits() -> None:
    assert window.rate_retry_after({100: 50.0, 110: 20.0}, 130.0, 60.0, 100.0, 1.0) == 0.0


def test_retry_after_waits_for_the_oldest_bucket_to_leave() -> None:
    # Bucket 100 leaves when bucket 161 starts; then 20 + 1 fits.
    wait = window.rate_retry_after({100: 80.0, 110: 20.0}, 130.5, 60.0, 100.0, 1.0)
    assert wait == 161.0 - 130.5


def test_retry_after_walks_past_buckets_that_free_too_little() -> None:
    counts = {100: 10.0, 110: 40.0, 125: 50.0}
    # Freeing 100 leaves 90 (no room for 30); freeing 110 leaves 50: at 171.
    assert window.rate_retry_after(counts, 130.0, 60.0, 100.0, 30.0) == 171.0 - 130.0
    # The current bucket itself has to leave when it alone is too full.
    assert window.rate_retry_after({130: 100.0}, 130.2, 60.0, 100.0, 1.0) == 191.0 - 130.2


def test_retry_after_with_sub_second_buckets_is_never_a_hair_short() -> None:
    counts = {window.bucket_of(10.05, 6.0): 10.0}
    now = 13.0
    wait = window.rate_retry_after(counts, now, 6.0, 10.0, 1.0)
    assert wait == pytest.approx(10.0 + 0.1 + 6.0 - now)
    assert window.rate_used(counts, now + wait, 6.0) == 0.0


def test_an_amount_over_the_limit_never_fits() -> None:
    assert window.rate_retry_after({}, 130.0, 60.0, 100.0, 101.0) == 60.0


def test_budget_retry_after_is_the_end_of_the_period_or_zero_for_a_total() -> None:
    assert window.budget_retry_after(100.0, 160.0) == 60.0
    assert window.budget_retry_after(200.0, 160.0) == 0.0
    assert window.budget_retry_after(100.0, None) == 0.0
