"""The response cache: exact and semantic lookups over a store, and what may be stored.

An entry is the cached completion with the semantic scope and prompt vector it was stored
under, so a semantic hit is verified against the entry itself (same scope, similarity at or
above the threshold), not only against the index that pointed to it.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from steward.cache.keys import Probe
from steward.cache.stats import CacheStats
from steward.cache.store import AnswerStore, MemoryStore, RedisCacheStore
from steward.config.schema import CacheConfig, ModelCacheConfig, ModelConfig
from steward.storage.redis import RedisStore
from steward.types import JSONObject

if TYPE_CHECKING:
    from steward.cache.semantic import Embedder, Vector, VectorIndex

__all__ = ["CACHEABLE_FINISH_REASONS", "Entry", "Hit", "Pending", "ResponseCache"]

CACHEABLE_FINISH_REASONS = frozenset({"stop", "tool_calls"})
"""Answers that ended on their own. `length` (cut off by max_tokens) and `content_filter` are
partial answers: regenerating them costs the same, and caching would pin a degenerate output."""


@dataclass(frozen=True, slots=True)
class Hit:
    body: JSONObject
    similarity: float | None = None
    """Set on a semantic hit."""


@dataclass(slots=True)
class Pending:
    """One request's way through the cache: its probe, its model's policy, its prompt vector."""

    probe: Probe
    policy: ModelCacheConfig
    vector: Vector | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    body: JSONObject
    scope: str | None = None
    vector: bytes | None = None

    def encode(self) -> bytes:
        vec = base64.b64encode(self.vector).decode() if self.vector is not None else None
        return orjson.dumps({"v": 1, "scope": self.scope, "vec": vec, "body": self.body})

    @classmethod
    def decode(cls, data: bytes) -> Entry | None:
        """The entry, or None for anything this version did not write."""
        try:
            raw: Any = orjson.loads(data)
            body, vec = raw["body"], raw["vec"]
            if raw["v"] != 1 or not isinstance(body, dict):
                return None
            vector = base64.b64decode(vec) if isinstance(vec, str) else None
            scope = raw["scope"] if isinstance(raw["scope"], str) else None
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
        return cls(body=body, scope=scope, vector=vector)


def storable(body: JSONObject) -> bool:
    choices = body.get("choices")
    return (
        isinstance(choices, list)
        and bool(choices)
        and "error" not in body
        and all(
            isinstance(c, dict) and c.get("finish_reason") in CACHEABLE_FINISH_REASONS
            for c in choices
        )
    )


class ResponseCache:
    """Built once by the runtime. `policies` holds only the models whose cache is on."""

    def __init__(
        self,
        config: CacheConfig,
        models: Mapping[str, ModelConfig],
        redis: RedisStore | None,
        *,
        embedder: Embedder | None = None,
    ) -> None:
        self.policies: dict[str, ModelCacheConfig] = {
            name: m.cache for name, m in models.items() if m.cache.exact or m.cache.semantic
        }
        self.stats = CacheStats()
        for name in self.policies:
            self.stats.model(name)  # listed from the start, at zero
        shared = redis if config.backend != "memory" else None
        self.answers: AnswerStore = (
            RedisCacheStore(shared) if shared is not None else MemoryStore(config.max_entries)
        )
        self._embedder: Embedder | None = None
        self._index: VectorIndex | None = None
        if any(p.semantic for p in self.policies.values()):
            from steward.cache import semantic  # NumPy, only when some model needs it
            from steward.cache.redis_vectors import RedisVectorIndex

            self._embedder = embedder or semantic.Embedder()
            self._index = (
                RedisVectorIndex(shared)
                if shared is not None
                else semantic.MemoryVectorIndex(config.max_entries)
            )

    @property
    def backend(self) -> str:
        return self.answers.name

    def start(self) -> None:
        """Load the sentence model in the background, so the first lookup need not wait."""
        if self._embedder is not None:
            self._embedder.warm()

    async def stop(self) -> None:
        if self._embedder is not None:
            self._embedder.close()

    async def lookup(self, pending: Pending) -> Hit | None:
        probe, policy = pending.probe, pending.policy
        if policy.exact:
            entry = await self._get(probe.key)
            if entry is not None:
                return Hit(entry.body)
        if policy.semantic:
            return await self._lookup_semantic(pending)
        return None

    async def _lookup_semantic(self, pending: Pending) -> Hit | None:
        probe, threshold = pending.probe, pending.policy.similarity
        if self._index is None or probe.semantic_scope is None:
            return None
        pending.vector = await self._embed(probe)
        if pending.vector is None:
            return None
        found = await self._index.nearest(probe.semantic_scope, pending.vector)
        if found is None or found[1] < threshold:
            return None
        entry = await self._get(found[0])
        if entry is None:
            await self._index.forget(probe.semantic_scope, found[0])
            return None
        similarity = _verified(entry, probe.semantic_scope, pending.vector)
        if similarity is None or similarity < threshold:
            return None
        return Hit(entry.body, similarity=similarity)

    async def store(self, pending: Pending, body: JSONObject) -> None:
        """Keep a fresh answer, if it is a whole one; the caller has decided it may be kept."""
        if not storable(body):
            return
        probe, policy = pending.probe, pending.policy
        semantic = policy.semantic and self._index is not None and probe.semantic_scope
        if semantic and pending.vector is None:
            pending.vector = await self._embed(probe)  # a bypass did not embed on the way in
        vector = pending.vector if semantic else None
        if vector is None:
            await self.answers.put(probe.key, Entry(body).encode(), policy.ttl_s)
            return
        from steward.cache.semantic import vector_to_bytes

        entry = Entry(body, scope=probe.semantic_scope, vector=vector_to_bytes(vector))
        await self.answers.put(probe.key, entry.encode(), policy.ttl_s)
        if self._index is not None and probe.semantic_scope is not None:
            await self._index.add(probe.semantic_scope, probe.key, vector, policy.ttl_s)

    async def _embed(self, probe: Probe) -> Vector | None:
        if self._embedder is None or probe.prompt is None:
            return None
        return await self._embedder.embed(probe.prompt)

    async def _get(self, key: str) -> Entry | None:
        data = await self.answers.get(key)
        return Entry.decode(data) if data is not None else None


def _verified(entry: Entry, scope: str, vector: Vector) -> float | None:
    """The similarity of `vector` to the entry's own, or None if it belongs to another scope."""
    from steward.cache.semantic import vector_from_bytes

    if entry.scope != scope or entry.vector is None:
        return None
    stored = vector_from_bytes(entry.vector)
    if stored is None or stored.shape != vector.shape:
        return None
    return float(stored @ vector)
