"""Cache statistics per public model, counted in this process since it started.

Tokens saved are the usage of the cached answers served; cost saved prices that usage at the
model's first target (the one that would have served it first); hits of unpriced targets add
nothing to it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from steward.types import JSONObject
from steward.wire.openai import TokenUsage

__all__ = ["CacheStats", "ModelCacheStats"]


@dataclass(slots=True)
class ModelCacheStats:
    hits: int = 0
    """Exact hits."""
    semantic_hits: int = 0
    misses: int = 0
    bypasses: int = 0
    """`Cache-Control: no-cache` or `no-store`: the cache was not read."""
    skips: int = 0
    """Requests the cache declined: not deterministic, or nothing it could store."""
    input_tokens_saved: int = 0
    output_tokens_saved: int = 0
    cost_saved_usd: float = 0.0

    def hit_ratio(self) -> float | None:
        served = self.hits + self.semantic_hits
        looked_up = served + self.misses
        return round(served / looked_up, 4) if looked_up else None


class CacheStats:
    """Counters only the event loop touches, so no lock."""

    def __init__(self) -> None:
        self._models: dict[str, ModelCacheStats] = {}

    def model(self, name: str) -> ModelCacheStats:
        stats = self._models.get(name)
        if stats is None:
            stats = self._models[name] = ModelCacheStats()
        return stats

    def hit(
        self, name: str, usage: TokenUsage | None, *, semantic: bool, cost_usd: float | None = None
    ) -> None:
        stats = self.model(name)
        if semantic:
            stats.semantic_hits += 1
        else:
            stats.hits += 1
        if usage is not None:
            stats.input_tokens_saved += usage.input_tokens
            stats.output_tokens_saved += usage.output_tokens
        if cost_usd:
            stats.cost_saved_usd = round(stats.cost_saved_usd + cost_usd, 9)

    def snapshot(self) -> JSONObject:
        return {
            name: {**asdict(stats), "hit_ratio": stats.hit_ratio()}
            for name, stats in sorted(self._models.items())
        }
