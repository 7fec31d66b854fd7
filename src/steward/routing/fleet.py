"""Sharing routing state between replicas through Redis: the sync task and its one pipeline.

The request path never waits on Redis. Breakers and health keep everything in memory and a
`SyncTask` pushes their deltas and pulls the fleet's view every `SYNC_PERIOD_S`, in one
MULTI/EXEC pipeline per round. When Redis fails, they carry on with local state; `OutageLog`
says so at most once a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

import structlog

from steward.errors import StorageError
from steward.storage.redis import RedisStore

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "SYNC_PERIOD_S",
    "Command",
    "OutageLog",
    "SyncTask",
    "as_float",
    "as_hash",
    "as_int",
    "execute",
    "ttl_ms",
]

log = structlog.get_logger("steward.routing")

SYNC_PERIOD_S = 0.25
LOG_EVERY_S = 60.0

Command = tuple[str | int | float, ...]
"""A raw Redis command, such as `("HINCRBY", key, "ok", 3)`."""


async def execute(store: RedisStore, commands: Sequence[Command]) -> list[object]:
    """Run `commands` in one MULTI/EXEC pipeline; one result per command, or `StorageError`."""

    async def operation(client: Redis) -> list[object]:
        pipe = client.pipeline(transaction=True)
        for command in commands:
            pipe.execute_command(*command)
        return list(await pipe.execute())

    return await store.run(operation)


def ttl_ms(seconds: float) -> int:
    return max(1000, int(seconds * 1000))


def as_hash(result: object) -> dict[str, str]:
    """An HGETALL reply as text."""
    if not isinstance(result, dict):
        return {}
    return {_text(k): _text(v) for k, v in result.items()}


def as_float(text: str | None, default: float = 0.0) -> float:
    try:
        return float(text) if text is not None else default
    except ValueError:
        return default


def as_int(text: str | None) -> int:
    try:
        return int(text) if text is not None else 0
    except ValueError:
        return 0


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class OutageLog:
    """Logs a part's Redis failures at most once a minute, and its recovery after a logged one."""

    def __init__(self, part: str, clock: Callable[[], float]) -> None:
        self._part = part
        self._clock = clock
        self._last_logged: float | None = None
        self._unreported_recovery = False

    def failed(self, exc: StorageError) -> None:
        now = self._clock()
        if self._last_logged is None or now - self._last_logged >= LOG_EVERY_S:
            self._last_logged = now
            self._unreported_recovery = True
            log.warning("routing.redis_unavailable", part=self._part, error=exc.message)

    def recovered(self) -> None:
        if self._unreported_recovery:
            self._unreported_recovery = False
            log.info("routing.redis_recovered", part=self._part)


class SyncTask:
    """Calls `step` every `period_s` in a background task of the running loop until stopped."""

    def __init__(
        self, step: Callable[[], Awaitable[object]], *, name: str, period_s: float = SYNC_PERIOD_S
    ) -> None:
        self._step = step
        self._name = name
        self._period_s = period_s
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        clock = asyncio.get_running_loop().time
        logged_at: float | None = None
        while True:
            try:
                await self._step()
            except Exception:
                # A bug in one round must not end sharing for the life of the process.
                if logged_at is None or clock() - logged_at >= LOG_EVERY_S:
                    logged_at = clock()
                    log.exception("routing.sync_failed", part=self._name)
            await asyncio.sleep(self._period_s)
