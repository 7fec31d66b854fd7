"""The window arithmetic on its own: buckets, running totals, fits, and how long until a request
fits."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

import pytest

from steward.limits import window
from steward.limits.window import BUCKETS, Counter


def test_buckets_of_a_minute_are_100_ms_and_a_request_counts_601() -> None:
    assert BUCKETS == 600
    assert window.bucket_width(60.0) == 0.1
    assert window.bucket_of(119.95, 60.0) == 1199
    assert window.bucket_of(120.0, 60.0) == 1200
    assert window.bucket_of(3.0, 6.0) == 300  # 10 ms buckets


@pytest.mark.parametrize("window_s", [1.0, 6.0, 7.0, 60.0, 3600.0])
@pytest.mark.parametrize("index", [1, 7, 123_456, 29_000_000_003, 10**11 + 17])
def test_bucket_start_is_the_first_clock_reading_in_the_bucket(window_s: float, index: int) -> None:
    at = window.bucket_start(index, window_s)
    assert window.bucket_of(at, window_s) == index
    assert window.bucket_of(math.nextafter(at, -math.inf), window_s) == index - 1


def counter(counts: dict[int, float], oldest: int) -> Counter:
    total = 0.0
    for bucket in sorted(counts):
        total += counts[bucket]
    return Counter(total, oldest, dict(counts))


def test_expire_drops_the_buckets_below_the_first_counted_oldest_first() -> None:
    c = counter({100: 5.0, 101: 7.0, 650: 2.0, 700: 1.0}, 100)
    c.expire(101)  # bucket 100 leaves
    assert (c.total, c.oldest, sorted(c.counts)) == (10.0, 101, [101, 650, 700])
    c.expire(650)
    assert (c.total, c.oldest, sorted(c.counts)) == (3.0, 650, [650, 700])
    c.expire(640)  # an older clock: nothing leaves, nothing moves
    assert (c.total, c.oldest) == (3.0, 650)
    c.expire(701)  # the last bucket leaves: exactly 0, whatever float error was left
    assert (c.total, c.oldest, c.counts) == (0.0, 701, {})


def test_a_counter_a_window_away_starts_over() -> None:
    ahead = counter({100: 5.0, 700: 1.0}, 100)
    ahead.expire(100 + BUCKETS + 2)
    assert (ahead.total, ahead.oldest, ahead.counts) == (0.0, 100 + BUCKETS + 2, {})
    late = counter({100: 5.0, 700: 1.0}, 100)  # a replica's clock up to a window behind
    late.expire(100 - 2 * BUCKETS - 1)
    assert (late.total, late.oldest) == (6.0, 100)
    behind = counter({100: 5.0, 700: 1.0}, 100)  # a clock that jumped back, a changed window
    behind.expire(100 - 2 * BUCKETS - 2)
    assert (behind.total, behind.counts) == (0.0, {})


def test_add_writes_the_current_bucket_or_the_oldest_still_held() -> None:
    c = Counter()
    c.expire(1000 - BUCKETS)
    c.add(1000, 3.0)
    c.add(300, 2.0)  # a clock more than a window behind still counts, at the oldest bucket
    assert (c.total, c.counts) == (5.0, {1000: 3.0, 400: 2.0})


def test_adjust_moves_the_bucket_and_the_total_never_below_zero() -> None:
    c = counter({10: 5.0, 11: 7.0}, 10)
    c.adjust(11, -3.0)
    assert (c.total, c.counts[11]) == (9.0, 4.0)
    c.adjust(10, -50.0)  # a refund of more than the bucket holds takes only what it holds
    assert (c.total, c.counts[10]) == (4.0, 0.0)
    c.adjust(9, -4.0)  # a bucket that left the count: already given back
    assert c.total == 4.0


class Lookups(dict[int, float]):
    """A bucket dict that counts how often it is searched or walked."""

    lookups = 0

    def __contains__(self, key: object) -> bool:
        self.lookups += 1
        return super().__contains__(key)

    def get(self, key: int, default: float | None = None) -> float | None:  # type: ignore[override]
        self.lookups += 1
        return super().get(key, default)

    def __iter__(self) -> Iterator[int]:
        self.lookups += len(self)
        return super().__iter__()


def test_a_request_costs_the_buckets_that_left_not_the_window() -> None:
    counts = Lookups(dict.fromkeys(range(1000, 1000 + BUCKETS + 1), 1.0))
    c = Counter(float(BUCKETS + 1), 1000, counts)
    c.expire(1000)  # the same bucket as the last request: no work
    assert counts.lookups == 0
    c.expire(1001)
    c.add(1001 + BUCKETS, 1.0)
    assert counts.lookups <= 2
    counts.lookups = 0
    c.expire(1031)  # idle for 30 buckets: 30 lookups
    assert counts.lookups == 30 and len(counts) == BUCKETS + 1 - 30


def test_a_sparse_counter_costs_what_it_holds_not_the_gap() -> None:
    counts = Lookups({1000: 1.0, 1300: 1.0, 1500: 2.0})
    c = Counter(4.0, 1000, counts)
    c.expire(1400)
    assert counts.lookups <= 3
    assert (c.total, sorted(counts)) == (2.0, [1500])


def test_freeing_is_the_bucket_whose_leaving_makes_room() -> None:
    c = counter({100: 10.0, 110: 40.0, 125: 50.0}, 100)
    assert c.freeing(30.0, 100.0) == 110  # freeing 100 leaves 90: no room for 30
    assert c.freeing(1.0, 100.0) == 100
    assert c.freeing(100.0, 100.0) == 125  # the last one: nothing is left
    assert Counter().freeing(1.0, 100.0) is None


def test_freeing_moves_oldest_up_to_the_oldest_bucket_held() -> None:
    c = counter({400: 10.0, 450: 40.0}, 100)  # nothing held in 100 ..< 400
    assert c.freeing(1.0, 50.0) == 400
    assert c.oldest == 400  # the next refusal starts at 400
    c.expire(350)  # a request whose window starts below it: nothing to expire
    assert (c.total, c.oldest) == (50.0, 400)


def test_freeing_walks_as_expire_drops() -> None:
    rng = random.Random(3)
    for _ in range(200):
        held = {1000 + rng.randrange(BUCKETS + 1): rng.uniform(0, 30) for _ in range(20)}
        c = counter(held, 1000)
        amount = rng.uniform(1, 100)
        bucket = c.freeing(amount, 300.0)
        assert bucket is not None
        later = counter(held, 1000)
        later.expire(bucket + 1)  # when `bucket` has left: it fits, and not a bucket sooner
        assert window.fits(later.total, amount, 300.0)
        sooner = counter(held, 1000)
        sooner.expire(bucket)
        assert bucket == min(held) or not window.fits(sooner.total, amount, 300.0)


def test_fits_allows_float_sums_to_reach_the_limit_exactly() -> None:
    spend = 0.0
    for _ in range(19):
        spend += 0.05
    assert window.fits(spend, 0.05, 1.0)
    assert not window.fits(spend + 0.05, 0.01, 1.0)


def test_retry_after_is_when_the_freeing_bucket_leaves() -> None:
    # Bucket 1000 (100.0 s) leaves when bucket 1601 starts.
    wait = window.rate_retry_after(1000, 130.5, 60.0, 100.0, 1.0)
    assert wait == pytest.approx(160.1 - 130.5)
    assert window.bucket_of(130.5 + wait, 60.0) == 1601
    assert window.bucket_of(math.nextafter(130.5 + wait, -math.inf), 60.0) == 1600


def test_retry_after_with_sub_second_buckets_is_never_a_hair_short() -> None:
    bucket = window.bucket_of(10.05, 6.0)
    wait = window.rate_retry_after(bucket, 13.0, 6.0, 10.0, 1.0)
    assert wait == pytest.approx(10.05 + 6.01 - 13.0)
    assert window.bucket_of(13.0 + wait, 6.0) - BUCKETS == bucket + 1


def test_an_amount_over_the_limit_never_fits() -> None:
    assert window.rate_retry_after(None, 130.0, 60.0, 100.0, 101.0) == 60.0
    assert window.rate_retry_after(1000, 130.0, 60.0, 100.0, 101.0) == 60.0


def test_budget_retry_after_is_the_end_of_the_period_or_zero_for_a_total() -> None:
    assert window.budget_retry_after(100.0, 160.0) == 60.0
    assert window.budget_retry_after(200.0, 160.0) == 0.0
    assert window.budget_retry_after(100.0, None) == 0.0
