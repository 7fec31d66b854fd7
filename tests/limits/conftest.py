"""Limits fixtures: every behaviour runs on the memory backend and on the real Redis server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from steward.limits import Limiter, MemoryLimiter, RedisLimiter
from steward.storage.redis import RedisStore

START = 60_000.0
"""A simulated clock reading on a window boundary of every window used here (1 s to 60 s)."""


@dataclass(frozen=True)
class Backend:
    """Builds limiters of one kind; each Redis limiter is one replica with its own store."""

    name: str
    redis_url: str | None = None
    prefix: str | None = None

    @contextlib.asynccontextmanager
    async def limiter(self) -> AsyncIterator[Limiter]:
        async with self.replicas(1) as (limiter,):
            yield limiter

    @contextlib.asynccontextmanager
    async def replicas(self, count: int) -> AsyncIterator[tuple[Limiter, ...]]:
        if self.redis_url is None or self.prefix is None:
            yield tuple(MemoryLimiter() for _ in range(count))
            return
        stores = [RedisStore(self.redis_url, prefix=self.prefix) for _ in range(count)]
        try:
            yield tuple(RedisLimiter(store) for store in stores)
        finally:
            for store in stores:
                await store.aclose()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "memory":
        return Backend("memory")
    url: str = request.getfixturevalue("redis_url")
    prefix: str = request.getfixturevalue("redis_prefix")
    return Backend("redis", url, prefix)
