"""Live statistics per target: attempts in flight, error rate and latency quantiles over a window.

The request path (`started`, `finished`, the readers) touches only memory: counters in ten time
buckets per window and a bounded ring of recent successful latencies, sorted at most every
100 ms when read. With Redis, a background task (`start`/`stop`) shares them with the other
replicas every 0.25 s (latencies every second). Keys, under the store's prefix:

    health:{target}:b:{bucket}  hash n/err: the fleet's attempts and errors in one time bucket
    health:{target}:inflight    hash replica -> "count:epoch_s", fresh for 2 s
    health:{target}:lat         list of "epoch_s:latency_ms", the fleet's last `max_samples`

Without a working sync (no Redis, Redis down, `start` not called) the figures are this process's.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from steward.errors import StorageError
from steward.routing.fleet import (
    Command,
    OutageLog,
    SyncTask,
    as_float,
    as_hash,
    as_int,
    execute,
    ttl_ms,
)
from steward.routing.window import BUCKETS, SharedCounts
from steward.storage.redis import RedisStore

__all__ = ["TargetHealth"]

QUANTILE_CACHE_S = 0.1
LATENCY_EVERY_S = 1.0
IN_FLIGHT_FRESH_S = 2.0
IN_FLIGHT_FORGET_S = 60.0

Sample = tuple[float, float]
"""(wall-clock seconds, latency in ms) of one successful attempt."""


@dataclass(slots=True)
class _Stats:
    counts: SharedCounts
    samples: deque[Sample]
    outbox: deque[Sample]
    """Samples not yet pushed to Redis."""
    in_flight: int = 0
    others_in_flight: int = 0
    fleet_samples: list[Sample] = field(default_factory=list)
    stale_replicas: list[str] = field(default_factory=list)
    sorted_ms: list[float] = field(default_factory=list)
    sorted_at: float = -math.inf
    sorted_fleet: bool = False


@dataclass(slots=True)
class _Round:
    stats: _Stats
    bucket: int
    taken: dict[int, tuple[int, int]]
    sent: list[Sample] | None
    """Samples pushed in this round; None when latencies are not exchanged this round."""
    stale: list[str]
    commands: list[Command] = field(default_factory=list)


class TargetHealth:
    """Live per-target statistics of this process (and, with Redis, of all replicas)."""

    def __init__(
        self,
        *,
        window_s: float = 60.0,
        max_samples: int = 512,
        shared: RedisStore | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._window_s = window_s
        self._max_samples = max_samples
        self._shared = shared
        self._clock = clock
        self._offset = time.time() - clock()
        self._bucket_s = window_s / BUCKETS
        self._stats: dict[str, _Stats] = {}
        self._fleet = False
        self._id = uuid.uuid4().hex
        self._exchanged_at = -math.inf
        self._leaving = False
        self._outage = OutageLog("health", clock)
        self._task = SyncTask(self.sync, name="steward.health.sync") if shared else None

    # The request path: memory only.

    def started(self, target: str) -> None:
        self._get(target).in_flight += 1

    def finished(self, target: str, *, latency_ms: float, ok: bool) -> None:
        stats = self._get(target)
        if stats.in_flight > 0:
            stats.in_flight -= 1
        now = self._now()
        stats.counts.add(int(now // self._bucket_s), 1, int(not ok))
        if ok:
            stats.samples.append((now, latency_ms))
            if self._shared is not None:
                stats.outbox.append((now, latency_ms))

    def abandoned(self, target: str) -> None:
        """An attempt ended without an outcome (cancelled): no longer in flight, not counted."""
        stats = self._get(target)
        if stats.in_flight > 0:
            stats.in_flight -= 1

    def in_flight(self, target: str) -> int:
        """Attempts running now: here, plus the other replicas' as of the last sync."""
        stats = self._stats.get(target)
        if stats is None:
            return 0
        return stats.in_flight + (stats.others_in_flight if self._fleet else 0)

    def local_in_flight(self, target: str) -> int:
        stats = self._stats.get(target)
        return 0 if stats is None else stats.in_flight

    def latency_ms(self, target: str, q: float) -> float | None:
        """The `q` quantile (nearest rank) of successful latencies in the window; None if none."""
        stats = self._stats.get(target)
        if stats is None:
            return None
        values = self._sorted(stats, self._now())
        if not values:
            return None
        rank = min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))
        return values[rank]

    def error_rate(self, target: str) -> float | None:
        requests, errors = self._counts(target)
        return errors / requests if requests else None

    def snapshot(self) -> dict[str, dict[str, object]]:
        """Per target: in flight, attempts and errors in the window, error rate, p50/p95/p99."""
        view: dict[str, dict[str, object]] = {}
        for target in sorted(self._stats):
            requests, errors = self._counts(target)
            view[target] = {
                "in_flight": self.in_flight(target),
                "requests": requests,
                "errors": errors,
                "error_rate": errors / requests if requests else None,
                "p50_ms": self.latency_ms(target, 0.5),
                "p95_ms": self.latency_ms(target, 0.95),
                "p99_ms": self.latency_ms(target, 0.99),
                "shared": self._fleet,
            }
        return view

    def _now(self) -> float:
        return self._clock() + self._offset

    def _get(self, target: str) -> _Stats:
        stats = self._stats.get(target)
        if stats is None:
            stats = _Stats(
                SharedCounts(track=self._shared is not None),
                deque(maxlen=self._max_samples),
                deque(maxlen=self._max_samples),
            )
            self._stats[target] = stats
        return stats

    def _counts(self, target: str) -> tuple[int, int]:
        stats = self._stats.get(target)
        if stats is None:
            return 0, 0
        return stats.counts.totals(int(self._now() // self._bucket_s), fleet=self._fleet)

    def _sorted(self, stats: _Stats, now: float) -> list[float]:
        if now - stats.sorted_at < QUANTILE_CACHE_S and stats.sorted_fleet == self._fleet:
            return stats.sorted_ms
        oldest = now - self._window_s
        if self._fleet:
            values = [ms for at, ms in stats.fleet_samples if at > oldest]
            values += [ms for at, ms in stats.outbox if at > oldest]
        else:
            values = [ms for at, ms in stats.samples if at > oldest]
        values.sort()
        stats.sorted_ms, stats.sorted_at, stats.sorted_fleet = values, now, self._fleet
        return values

    # Sharing through Redis.

    def watch(self, targets: Iterable[str]) -> None:
        """Sync these targets from now on, before their first attempt (e.g. all configured)."""
        for target in targets:
            self._get(target)

    async def start(self) -> None:
        """Start syncing with Redis in the running event loop; a no-op without Redis."""
        if self._task is not None:
            self._task.start()

    async def stop(self) -> None:
        """Stop syncing and withdraw this replica's in-flight counts; a no-op without Redis."""
        if self._task is not None and self._task.running:
            await self._task.stop()
            self._leaving = True
            await self.sync()
            self._leaving = False

    async def sync(self) -> bool:
        """One round: push deltas, pull the fleet's figures; False if Redis failed."""
        if self._shared is None:
            return False
        now = self._now()
        exchange = now - self._exchanged_at >= LATENCY_EVERY_S
        rounds = [self._plan(t, s, now, exchange=exchange) for t, s in list(self._stats.items())]
        try:
            commands = [c for r in rounds for c in r.commands]
            replies = await execute(self._shared, commands or [("PING",)])
        except StorageError as exc:
            for r in rounds:
                self._undo(r)
            self._fleet = False
            self._outage.failed(exc)
            return False
        self._outage.recovered()
        self._fleet = True
        if exchange:
            self._exchanged_at = now
        start = 0
        for r in rounds:
            self._apply(r, replies[start : start + len(r.commands)], now)
            start += len(r.commands)
        return True

    def _plan(self, target: str, stats: _Stats, now: float, *, exchange: bool) -> _Round:
        assert self._shared is not None
        key = self._shared.key
        bucket = int(now // self._bucket_s)
        r = _Round(stats, bucket, stats.counts.take(bucket), None, stats.stale_replicas)
        stats.stale_replicas = []
        window_ms = ttl_ms(2 * self._window_s)
        for held, (requests, errors) in r.taken.items():
            bucket_key = key("health", target, "b", str(held))
            r.commands += [
                ("HINCRBY", bucket_key, "n", requests),
                ("HINCRBY", bucket_key, "err", errors),
                ("PEXPIRE", bucket_key, window_ms),
            ]
        flight_key = key("health", target, "inflight")
        if r.stale:
            r.commands.append(("HDEL", flight_key, *r.stale))
        if self._leaving:
            r.commands.append(("HDEL", flight_key, self._id))
        else:
            r.commands.append(("HSET", flight_key, self._id, f"{stats.in_flight}:{now!r}"))
        r.commands.append(("PEXPIRE", flight_key, ttl_ms(IN_FLIGHT_FORGET_S)))
        if exchange:
            r.sent = list(stats.outbox)
            stats.outbox.clear()
            r.commands += self._latency_commands(key("health", target, "lat"), r.sent)
        r.commands.append(("HGETALL", flight_key))
        held_buckets = range(bucket - BUCKETS + 1, bucket + 1)
        r.commands += [("HGETALL", key("health", target, "b", str(b))) for b in held_buckets]
        return r

    def _latency_commands(self, lat_key: str, samples: list[Sample]) -> list[Command]:
        commands: list[Command] = []
        if samples:
            values = [f"{at!r}:{ms!r}" for at, ms in samples]
            commands += [
                ("RPUSH", lat_key, *values),
                ("LTRIM", lat_key, -self._max_samples, -1),
                ("PEXPIRE", lat_key, ttl_ms(2 * self._window_s)),
            ]
        commands.append(("LRANGE", lat_key, 0, -1))
        return commands

    def _undo(self, r: _Round) -> None:
        stats = r.stats
        stats.counts.give_back(r.taken)
        stats.stale_replicas = r.stale + stats.stale_replicas
        if r.sent:
            stats.outbox = deque(r.sent + list(stats.outbox), maxlen=self._max_samples)

    def _apply(self, r: _Round, replies: list[object], now: float) -> None:
        stats = r.stats
        counts: dict[int, tuple[int, int]] = {}
        for offset, reply in enumerate(replies[-BUCKETS:]):
            fields = as_hash(reply)
            if fields:
                counts[r.bucket - BUCKETS + 1 + offset] = (
                    as_int(fields.get("n")),
                    as_int(fields.get("err")),
                )
        stats.counts.remote.load(counts)
        self._read_in_flight(stats, as_hash(replies[-BUCKETS - 1]), now)
        if r.sent is not None:
            reply = replies[-BUCKETS - 2]
            lines = reply if isinstance(reply, list) else []
            oldest = now - self._window_s
            stats.fleet_samples = [s for s in map(_sample, lines) if s and s[0] > oldest]
            stats.sorted_at = -math.inf

    def _read_in_flight(self, stats: _Stats, replicas: dict[str, str], now: float) -> None:
        others = 0
        for replica, value in replicas.items():
            if replica == self._id:
                continue
            count, _, at = value.partition(":")
            age = now - as_float(at)
            if age <= IN_FLIGHT_FRESH_S:
                others += as_int(count)
            elif age > IN_FLIGHT_FORGET_S:
                stats.stale_replicas.append(replica)
        stats.others_in_flight = others


def _sample(line: object) -> Sample | None:
    text = line.decode() if isinstance(line, bytes) else str(line)
    at, _, ms = text.partition(":")
    try:
        return float(at), float(ms)
    except ValueError:
        return None
