"""Circuit breakers, one per target: closed, open after too many failures, half-open to probe.

A breaker opens when, over the last `window_s` (ten time buckets), at least `min_requests`
attempts ended and the share of failures reached `failure_ratio` (checked after each failure
and each sync); never on one failure. It
stays open `open_s`, then lets at most `half_open_probes` attempts through at once: a success
closes it and clears the window, a failure opens it again for `open_s`.

With Redis, replicas share one breaker per target, yet `allow`/`record`/`release` only touch
memory. A background task (`start`/`stop`) pushes this process's counts and transitions every
0.25 s and pulls the fleet's in the same pipeline. Keys, under the store's prefix:

    breaker:{target}:b:{bucket}  hash ok/fail: the fleet's counts in one time bucket
    breaker:{target}:state       hash opened_at/open_until/closed_at (epoch s): the latest
                                 transition of any replica wins
    breaker:{target}:probe       lease (SET NX PX) of the one replica that probes when half-open

Without a working sync (no Redis, Redis down, `start` not called) each process decides alone.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from steward.config.schema import BreakerConfig
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

__all__ = ["BreakerState", "Breakers"]

BreakerState = Literal["closed", "open", "half_open"]


@dataclass(slots=True)
class _Breaker:
    """One target's breaker. Times are wall-clock seconds (the injected clock, shifted)."""

    counts: SharedCounts
    state: BreakerState = "closed"
    opened_at: float = 0.0
    open_until: float = 0.0
    changed_at: float = 0.0
    """When the last transition this process knows of happened (its own or the fleet's)."""
    probes: int = 0
    lease: bool = False
    lease_until: float = 0.0
    wanted: bool = False
    """A half-open attempt was refused for want of the fleet's probe lease."""
    drop_lease: bool = False
    event: tuple[str, float, float] | None = None
    """("open", opened_at, open_until) or ("close", closed_at, 0) not yet pushed to Redis."""


@dataclass(slots=True)
class _Round:
    """What one sync round pushes for a target, and where its replies are."""

    target: str
    breaker: _Breaker
    bucket: int
    changed_at: float
    taken: dict[int, tuple[int, int]]
    event: tuple[str, float, float] | None
    drop_lease: bool
    commands: list[Command] = field(default_factory=list)
    lease_reply: int | None = None
    renew_reply: int | None = None
    state_reply: int = 0


