"""Strategies: the order in which one request tries a public model's targets.

Every strategy returns all targets; the first is preferred and the rest are its fallbacks. A
target the breaker holds open or whose provider is unavailable is skipped later, by the loop.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable, Sequence
from typing import Protocol

from steward.config.schema import TieringConfig
from steward.errors import ConfigError
from steward.routing.targets import ModelRoute, Target
from steward.wire.openai import ChatRequest, EmbeddingRequest

__all__ = ["Classifier", "LiveStats", "Router", "estimate_tokens", "load_classifier"]

Classifier = Callable[[ChatRequest], str | None]
CHARS_PER_TOKEN = 4


class LiveStats(Protocol):
    def in_flight(self, target: str) -> int: ...
    def latency_ms(self, target: str, q: float) -> float | None: ...


class Router:
    """Orders targets per request by the route's strategy, from live statistics."""

    def __init__(self, stats: LiveStats, rng: random.Random | None = None) -> None:
        self._stats = stats
        self._rng = rng or random.Random()
        self._classifiers: dict[str, Classifier] = {}

    def order(
        self, route: ModelRoute, request: ChatRequest | EmbeddingRequest | None
    ) -> Sequence[Target]:
        policy = route.policy
        strategy = policy.strategy if policy is not None else "fallback"
        targets = route.targets
        if strategy == "fallback" or len(targets) == 1:
            return targets
        if strategy == "weighted":
            return self._weighted(targets)
        if strategy == "least-latency":
            return sorted(targets, key=lambda t: self._stats.latency_ms(str(t), 0.5) or 0.0)
        if strategy == "least-busy":
            return sorted(targets, key=lambda t: self._stats.in_flight(str(t)))
        assert policy is not None
        tier = self.tier(policy.tiering, request)
        return sorted(targets, key=lambda t: t.tier != tier)

    def tier(self, rules: TieringConfig, request: ChatRequest | EmbeddingRequest | None) -> str:
        """`cheap` or `strong` for this request: the classifier's answer, else the rules."""
        if not isinstance(request, ChatRequest):
            return "cheap"
        if rules.classifier:
            verdict = self._classifier(rules.classifier)(request)
            if verdict in ("cheap", "strong"):
                return verdict
        if rules.tools_are_strong and request.tools:
            return "strong"
        if len(request.messages) > rules.max_messages:
            return "strong"
        if estimate_tokens(request) > rules.max_input_tokens:
            return "strong"
        return "cheap"

    def _weighted(self, targets: Sequence[Target]) -> list[Target]:
        """A random order where each position is drawn in proportion to weight (A-ES keys)."""
        rng = self._rng

        def key(target: Target) -> float:
            return rng.random() ** (1.0 / target.weight) if target.weight > 0 else -1.0

        return sorted(targets, key=key, reverse=True)

    def _classifier(self, path: str) -> Classifier:
        found = self._classifiers.get(path)
        if found is None:
            found = self._classifiers[path] = load_classifier(path)
        return found


def load_classifier(path: str) -> Classifier:
    """Import `module:function`; a bad path is a configuration error, found at first use."""
    module_name, _, name = path.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"tiering classifier {path!r} cannot be imported: {exc}") from None
    if not callable(function):
        raise ConfigError(f"tiering classifier {path!r} is not callable")
    return function  # type: ignore[no-any-return]


def estimate_tokens(request: ChatRequest) -> int:
    """Prompt tokens, estimated from characters (about four per token in English)."""
    chars = 0
    for message in request.messages:
        content = message.content
        if isinstance(content, str):
            chars += len(content)
        elif content:
            chars += sum(len(str(part.get("text", ""))) for part in content)
    return chars // CHARS_PER_TOKEN
