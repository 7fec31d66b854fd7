"""Where cached answers live: an LRU in memory, or Redis shared by every replica.

Entries are opaque bytes with a time to live. A Redis failure is a miss (or a skipped write),
never an error to the client; `FailureLog` keeps that from flooding the logs.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Protocol

import structlog

from steward.errors import StorageError
from steward.storage.redis import RedisStore

__all__ = ["AnswerStore", "FailureLog", "MemoryStore", "RedisCacheStore"]

log = structlog.get_logger("steward.cache")


class AnswerStore(Protocol):
    """Cached answers by key."""

    name: str

    async def get(self, key: str) -> bytes | None: ...
    async def put(self, key: str, value: bytes, ttl_s: float) -> None: ...


class FailureLog:
    """Logs a failing backend at most once per `every_s`, with how many failures it skipped."""

    def __init__(self, event: str, every_s: float = 60.0) -> None:
        self._event = event
        self._every_s = every_s
        self._last = -every_s
        self._suppressed = 0

    def note(self, error: StorageError) -> None:
        now = time.monotonic()
        if now - self._last < self._every_s:
            self._suppressed += 1
            return
        log.warning(self._event, error=error.message, suppressed=self._suppressed)
        self._last = now
        self._suppressed = 0


class MemoryStore:
    """Least recently used entries go first once there are `max_entries`; expired ones on read."""

    name = "memory"

    def __init__(self, max_entries: int) -> None:
        self._max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    async def get(self, key: str) -> bytes | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires_at, value = found
        if expires_at <= time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    async def put(self, key: str, value: bytes, ttl_s: float) -> None:
        self._entries[key] = (time.monotonic() + ttl_s, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class RedisCacheStore:
    """One Redis string per entry (`SET ... PX ttl`), so every replica sees every answer."""

    name = "redis"

    def __init__(self, redis: RedisStore) -> None:
        self._redis = redis
        self._failures = FailureLog("cache.redis_unavailable")

    def _key(self, key: str) -> str:
        return self._redis.key("cache", "answer", key)

    async def get(self, key: str) -> bytes | None:
        name = self._key(key)
        try:
            value = await self._redis.command("GET", name)
        except StorageError as exc:
            self._failures.note(exc)
            return None
        if isinstance(value, str):
            return value.encode()
        return value if isinstance(value, bytes) else None

    async def put(self, key: str, value: bytes, ttl_s: float) -> None:
        """Sent, not awaited: the answer is on its way to the caller already, and the write
        shares a socket write with the next command (`RedisStore.command_later`)."""
        name = self._key(key)
        ttl_ms = max(1, round(ttl_s * 1000))
        self._redis.command_later("SET", name, value, "PX", ttl_ms, failed=self._failures.note)