class Breakers:
    """A circuit breaker per target."""

    def __init__(
        self,
        config: BreakerConfig,
        *,
        shared: RedisStore | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._shared = shared
        self._clock = clock
        self._offset = time.time() - clock()
        self._bucket_s = config.window_s / BUCKETS
        self._breakers: dict[str, _Breaker] = {}
        self._fleet = False
        self._id = uuid.uuid4().hex
        self._outage = OutageLog("breakers", clock)
        self._task = SyncTask(self.sync, name="steward.breakers.sync") if shared else None

    # The request path: memory only.

    def allow(self, target: str) -> bool:
        """Whether an attempt on `target` may start now; a True in half-open takes a probe slot."""
        breaker = self._get(target)
        now = self._now()
        state = self._advance(breaker, now)
        if state == "closed":
            return True
        if state == "open":
            return False
        if self._fleet and not (breaker.lease and now < breaker.lease_until):
            breaker.wanted = True
            return False
        if breaker.probes >= self._config.half_open_probes:
            return False
        breaker.probes += 1
        return True

    def record(self, target: str, *, ok: bool) -> None:
        """The outcome of an allowed attempt; in half-open it is a probe's verdict."""
        breaker = self._get(target)
        now = self._now()
        state = self._advance(breaker, now)
        if state == "half_open" and breaker.probes > 0:
            if ok:
                self._close(breaker, now)
            else:
                self._open(breaker, now)
            return
        breaker.counts.add(self._bucket(now), int(ok), int(not ok))
        if state == "closed" and not ok:
            # Only a failure can bring the ratio to the threshold; a success never opens it.
            self._check(breaker, now)

    def release(self, target: str) -> None:
        """An allowed attempt ended without an outcome: its probe slot, if any, is free again."""
        breaker = self._breakers.get(target)
        if breaker is not None and breaker.probes > 0:
            breaker.probes -= 1

    def state(self, target: str) -> BreakerState:
        breaker = self._breakers.get(target)
        return "closed" if breaker is None else self._advance(breaker, self._now())

    def opens_in_s(self, target: str) -> float | None:
        """Seconds until an open breaker lets a probe through; None when it is not open."""
        breaker = self._breakers.get(target)
        if breaker is None or self._advance(breaker, self._now()) != "open":
            return None
        return max(0.0, breaker.open_until - self._now())

    def snapshot(self) -> dict[str, dict[str, object]]:
        """Per target: state, window counts, failure ratio, and open times in epoch seconds."""
        now = self._now()
        bucket = self._bucket(now)
        view: dict[str, dict[str, object]] = {}
        for target, breaker in sorted(self._breakers.items()):
            state = self._advance(breaker, now)
            ok, failures = breaker.counts.totals(bucket, fleet=self._fleet)
            requests = ok + failures
            view[target] = {
                "state": state,
                "requests": requests,
                "failures": failures,
                "failure_ratio": failures / requests if requests else None,
                "opened_at": breaker.opened_at if state != "closed" else None,
                "open_until": breaker.open_until if state != "closed" else None,
                "probes_in_flight": breaker.probes,
                "shared": self._fleet,
            }
        return view

    # Transitions.

    def _now(self) -> float:
        return self._clock() + self._offset

    def _bucket(self, now: float) -> int:
        return int(now // self._bucket_s)

    def _get(self, target: str) -> _Breaker:
        breaker = self._breakers.get(target)
        if breaker is None:
            breaker = _Breaker(SharedCounts(track=self._shared is not None))
            self._breakers[target] = breaker
        return breaker

    @staticmethod
    def _advance(breaker: _Breaker, now: float) -> BreakerState:
        if breaker.state == "open" and now >= breaker.open_until:
            breaker.state = "half_open"
            breaker.probes = 0
        return breaker.state

    def _check(self, breaker: _Breaker, now: float) -> None:
        ok, failures = breaker.counts.totals(self._bucket(now), fleet=self._fleet)
        requests = ok + failures
        if requests >= self._config.min_requests and failures / requests >= (
            self._config.failure_ratio
        ):
            self._open(breaker, now)

    def _open(self, breaker: _Breaker, now: float, until: float | None = None) -> None:
        self._leave(breaker, "open", now)
        breaker.opened_at = now
        breaker.open_until = now + self._config.open_s if until is None else until
        if until is None and self._shared is not None:
            breaker.event = ("open", now, breaker.open_until)

    def _close(self, breaker: _Breaker, now: float, *, own: bool = True) -> None:
        self._leave(breaker, "closed", now)
        breaker.counts.clear()
        if own and self._shared is not None:
            breaker.event = ("close", now, 0.0)

    @staticmethod
    def _leave(breaker: _Breaker, state: BreakerState, now: float) -> None:
        breaker.state = state
        breaker.changed_at = now
        breaker.probes = 0
        breaker.wanted = False
        if breaker.lease:
            breaker.lease = False
            breaker.drop_lease = True

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
        """Stop syncing, after pushing what is still pending; a no-op without Redis."""
        if self._task is not None and self._task.running:
            await self._task.stop()
            await self.sync()

    async def sync(self) -> bool:
        """One round: push deltas and transitions, pull the fleet's; False if Redis failed."""
        if self._shared is None:
            return False
        now = self._now()
        rounds = [self._plan(t, b, now) for t, b in list(self._breakers.items())]
        commands = [command for r in rounds for command in r.commands]
        try:
            replies = await execute(self._shared, commands or [("PING",)])
        except StorageError as exc:
            for r in rounds:
                self._undo(r)
            self._fleet = False
            self._outage.failed(exc)
            return False
        self._outage.recovered()
        self._fleet = True
        now = self._now()
        start = 0
        for r in rounds:
            self._apply(r, replies[start : start + len(r.commands)], now)
            start += len(r.commands)
        return True

    def _keys(self, target: str) -> tuple[str, str]:
        assert self._shared is not None
        return self._shared.key("breaker", target, "state"), self._shared.key(
            "breaker", target, "probe"
        )

    def _bucket_key(self, target: str, bucket: int) -> str:
        assert self._shared is not None
        return self._shared.key("breaker", target, "b", str(bucket))

    def _plan(self, target: str, breaker: _Breaker, now: float) -> _Round:
        bucket = self._bucket(now)
        r = _Round(
            target,
            breaker,
            bucket,
            breaker.changed_at,
            breaker.counts.take(bucket),
            breaker.event,
            breaker.drop_lease,
        )
        breaker.event, breaker.drop_lease = None, False
        state_key, probe_key = self._keys(target)
        window_ms = ttl_ms(2 * self._config.window_s)
        for held, (ok, failures) in r.taken.items():
            key = self._bucket_key(target, held)
            r.commands += [("HINCRBY", key, "ok", ok), ("HINCRBY", key, "fail", failures)]
            r.commands.append(("PEXPIRE", key, window_ms))
        r.commands += self._event_commands(target, r.event, bucket)
        if r.drop_lease:
            r.commands.append(("DEL", probe_key))
        lease_ms = ttl_ms(self._config.open_s)
        if breaker.lease and now >= breaker.lease_until:
            breaker.lease = False  # expired in Redis as well
        if self._advance(breaker, now) == "half_open" and breaker.wanted and not breaker.lease:
            r.lease_reply = len(r.commands)
            r.commands.append(("SET", probe_key, self._id, "NX", "PX", lease_ms))
        elif breaker.lease and breaker.probes > 0:
            r.renew_reply = len(r.commands)
            r.commands.append(("PEXPIRE", probe_key, lease_ms))
        r.state_reply = len(r.commands)
        r.commands.append(("HGETALL", state_key))
        held_buckets = range(bucket - BUCKETS + 1, bucket + 1)
        r.commands += [("HGETALL", self._bucket_key(target, b)) for b in held_buckets]
        return r

    def _event_commands(
        self, target: str, event: tuple[str, float, float] | None, bucket: int
    ) -> list[Command]:
        if event is None:
            return []
        state_key = self._keys(target)[0]
        state_ms = ttl_ms(self._config.open_s + 2 * self._config.window_s)
        kind, at, until = event
        if kind == "open":
            update: Command = ("HSET", state_key, "opened_at", repr(at), "open_until", repr(until))
            return [update, ("PEXPIRE", state_key, state_ms)]
        stale = [self._bucket_key(target, b) for b in range(bucket - BUCKETS, bucket + 1)]
        return [
            ("HSET", state_key, "closed_at", repr(at)),
            ("PEXPIRE", state_key, state_ms),
            ("DEL", *stale),
        ]

    @staticmethod
    def _undo(r: _Round) -> None:
        breaker = r.breaker
        breaker.counts.give_back(r.taken)
        if breaker.event is None:
            breaker.event = r.event
        breaker.drop_lease = breaker.drop_lease or r.drop_lease

    def _apply(self, r: _Round, replies: list[object], now: float) -> None:
        breaker = r.breaker
        if r.lease_reply is not None and replies[r.lease_reply]:
            if breaker.state == "half_open" and breaker.changed_at == r.changed_at:
                breaker.lease, breaker.wanted = True, False
                breaker.lease_until = now + self._config.open_s
            else:
                breaker.drop_lease = True
        if r.renew_reply is not None and replies[r.renew_reply] and breaker.lease:
            breaker.lease_until = now + self._config.open_s
        if breaker.changed_at != r.changed_at:
            return  # a transition happened meanwhile: this view predates it
        self._adopt(breaker, as_hash(replies[r.state_reply]), now)
        counts: dict[int, tuple[int, int]] = {}
        for offset, reply in enumerate(replies[r.state_reply + 1 :]):
            fields = as_hash(reply)
            if fields:
                counts[r.bucket - BUCKETS + 1 + offset] = (
                    as_int(fields.get("ok")),
                    as_int(fields.get("fail")),
                )
        breaker.counts.remote.load(counts)
        if self._advance(breaker, now) == "closed":
            self._check(breaker, now)

    def _adopt(self, breaker: _Breaker, state: dict[str, str], now: float) -> None:
        """Take the fleet's latest transition if it is newer than the one this process knows."""
        opened_at = as_float(state.get("opened_at"))
        closed_at = as_float(state.get("closed_at"))
        if opened_at > breaker.changed_at and opened_at >= closed_at:
            self._open(breaker, opened_at, as_float(state.get("open_until"), opened_at))
            self._advance(breaker, now)
        elif closed_at > breaker.changed_at and closed_at > opened_at:
            self._close(breaker, closed_at, own=False)
