"""The arithmetic of limits: sub-bucketed sliding windows, whether a request fits, and when it will.

A rate rule's window of `window_s` seconds is cut into `BUCKETS` buckets of `window_s / BUCKETS`
seconds, numbered `floor(now / width)` so every replica numbers them alike. A request in bucket
`c` counts the `BUCKETS + 1` buckets `c - BUCKETS ..= c`: they cover between `window_s` and
`window_s + width` seconds back from now, so every request admitted in the last `window_s`
seconds is counted. The guarantee: over any span of `window_s` seconds the admitted total never
exceeds the limit (settles that charge more than was reserved aside). The price is at most one
bucket's width of under-admission: what a request reserved is given back up to `width` seconds
late, when its whole bucket leaves the count.

Both backends call these functions, and the Redis script repeats `rate_used` and `fits` in the
same order of float operations, so they decide alike on the same counts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = [
    "BUCKETS",
    "TOLERANCE",
    "bucket_of",
    "bucket_start",
    "bucket_width",
    "budget_retry_after",
    "ceiling",
    "counted_buckets",
    "fits",
    "rate_retry_after",
    "rate_used",
]

BUCKETS = 60
"""Buckets per window: 1 s buckets for a minute."""

TOLERANCE = 1e-9
"""Relative slack on every comparison, so twenty reservations of $0.05 fill a $1.00 budget
even though their float sum is 1.0000000000000002."""


def bucket_width(window_s: float) -> float:
    return window_s / BUCKETS


def bucket_of(now: float, window_s: float) -> int:
    """The bucket `now` falls in: `floor(now / width)`."""
    return math.floor(now / bucket_width(window_s))


def bucket_start(index: int, window_s: float) -> float:
    """The earliest clock reading in bucket `index` (by `bucket_of`, whatever the float rounding
    of `index * width`), so a wait computed to it is never a hair short."""
    at = index * bucket_width(window_s)
    while bucket_of(at, window_s) >= index:
        at = math.nextafter(at, -math.inf)
    while bucket_of(at, window_s) < index:
        at = math.nextafter(at, math.inf)
    return at


def counted_buckets(now: float, window_s: float) -> range:
    """The buckets a request at `now` counts, oldest first."""
    current = bucket_of(now, window_s)
    return range(current - BUCKETS, current + 1)


def rate_used(counts: Mapping[int, float], now: float, window_s: float) -> float:
    """The count at `now`: the counted buckets of `counts` (bucket -> count), summed oldest first.

    A plain loop, not `sum()` (which compensates float error on Python 3.12+): the Redis script
    adds in this order too."""
    used = 0.0
    for bucket in counted_buckets(now, window_s):
        count = counts.get(bucket)
        if count is not None:
            used += count
    return used


def ceiling(limit: float) -> float:
    """The largest total that still fits under `limit` (the limit plus float slack)."""
    return limit + TOLERANCE * max(1.0, abs(limit))


def fits(used: float, amount: float, limit: float) -> bool:
    """Whether `amount` more fits: `used + amount <= limit` (with float slack).

    The Redis script compares `used + amount <= ceiling(limit)` in the same order of
    operations, so both backends decide alike on the same counts."""
    return used + amount <= ceiling(limit)


def rate_retry_after(
    counts: Mapping[int, float], now: float, window_s: float, limit: float, amount: float
) -> float:
    """Seconds until `amount` would fit, assuming no more traffic (0 when it fits now).

    Bucket `b` leaves the count when bucket `b + BUCKETS + 1` starts; the answer is the first
    such moment at which the buckets left make room, checked with `rate_used` exactly as the
    request would be then. An `amount` over `limit` can never fit: the answer is then
    `window_s`, and the caller must say so."""
    if amount > ceiling(limit):
        return window_s
    left = rate_used(counts, now, window_s)
    if fits(left, amount, limit):
        return 0.0
    current = bucket_of(now, window_s)
    held = sorted(b for b in counts if b >= current - BUCKETS)
    later = now
    for bucket in held:
        if bucket <= current:
            left -= counts[bucket]
        # `left` is an estimate (float subtraction need not undo the sum exactly), hence the
        # doubled slack; the check at `later` is exact.
        later = bucket_start(bucket + BUCKETS + 1, window_s)
        if fits(left, amount, ceiling(limit)) and fits(
            rate_used(counts, later, window_s), amount, limit
        ):
            return later - now
    return later - now  # every bucket held has left by now: nothing counts


def budget_retry_after(now: float, expires_at: float | None) -> float:
    """Seconds until a spent budget's period ends and a new counter starts.

    A total budget (`expires_at` None) never renews: the answer is 0, and the caller must not
    present it as "retry after 0 s" (JSON has no infinity; the rule's label says "total")."""
    if expires_at is None:
        return 0.0
    return max(0.0, expires_at - now)
