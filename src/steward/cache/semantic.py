"""The semantic index: prompts embedded with MiniLM off the event loop, searched per scope.

Vectors are float32 unit vectors, so cosine similarity is a dot product. An index holds, per
semantic scope, (entry key, vector) pairs; a search never looks outside the scope it is given.
This module imports NumPy, so the cache imports it only when some model has `semantic = true`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Protocol, TypeAlias

import numpy as np
import numpy.typing as npt
import structlog

__all__ = [
    "Embedder",
    "Encoder",
    "MemoryVectorIndex",
    "Vector",
    "VectorIndex",
    "best_match",
    "vector_from_bytes",
    "vector_to_bytes",
]

Vector: TypeAlias = npt.NDArray[np.float32]
log = structlog.get_logger("steward.cache")
_DTYPE = np.dtype("<f4")
_HALF = np.dtype("<f2")


class Encoder(Protocol):
    def encode(self, texts: Sequence[str], batch_size: int = 32) -> Vector: ...


def load_minilm() -> Encoder:
    from steward.embeddings.minilm import MiniLM

    return MiniLM.load()


class Embedder:
    """Embeds one prompt at a time on a single worker thread owned by the cache.

    The model loads on that thread (`warm` starts it at startup). When the model cannot load, or
    more than `max_pending` prompts are waiting, `embed` returns None and the caller skips the
    semantic lookup rather than make the client wait.
    """

    def __init__(self, load: Callable[[], Encoder] = load_minilm, *, max_pending: int = 64) -> None:
        self._load = load
        self._max_pending = max_pending
        self._pending = 0
        self._encoder: Encoder | None = None
        self._broken = False
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="steward-cache-embed"
        )

    def warm(self) -> None:
        self._executor.submit(self._model)

    async def embed(self, text: str) -> Vector | None:
        if self._broken or self._pending >= self._max_pending:
            return None
        self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self._encode, text)
        except RuntimeError:  # the executor is shut down: the gateway is stopping
            return None
        finally:
            self._pending -= 1

    def _model(self) -> Encoder | None:
        if self._encoder is None and not self._broken:
            try:
                self._encoder = self._load()
            except (OSError, ValueError) as exc:
                self._broken = True
                log.error("cache.embedder_unavailable", error=str(exc))
        return self._encoder

    def _encode(self, text: str) -> Vector | None:
        model = self._model()
        if model is None:
            return None
        vector: Vector = model.encode([text])[0]
        return vector

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def vector_to_bytes(vector: Vector) -> bytes:
    return vector.astype(_DTYPE, copy=False).tobytes()


def vector_from_bytes(data: bytes) -> Vector | None:
    if len(data) % _DTYPE.itemsize or not data:
        return None
    return np.frombuffer(data, dtype=_DTYPE)


class VectorIndex(Protocol):
    name: str

    async def add(self, scope: str, key: str, vector: Vector, ttl_s: float) -> None: ...
    async def nearest(self, scope: str, vector: Vector) -> tuple[str, float] | None: ...
    async def forget(self, scope: str, key: str) -> None: ...


def best_match(keys: Sequence[str], matrix: Vector, vector: Vector) -> tuple[str, float] | None:
    if not keys or matrix.shape[1] != vector.shape[0]:
        return None
    scores = matrix @ vector
    best = int(np.argmax(scores))
    return keys[best], float(scores[best])


class _ScopeVectors:
    __slots__ = ("entries", "keys", "matrix")

    def __init__(self) -> None:
        self.entries: OrderedDict[str, Vector] = OrderedDict()
        self.keys: list[str] = []
        self.matrix: Vector | None = None  # rebuilt on the first search after a change

    def changed(self) -> None:
        self.matrix = None

    def search(self, vector: Vector) -> tuple[str, float] | None:
        if self.matrix is None:
            self.keys = list(self.entries)
            self.matrix = np.stack(list(self.entries.values())) if self.keys else None
        if self.matrix is None:
            return None
        return best_match(self.keys, self.matrix, vector)


class MemoryVectorIndex:
    """Vectors per scope, at most `max_entries` in all; the least recently used scope loses its
    oldest vector first. Expiry follows the answers: a key whose answer is gone is forgotten."""

    name = "memory"

    def __init__(self, max_entries: int) -> None:
        self._max_entries = max_entries
        self._scopes: OrderedDict[str, _ScopeVectors] = OrderedDict()
        self._count = 0

    async def add(self, scope: str, key: str, vector: Vector, ttl_s: float) -> None:
        vectors = self._scopes.get(scope)
        if vectors is None:
            vectors = self._scopes[scope] = _ScopeVectors()
        self._scopes.move_to_end(scope)
        if key not in vectors.entries:
            self._count += 1
        vectors.entries[key] = vector
        vectors.changed()
        while self._count > self._max_entries:
            self._evict_one()

    def _evict_one(self) -> None:
        scope, vectors = next(iter(self._scopes.items()))
        vectors.entries.popitem(last=False)
        vectors.changed()
        self._count -= 1
        if not vectors.entries:
            del self._scopes[scope]

    async def nearest(self, scope: str, vector: Vector) -> tuple[str, float] | None:
        vectors = self._scopes.get(scope)
        if vectors is None:
            return None
        self._scopes.move_to_end(scope)
        return vectors.search(vector)

    async def forget(self, scope: str, key: str) -> None:
        vectors = self._scopes.get(scope)
        if vectors is not None and vectors.entries.pop(key, None) is not None:
            vectors.changed()
            self._count -= 1
            if not vectors.entries:
                del self._scopes[scope]
