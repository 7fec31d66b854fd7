"""The arithmetic of limits: sub-bucketed sliding windows kept as running totals, whether a
request fits, and when it will.

A rate rule's window of `window_s` seconds is cut into `BUCKETS` buckets of `window_s / BUCKETS`
seconds (100 ms of a minute), numbered `floor(now / width)` so every replica numbers them alike.
A request in bucket `c` counts the `BUCKETS + 1` buckets `c - BUCKETS ..= c` (and any newer one
a replica with a faster clock wrote): they cover between `window_s` and `window_s + width`
seconds back from now, so every request admitted in the last `window_s` seconds is counted. The
guarantee: over any span of `window_s` seconds the admitted total never exceeds the limit
(settles that charge more than was reserved aside). The price is at most one bucket of
under-admission: what a request reserved is given back up to `width` seconds late, when its
whole bucket leaves the count, so under sustained overload a span admits at most one 100 ms
bucket's content less than an exact log of requests would (for a client that fills a minute's
tokens in 7 s, about 1.4% of the limit).

A `Counter` keeps a rule's buckets with their running `total` and the `oldest` index that may
still be held, so a request costs the buckets that left since the last one, not `BUCKETS`.
Buckets leave oldest first (by index) and the total drops to exactly 0 when the last one goes,
so float error cannot build up past a quiet moment. The Redis script repeats every step here
(`expire`, `add`, `adjust`, `freeing`, `fits`) in the same order of float operations and stores
doubles as `%.17g`, so both backends hold the same bits and decide alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = [
    "BUCKETS",
    "TOLERANCE",
    "Counter",
    "bucket_of",
    "bucket_start",
    "bucket_width",
    "budget_retry_after",
    "ceiling",
    "fits",
    "rate_retry_after",
]

BUCKETS = 600
"""Buckets per window: 100 ms buckets for a minute."""

TOLERANCE = 1e-9
"""Relative slack on every comparison, so twenty reservations of $0.05 fill a $1.00 budget
even though their float sum is 1.0000000000000002."""


def bucket_width(window_s: float) -> float:
    return window_s / BUCKETS


def bucket_of(now: float, window_s: float) -> int:
    """The bucket `now` falls in: `floor(now / width)`."""
    return math.floor(now / (window_s / BUCKETS))


def bucket_start(index: int, window_s: float) -> float:
    """The earliest clock reading in bucket `index` (by `bucket_of`, whatever the float rounding
    of `index * width`), so a wait computed to it is never a hair short."""
    at = index * bucket_width(window_s)
    while bucket_of(at, window_s) >= index:
        at = math.nextafter(at, -math.inf)
    while bucket_of(at, window_s) < index:
        at = math.nextafter(at, math.inf)
    return at


def ceiling(limit: float) -> float:
    """The largest total that still fits under `limit` (the limit plus float slack)."""
    return limit + TOLERANCE * max(1.0, abs(limit))


def fits(used: float, amount: float, limit: float) -> bool:
    """Whether `amount` more fits: `used + amount <= limit` (with float slack).

    The Redis script compares `used + amount <= ceiling(limit)` in the same order of
    operations, so both backends decide alike on the same counts."""
    return used + amount <= ceiling(limit)


@dataclass(slots=True)
class Counter:
    """One rate rule's window: its buckets, their running total, and where the oldest may be.

    Every bucket held lies in `oldest ..= oldest + BUCKETS`: a bucket is written at
    `max(current, oldest)` right after `expire(current - BUCKETS)`, and `oldest` only grows.
    A counter holding nothing is as good as none (Redis deletes its hash then)."""

    total: float = 0.0
    oldest: int | None = None
    """The lowest index that may be held (the oldest counted by the latest request, or the
    oldest held once a refusal looked); None before anything was counted."""
    counts: dict[int, float] = field(default_factory=dict)
    """Bucket index -> count."""

    def expire(self, first: int) -> None:
        """Drop the buckets below `first` (the oldest a request counts) from the total, oldest
        first, and make `first` the oldest. Walks the indices that left or the buckets held,
        whichever is fewer, so a request costs the buckets that left since the last one.

        A request whose own bucket is more than a window past every bucket held (idle that
        long) or before them (a clock that jumped back, a window that changed) starts the
        counter over; one a little behind (a replica's clock) moves nothing and counts all."""
        oldest = self.oldest
        if first == oldest:
            return
        counts = self.counts
        if oldest is None or not counts:  # nothing held (the total is 0): start here
            self.oldest = first
            return
        if first < oldest - 2 * BUCKETS - 1 or first > oldest + BUCKETS + 1:
            counts.clear()
            self.total = 0.0
        elif first > oldest:
            gone = _below(counts, oldest, first)
            total = self.total
            for bucket in gone:
                total -= counts.pop(bucket)
                if total < 0.0:
                    total = 0.0
            self.total = total if counts else 0.0
        else:
            return  # an older clock than the last request's: nothing left the count
        self.oldest = first

    def add(self, bucket: int, amount: float) -> None:
        """Count `amount` in `bucket` (after `expire`; a bucket that left counts at `oldest`)."""
        if self.oldest is not None and bucket < self.oldest:
            bucket = self.oldest
        counts = self.counts
        counts[bucket] = counts.get(bucket, 0.0) + amount
        self.total += amount

    def adjust(self, bucket: int, delta: float) -> None:
        """Add `delta` to a bucket still held, and to the total, neither going below 0; a
        bucket that left the count is left alone (its reservation was already given back)."""
        count = self.counts.get(bucket)
        if count is None:
            return
        value = count + delta
        if value < 0.0:
            value = 0.0
        self.counts[bucket] = value
        total = self.total + (value - count)
        self.total = total if total > 0.0 else 0.0

    def freeing(self, amount: float, limit: float) -> int | None:
        """The held bucket whose leaving makes `amount` fit, if no more traffic comes (None
        when nothing is held). Walks the buckets oldest first as `expire` would drop them, and
        moves `oldest` up to the oldest bucket held, so the next refusal starts there."""
        counts = self.counts
        left, held = self.total, len(counts)
        for seen, bucket in enumerate(_oldest_first(counts, self.oldest or 0), 1):
            if seen == 1:
                self.oldest = bucket
            left -= counts[bucket]
            if left < 0.0:
                left = 0.0
            if seen == held or fits(left, amount, limit):
                return bucket
        return None


def _oldest_first(counts: dict[int, float], oldest: int) -> Iterator[int]:
    """The held buckets by index: the first 8 indices from `oldest` (where a refusal usually
    finds room), then the rest sorted, as the Redis script reads them."""
    yield from (b for b in range(oldest, oldest + 8) if b in counts)
    yield from sorted(b for b in counts if b >= oldest + 8)


def _below(counts: dict[int, float], oldest: int, first: int) -> list[int]:
    """The held buckets in `oldest ..< first`, by index: walks the indices or sorts the held
    buckets, whichever is fewer (the same list either way)."""
    if first - oldest <= len(counts):
        return [b for b in range(oldest, first) if b in counts]
    return sorted(b for b in counts if b < first)


def rate_retry_after(
    freeing: int | None, now: float, window_s: float, limit: float, amount: float
) -> float:
    """Seconds until `amount` would fit, assuming no more traffic, given the bucket whose
    leaving makes room (`Counter.freeing`): bucket `b` leaves when bucket `b + BUCKETS + 1`
    starts. An `amount` over `limit` can never fit: the answer is then `window_s`, and the
    caller must say so."""
    if amount > ceiling(limit) or freeing is None:
        return window_s
    return bucket_start(freeing + BUCKETS + 1, window_s) - now


def budget_retry_after(now: float, expires_at: float | None) -> float:
    """Seconds until a spent budget's period ends and a new counter starts.

    A total budget (`expires_at` None) never renews: the answer is 0, and the caller must not
    present it as "retry after 0 s" (JSON has no infinity; the rule's label says "total")."""
    if expires_at is None:
        return 0.0
    return max(0.0, expires_at - now)
