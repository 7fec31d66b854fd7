"""The one Redis client per process, for state shared by replicas (breakers, health, cache).

Nothing from redis-py leaves this module: every call goes through `RedisStore.run`, which
bounds it by `timeout_s` and raises `StorageError` (code `redis_unavailable`) on any failure.
Callers treat that as "no shared state right now" and carry on with what they know locally.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from steward.errors import StorageError
from steward.storage.resp import Arg, RespClient, RespError, RespURL

__all__ = ["RedisStore"]

T = TypeVar("T")


class RedisStore:
    def __init__(self, url: str, *, timeout_s: float = 0.25, prefix: str = "steward:") -> None:
        self.url = url
        self.prefix = prefix
        self.timeout_s = timeout_s
        self._client: aioredis.Redis | None = None
        parts = RespURL.parse(url)
        self._lean = RespClient(parts) if parts is not None else None
        self._later: set[asyncio.Future[object]] = set()
        """Commands sent with `command_later` whose replies are still due."""

    @property
    def client(self) -> aioredis.Redis:
        """Created on first use, inside the running event loop."""
        if self._client is None:
            self._client = aioredis.Redis.from_url(
                self.url,
                socket_timeout=self.timeout_s,
                socket_connect_timeout=self.timeout_s,
                health_check_interval=30,
            )
        return self._client

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def run(self, operation: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
        """Run `operation(client)` within the timeout; any failure is a `StorageError`."""
        try:
            async with asyncio.timeout(self.timeout_s * 2):
                return await operation(self.client)
        except (RedisError, OSError, TimeoutError) as exc:
            raise self._unavailable(exc) from None

    async def command(self, *args: Arg) -> object:
        """One command on the request path, through the lean client (`storage/resp.py`) for
        `redis://` URLs; any failure is a `StorageError`."""
        if self._lean is None:
            return await self.run(lambda client: client.execute_command(*args))  # type: ignore[no-untyped-call]
        try:
            async with asyncio.timeout(self.timeout_s * 2):
                return await self._lean.call(*args)
        except TimeoutError:
            self._lean.reset()
            raise self._unavailable(TimeoutError()) from None
        except (RespError, OSError) as exc:
            raise self._unavailable(exc) from None

    def command_later(self, *args: Arg, failed: Callable[[StorageError], None]) -> None:
        """One command whose reply nobody waits for (a cache write): through the lean client
        it goes out with the next command or at the loop's next turn, in the same write; any
        failure goes to `failed`. Never raises."""
        future: asyncio.Future[object] | None = None
        if self._lean is not None:
            try:
                future = self._lean.send_later(*args)
            except OSError as exc:
                failed(self._unavailable(exc))
                return
        if future is None:  # no connection open (or redis-py): as `command`, under its timeout
            future = asyncio.ensure_future(self.command(*args))
        self._later.add(future)
        future.add_done_callback(lambda done: self._settled(done, failed))

    def _settled(
        self, future: asyncio.Future[object], failed: Callable[[StorageError], None]
    ) -> None:
        self._later.discard(future)
        if future.cancelled():
            return
        exc = future.exception()
        if isinstance(exc, StorageError):
            failed(exc)
        elif exc is not None:
            failed(self._unavailable(exc))

    def _unavailable(self, exc: BaseException) -> StorageError:
        return StorageError(
            f"Redis at {self.url} is unavailable ({type(exc).__name__}).",
            code="redis_unavailable",
        )

    async def aclose(self) -> None:
        if self._later:  # written by now or at the next turn; wait briefly for the replies
            await asyncio.wait(set(self._later), timeout=self.timeout_s)
        if self._lean is not None:
            await self._lean.aclose()
        if self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()
