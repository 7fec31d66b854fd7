"""The cache stage: serve a chat request from the response cache, or store the fresh answer.

Models whose cache is off cost one dict lookup. For the others: `Cache-Control: no-store`
neither reads nor writes, `no-cache` skips the read but stores the fresh answer, and requests
that need not give the same answer twice (temperature not 0, or n > 1) are left alone unless
the model sets `deterministic_only = false`.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from steward.cache.keys import Scope, probe_for
from steward.cache.responses import Hit, Pending, ResponseCache
from steward.cache.streams import StreamAssembler, replay_chunks, replay_rest
from steward.config.schema import ModelCacheConfig
from steward.pipeline.context import CallContext
from steward.pipeline.result import ChatStream, Completion, Result
from steward.pipeline.stage import Next
from steward.wire.openai import ChatRequest, TokenUsage, usage_from_openai

log = structlog.get_logger("steward.cache")

CACHE_HEADER = "x-steward-cache"
SIMILARITY_HEADER = "x-steward-cache-similarity"
CACHE_TARGET = "cache"
"""What `x-steward-target` says when the cache answered."""


class CacheStage:
    def __init__(
        self, cache: ResponseCache, price_saved: Callable[[str, TokenUsage], float | None]
    ) -> None:
        self._cache = cache
        self._policies = cache.policies
        self._price_saved = price_saved

    async def __call__(self, ctx: CallContext, call_next: Next) -> Result:
        policy = self._policies.get(ctx.public_model or "")
        if policy is None or not isinstance(ctx.request, ChatRequest):
            return await call_next(ctx)
        return await self._serve(ctx, ctx.request, policy, call_next)

    async def _serve(
        self, ctx: CallContext, request: ChatRequest, policy: ModelCacheConfig, call_next: Next
    ) -> Result:
        model = ctx.public_model or ""
        stats = self._cache.stats.model(model)
        directives = cache_directives(ctx.headers.get("cache-control"))
        if "no-store" in directives:
            _mark(ctx, "bypass")
            stats.bypasses += 1
            return await call_next(ctx)
        if policy.deterministic_only and not deterministic(request):
            _mark(ctx, "skip")
            stats.skips += 1
            return await call_next(ctx)
        pending = Pending(probe_for(Scope.of(ctx), request), policy)
        if "no-cache" in directives:
            _mark(ctx, "bypass")
            stats.bypasses += 1
        else:
            hit = await self._cache.lookup(pending)
            if hit is not None:
                return self._answer(ctx, hit)
            _mark(ctx, "miss")
            stats.misses += 1
        result = await call_next(ctx)
        if isinstance(result, Completion):
            await self._store(pending, result)
        elif isinstance(result, ChatStream):
            self._watch(result, pending)
        return result

    def _answer(self, ctx: CallContext, hit: Hit) -> Result:
        semantic = hit.similarity is not None
        _mark(ctx, "semantic" if semantic else "hit", hit.similarity)
        ctx.response_headers["x-steward-target"] = CACHE_TARGET
        usage = usage_from_openai(hit.body.get("usage"))
        model = ctx.public_model or ""
        saved = self._price_saved(model, usage) if usage is not None else None
        self._cache.stats.hit(model, usage, semantic=semantic, cost_usd=saved)
        if not ctx.stream:
            return Completion(hit.body)
        chunks = replay_chunks(hit.body)
        return ChatStream(chunks[0], replay_rest(chunks[1:]))

    def _watch(self, stream: ChatStream, pending: Pending) -> None:
        """Assemble the streamed answer as it passes; store it if the stream ends cleanly."""
        assembler = StreamAssembler()
        stream.observe(assembler)

        async def finished(stream: ChatStream, error: BaseException | None) -> None:
            body = assembler.completion() if error is None else None
            if body is not None:
                await self._store(pending, Completion(body))

        stream.on_close(finished)

    async def _store(self, pending: Pending, result: Completion) -> None:
        """Never fails the call: the answer is already good, and a stream's finaliser must
        not raise (the record's would not run)."""
        try:
            await self._cache.store(pending, result.body)
        except Exception:
            log.exception("cache.store_failed")


def deterministic(request: ChatRequest) -> bool:
    """Temperature 0 and one choice. An absent temperature is the provider's default (1)."""
    return request.temperature == 0 and request.n in (None, 1)


def cache_directives(value: str | None) -> frozenset[str]:
    if not value:
        return frozenset()
    return frozenset(part.strip().lower() for part in value.split(","))


def _mark(ctx: CallContext, outcome: str, similarity: float | None = None) -> None:
    ctx.cache = outcome
    ctx.response_headers[CACHE_HEADER] = outcome
    if similarity is not None:
        ctx.cache_similarity = round(similarity, 4)
        ctx.response_headers[SIMILARITY_HEADER] = f"{similarity:.4f}"
