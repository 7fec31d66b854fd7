"""The semantic index in Redis, shared by replicas, mirrored in each so a search reads only what
is new.

One Redis string per scope: a 16-byte incarnation tag, then fixed-size records (the entry key's
32 digest bytes and the vector in float16, 800 bytes for MiniLM). `add` appends a record with
one script; the string lives `ttl_s` past its latest addition, and past `max_per_scope` records
the script keeps the newest and writes a new tag. Each replica mirrors the scopes it searched
last (keys and a float32 matrix), and a search is one script call that returns the tag and the
bytes past the mirror's end: nothing, usually. A new tag (the string was trimmed, expired or
made anew) makes the mirror start over. Before, a search fetched the whole string (830 KB at
1,000 records) on every lookup.

float16 is precise to about 1e-3 in similarity, and a hit is verified against the float32
vector stored with its entry. Forgetting one record is not possible, and not needed: a record
whose entry is gone is a miss.
"""

from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np
import numpy.typing as npt

from steward.cache.semantic import best_match
from steward.cache.store import FailureLog
from steward.errors import StorageError
from steward.storage.redis import RedisStore

__all__ = ["RedisVectorIndex"]

Vector = npt.NDArray[np.float32]
_HALF = np.dtype("<f2")
_TAG = 16
_KEY_BYTES = 32
_MIRRORED = 32
"""Scopes each replica mirrors (at most about 830 KB each, at 1,000 records)."""

_ADD = """
local size
if redis.call('EXISTS', KEYS[1]) == 0 then
  size = redis.call('APPEND', KEYS[1], ARGV[4] .. ARGV[1])
else
  size = redis.call('APPEND', KEYS[1], ARGV[1])
end
local keep = tonumber(ARGV[3])
if size - 16 > keep + math.floor(keep / 4) then
  redis.call('SET', KEYS[1], ARGV[4] .. redis.call('GETRANGE', KEYS[1], -keep, -1))
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return size
"""
"""KEYS[1] the scope's string; ARGV: the record, the TTL in ms, the bytes of records to keep,
a fresh tag (used when the string is made or trimmed)."""

_READ = """
local tag = redis.call('GETRANGE', KEYS[1], 0, 15)
if tag ~= ARGV[1] then
  return {tag, redis.call('GETRANGE', KEYS[1], 16, -1)}
end
return {tag, redis.call('GETRANGE', KEYS[1], ARGV[2], -1)}
"""
"""ARGV: the mirror's tag and its end (an offset in the string). Returns the string's tag and,
if it is the mirror's, the bytes past that end; otherwise every record."""


class _Mirror:
    """One scope's records as this replica last read them."""

    __slots__ = ("keys", "matrix", "raw", "tag")

    def __init__(self) -> None:
        self.tag = b""
        self.raw = bytearray()
        self.keys: list[str] = []
        self.matrix: Vector | None = None

    @property
    def end(self) -> int:
        return _TAG + len(self.raw)

    def update(self, tag: bytes, data: bytes, record: np.dtype[np.void]) -> None:
        if tag != self.tag:
            self.tag, self.raw = tag, bytearray()
        elif not data:
            return
        self.raw += data
        usable = len(self.raw) - len(self.raw) % record.itemsize
        records = np.frombuffer(bytes(self.raw[:usable]), dtype=record)
        self.keys = [bytes(k).hex() for k in records["key"]]
        self.matrix = records["vector"].astype(np.float32) if len(records) else None


class RedisVectorIndex:
    name = "redis"

    def __init__(self, redis: RedisStore, *, max_per_scope: int = 1000) -> None:
        self._redis = redis
        self._max_per_scope = max_per_scope
        self._failures = FailureLog("cache.redis_unavailable")
        self._mirrors: OrderedDict[str, _Mirror] = OrderedDict()

    def _key(self, scope: str) -> str:
        return self._redis.key("cache", "semantic-v2", scope)

    async def add(self, scope: str, key: str, vector: Vector, ttl_s: float) -> None:
        record = bytes.fromhex(key) + vector.astype(_HALF).tobytes()
        ttl_ms = max(1, round(ttl_s * 1000))
        keep = self._max_per_scope * len(record)
        try:
            await self._redis.command(
                "EVAL", _ADD, 1, self._key(scope), record, ttl_ms, keep, os.urandom(_TAG)
            )
        except StorageError as exc:
            self._failures.note(exc)

    async def nearest(self, scope: str, vector: Vector) -> tuple[str, float] | None:
        mirror = self._mirrors.get(scope)
        if mirror is None:
            mirror = self._mirrors[scope] = _Mirror()
            while len(self._mirrors) > _MIRRORED:
                self._mirrors.popitem(last=False)
        self._mirrors.move_to_end(scope)
        try:
            reply = await self._redis.command(
                "EVAL", _READ, 1, self._key(scope), mirror.tag, mirror.end
            )
        except StorageError as exc:
            self._failures.note(exc)
            return None
        if not isinstance(reply, list) or len(reply) != 2:
            return None
        tag, data = (part if isinstance(part, bytes) else b"" for part in reply)
        record = np.dtype([("key", f"V{_KEY_BYTES}"), ("vector", _HALF, vector.shape)])
        mirror.update(tag, data, record)
        return None if mirror.matrix is None else best_match(mirror.keys, mirror.matrix, vector)

    async def forget(self, scope: str, key: str) -> None:
        return None
