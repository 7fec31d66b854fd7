"""Latency of a semantic cache lookup: embed a ~200-token prompt with MiniLM, search the scope.

    python bench/cache_lookup.py [--calls 200] [--entries 1000] [--redis redis://127.0.0.1:6379/0]

Times `ResponseCache.lookup` for a semantic-only model on a prompt that misses (the usual
case, and the most work: embedding on the cache's worker thread, then a search of a scope
holding `--entries` vectors), one call at a time after a warm-up, on the memory backend and,
with `--redis`, on Redis (one script call per lookup, which returns the records the
replica's mirror of the scope lacks: none, after the first). Also times the embedding
alone and the search alone, so the split is visible. Prints p50/p95/min in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

import numpy as np

from steward.cache.keys import Scope, probe_for
from steward.cache.responses import Pending, ResponseCache
from steward.cache.semantic import Embedder, Vector
from steward.config.schema import CacheConfig, ModelCacheConfig, ModelConfig
from steward.embeddings.minilm import DIMENSIONS, MiniLM
from steward.storage.redis import RedisStore
from steward.wire.openai import ChatRequest

PROMPT = (
    "Hi, I'm writing because my order #48213 arrived yesterday, but the blender inside was "
    "cracked along the base and the lid no longer locks into place. I paid by credit card on "
    "March 3rd and chose express shipping because it is a birthday gift for my sister this "
    "weekend. I already tried to start a return on your website, but the returns page keeps "
    "showing an error saying the item is not eligible, even though your policy says damaged "
    "goods can be returned within thirty days. Could you tell me whether you can send a "
    "replacement before Saturday, or whether I should ask for a refund instead? If a refund is "
    "the only option, how long does it usually take to reach my card, and do I need to send the "
    "broken blender back first, or can I keep it until the new one arrives? I would also like "
    "to know if the express shipping fee will be refunded, since the item arrived damaged and "
    "it was not my fault. Thank you for your help, and please let me know what else you need "
    "from me, such as photos of the damage or the packing slip."
)
MODEL = "bench"


def percentiles(samples_ms: list[float]) -> str:
    ordered = sorted(samples_ms)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"p50 {statistics.median(ordered):6.2f} ms  p95 {p95:6.2f} ms  min {ordered[0]:6.2f} ms"


async def timed(calls: int, work: Callable[[], Awaitable[object]]) -> list[float]:
    for _ in range(10):
        await work()
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        await work()
        samples.append((time.perf_counter() - start) * 1000.0)
    return samples


def random_units(count: int, seed: int = 0) -> list[Vector]:
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((count, DIMENSIONS)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return list(rows)


async def bench_backend(
    label: str, model: MiniLM, redis: RedisStore | None, entries: int, calls: int
) -> None:
    config = CacheConfig(backend="redis" if redis else "memory", max_entries=max(entries, 1))
    models = {
        MODEL: ModelConfig(
            targets=({"target": "up/x"},),  # type: ignore[arg-type]
            cache=ModelCacheConfig(semantic=True, similarity=0.92),
        )
    }
    cache = ResponseCache(config, models, redis, embedder=Embedder(lambda: model))
    request = ChatRequest.model_validate(
        {"model": MODEL, "temperature": 0, "messages": [{"role": "user", "content": PROMPT}]}
    )
    probe = probe_for(Scope("bench-key", MODEL), request)
    assert probe.semantic_scope is not None
    index = cache._index
    assert index is not None
    for i, vector in enumerate(random_units(entries)):
        await index.add(probe.semantic_scope, f"{i:064x}", vector, 600)
    policy = models[MODEL].cache

    async def lookup() -> None:
        hit = await cache.lookup(Pending(probe, policy))
        assert hit is None

    samples = await timed(calls, lookup)
    print(f"{label:7} lookup (embed + search of {entries} vectors): {percentiles(samples)}")
    vector = random_units(1, seed=1)[0]
    search = await timed(calls, lambda: index.nearest(probe.semantic_scope or "", vector))
    print(f"{label:7} search alone:                          {percentiles(search)}")
    await cache.stop()


async def main(calls: int, entries: int, redis_url: str | None) -> None:
    model = MiniLM.load()
    tokens = model.count_tokens([PROMPT])[0]
    print(f"prompt: {tokens} tokens ([CLS] and [SEP] included)")
    embedder = Embedder(lambda: model)
    embed = await timed(calls, lambda: embedder.embed(PROMPT))
    print(f"embed alone (on the cache's worker thread):     {percentiles(embed)}")
    embedder.close()
    await bench_backend("memory", model, None, entries, calls)
    if redis_url:
        store = RedisStore(redis_url, prefix=f"steward-bench:{uuid.uuid4().hex[:8]}:")
        try:
            await bench_backend("redis", model, store, entries, calls)
            keys = await store.run(lambda r: r.keys(store.prefix + "*"))
            if keys:
                await store.run(lambda r: r.delete(*keys))
        finally:
            await store.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--redis", default=None, help="also bench the Redis backend at this URL")
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.entries, args.redis))
