"""The arithmetic of limits: sliding-window counts, whether a request fits, and when it will."""

from __future__ import annotations

import math

__all__ = [
    "TOLERANCE",
    "budget_retry_after",
    "ceiling",
    "fits",
    "previous_weight",
    "rate_retry_after",
    "sliding_used",
    "window_index",
]

TOLERANCE = 1e-9
"""Relative slack on every comparison, so twenty reservations of $0.05 fill a $1.00 budget
even though their float sum is 1.0000000000000002."""


def window_index(now: float, window_s: float) -> int:
    """The fixed window `now` falls in: `floor(now / window_s)`."""
    return math.floor(now / window_s)


def previous_weight(now: float, window_s: float) -> float:
    """How much of the previous window still counts: 1 at a window's start, towards 0 at its end.

    This is the sliding-window approximation (Cloudflare's): the previous window's count is
    assumed to have been spread evenly over it, so the part of it still inside the sliding
    window is proportional to what is left of the current one."""
    position = now / window_s
    return 1.0 - (position - math.floor(position))


def sliding_used(previous: float, current: float, weight: float) -> float:
    """The weighted count of the sliding window ending now."""
    return previous * weight + current


def ceiling(limit: float) -> float:
    """The largest total that still fits under `limit` (the limit plus float slack)."""
    return limit + TOLERANCE * max(1.0, abs(limit))


def fits(used: float, amount: float, limit: float) -> bool:
    """Whether `amount` more fits: `used + amount <= limit` (with float slack).

    The Redis script compares `used + amount <= ceiling(limit)` in the same order of
    operations, so both backends decide alike on the same counts."""
    return used + amount <= ceiling(limit)


def rate_retry_after(
    previous: float, current: float, now: float, window_s: float, limit: float, amount: float
) -> float:
    """Seconds until `amount` would fit in the sliding window, assuming no more traffic.

    The previous window's weight decays linearly to 0 at the end of the current window; after
    that the current window's count becomes the previous one and decays in turn. An `amount`
    over `limit` can never fit: the answer is then `window_s`, and the caller must say so.
    """
    if amount > ceiling(limit):
        return window_s
    weight = previous_weight(now, window_s)
    if fits(sliding_used(previous, current, weight), amount, limit):
        return 0.0
    to_boundary = weight * window_s
    if fits(current, amount, limit):
        # Wait until previous * w + current + amount <= limit, i.e. w <= room / previous.
        room = limit - current - amount
        wanted = max(0.0, min(1.0, room / previous))
        return max(0.0, (weight - wanted) * window_s)
    # Past the boundary `current` becomes the previous window: wait until its weight allows.
    wanted = max(0.0, min(1.0, (limit - amount) / current))
    return to_boundary + (1.0 - wanted) * window_s


def budget_retry_after(now: float, expires_at: float | None) -> float:
    """Seconds until a spent budget's period ends and a new counter starts.

    A total budget (`expires_at` None) never renews: the answer is 0, and the caller must not
    present it as "retry after 0 s" (JSON has no infinity; the rule's label says "total")."""
    if expires_at is None:
        return 0.0
    return max(0.0, expires_at - now)
