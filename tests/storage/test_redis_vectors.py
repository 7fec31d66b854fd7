"""The semantic index in Redis: shared by replicas, mirrored in each, searches that read only
what is new, trimming and expiry that make the mirror start over."""

from __future__ import annotations

import asyncio
import hashlib

import numpy as np
import pytest

from steward.cache.redis_vectors import RedisVectorIndex
from steward.storage.redis import RedisStore

pytestmark = pytest.mark.redis


def unit(seed: int, dims: int = 384) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dims).astype(np.float32)
    return v / np.linalg.norm(v)


def key(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


class Counted(RedisStore):
    """Counts the reply bytes of each command, to see what a search reads."""

    def __init__(self, url: str, prefix: str) -> None:
        super().__init__(url, prefix=prefix)
        self.replies: list[int] = []

    async def command(self, *args: object) -> object:
        reply = await super().command(*args)  # type: ignore[arg-type]
        if isinstance(reply, list):
            self.replies.append(sum(len(p) for p in reply if isinstance(p, bytes)))
        return reply


def test_replicas_share_vectors_and_a_search_reads_only_what_is_new(
    redis_url: str, redis_prefix: str
) -> None:
    async def scenario() -> None:
        writer_store, reader_store = (
            Counted(redis_url, redis_prefix),
            Counted(redis_url, redis_prefix),
        )
        writer, reader = RedisVectorIndex(writer_store), RedisVectorIndex(reader_store)
        try:
            for n in range(20):
                await writer.add("scope-a", key(n), unit(n), ttl_s=60)
            await writer.add("scope-b", key(99), unit(99), ttl_s=60)
            found = await reader.nearest("scope-a", unit(7))
            assert found is not None and found[0] == key(7) and found[1] > 0.999
            assert reader_store.replies[-1] > 20 * 800  # the first search reads every record
            # Nothing new: the next search reads the tag only.
            assert (await reader.nearest("scope-a", unit(3)))[0] == key(3)  # type: ignore[index]
            assert reader_store.replies[-1] == 16
            # One more record from the other replica: just its bytes come over.
            await writer.add("scope-a", key(20), unit(20), ttl_s=60)
            assert (await reader.nearest("scope-a", unit(20)))[0] == key(20)  # type: ignore[index]
            assert reader_store.replies[-1] == 16 + 32 + 384 * 2
            # Scopes never mix.
            other = await reader.nearest("scope-b", unit(7))
            assert other is not None and other[0] == key(99)
            assert await reader.nearest("scope-c", unit(7)) is None
        finally:
            await writer_store.aclose()
            await reader_store.aclose()

    asyncio.run(scenario())


def test_trimming_and_expiry_make_the_mirror_start_over(redis_url: str, redis_prefix: str) -> None:
    async def scenario() -> None:
        store, other = (
            RedisStore(redis_url, prefix=redis_prefix),
            RedisStore(redis_url, prefix=redis_prefix),
        )
        writer = RedisVectorIndex(store, max_per_scope=8)
        reader = RedisVectorIndex(other, max_per_scope=8)
        try:
            for n in range(8):
                await writer.add("s", key(n), unit(n), ttl_s=60)
            assert (await reader.nearest("s", unit(0)))[0] == key(0)  # type: ignore[index]
            for n in range(8, 11):  # past 8 + 8/4 records: trimmed to the newest 8
                await writer.add("s", key(n), unit(n), ttl_s=60)
            found = await reader.nearest("s", unit(0))
            assert found is not None and found[0] != key(0)  # the oldest are gone
            assert (await reader.nearest("s", unit(10)))[0] == key(10)  # type: ignore[index]
            assert len(reader._mirrors["s"].keys) == 8
            await writer.add("short", key(1), unit(1), ttl_s=0.05)
            assert (await reader.nearest("short", unit(1)))[0] == key(1)  # type: ignore[index]
            await asyncio.sleep(0.1)
            assert await reader.nearest("short", unit(1)) is None  # expired: nothing mirrored
            await writer.add("short", key(2), unit(2), ttl_s=60)
            assert (await reader.nearest("short", unit(1)))[0] == key(2)  # type: ignore[index]
        finally:
            await store.aclose()
            await other.aclose()

    asyncio.run(scenario())


def test_an_unreachable_redis_is_no_match() -> None:
    from tests.servers import free_port

    async def scenario() -> None:
        store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.2)
        index = RedisVectorIndex(store)
        try:
            await index.add("s", key(1), unit(1), ttl_s=60)
            assert await index.nearest("s", unit(1)) is None
        finally:
            await store.aclose()

    asyncio.run(scenario())
