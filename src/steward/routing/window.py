"""Pairs of counters per time bucket over a sliding window, local and merged with the fleet's.

A bucket is `floor(wall_s / bucket_s)`, so every replica numbers the buckets alike and their
counts can be summed in Redis bucket by bucket.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["BUCKETS", "SharedCounts", "Window"]

BUCKETS = 10
"""Buckets per window: the window slides in steps of a tenth of its length."""


class Window:
    """Two counters per bucket for the last `size` buckets, in a ring: O(1) to add, O(size) to sum."""

    __slots__ = ("_a", "_b", "_ids", "size")

    def __init__(self, size: int = BUCKETS) -> None:
        self.size = size
        self._ids = [-1] * size
        self._a = [0] * size
        self._b = [0] * size

    def add(self, bucket: int, a: int, b: int) -> None:
        slot = bucket % self.size
        held = self._ids[slot]
        if held == bucket:
            self._a[slot] += a
            self._b[slot] += b
        elif held < bucket:
            self._ids[slot] = bucket
            self._a[slot] = a
            self._b[slot] = b

    def totals(self, bucket: int) -> tuple[int, int]:
        """Sums over the buckets `(bucket - size, bucket]`."""
        oldest = bucket - self.size
        total_a = total_b = 0
        for slot, held in enumerate(self._ids):
            if oldest < held <= bucket:
                total_a += self._a[slot]
                total_b += self._b[slot]
        return total_a, total_b

    def clear(self) -> None:
        for slot in range(self.size):
            self._ids[slot] = -1
            self._a[slot] = self._b[slot] = 0

    def load(self, counts: Mapping[int, tuple[int, int]]) -> None:
        """Replace every bucket by `counts`."""
        self.clear()
        for bucket, (a, b) in counts.items():
            self.add(bucket, a, b)


class SharedCounts:
    """Counts of this process, its deltas not yet pushed to Redis, and the fleet's last pulled.

    `local` always holds this process's own counts: the fallback when Redis is unreachable.
    The fleet's view is `remote` (which includes every delta already pushed) plus `pending`.
    """

    __slots__ = ("local", "pending", "remote", "track")

    def __init__(self, *, track: bool, size: int = BUCKETS) -> None:
        self.track = track
        self.local = Window(size)
        self.remote = Window(size)
        self.pending: dict[int, list[int]] = {}

    def add(self, bucket: int, a: int, b: int) -> None:
        self.local.add(bucket, a, b)
        if not self.track:
            return
        delta = self.pending.get(bucket)
        if delta is None:
            self._prune(bucket)
            self.pending[bucket] = [a, b]
        else:
            delta[0] += a
            delta[1] += b

    def totals(self, bucket: int, *, fleet: bool) -> tuple[int, int]:
        if not fleet:
            return self.local.totals(bucket)
        total_a, total_b = self.remote.totals(bucket)
        oldest = bucket - self.local.size
        for held, (a, b) in self.pending.items():
            if oldest < held <= bucket:
                total_a += a
                total_b += b
        return total_a, total_b

    def take(self, bucket: int) -> dict[int, tuple[int, int]]:
        """The deltas still inside the window ending at `bucket`; pending starts afresh."""
        oldest = bucket - self.local.size
        taken = {k: (v[0], v[1]) for k, v in self.pending.items() if k > oldest and any(v)}
        self.pending = {}
        return taken

    def give_back(self, taken: Mapping[int, tuple[int, int]]) -> None:
        """Undo `take` after a failed push, keeping deltas recorded since."""
        for bucket, (a, b) in taken.items():
            delta = self.pending.setdefault(bucket, [0, 0])
            delta[0] += a
            delta[1] += b

    def clear(self) -> None:
        self.local.clear()
        self.remote.clear()
        self.pending = {}

    def _prune(self, bucket: int) -> None:
        oldest = bucket - self.local.size
        for held in [k for k in self.pending if k <= oldest]:
            del self.pending[held]
