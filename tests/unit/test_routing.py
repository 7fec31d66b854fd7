"""Strategies order targets; the retry policy decides what follows a failed attempt."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from steward.config.schema import ModelConfig
from steward.errors import (
    ConfigError,
    InvalidRequestError,
    OverloadedError,
    UpstreamConnectionError,
    UpstreamStatusError,
    UpstreamTimeoutError,
)
from steward.routing.retry import backoff_s, verdict
from steward.routing.strategy import Router, estimate_tokens
from steward.routing.targets import ModelRoute
from steward.wire.openai import ChatRequest


class Stats:
    """Live statistics as the health registry would report them."""

    def __init__(self, in_flight: dict[str, int], p50: dict[str, float]) -> None:
        self._in_flight = in_flight
        self._p50 = p50

    def in_flight(self, target: str) -> int:
        return self._in_flight.get(target, 0)

    def latency_ms(self, target: str, q: float) -> float | None:
        return self._p50.get(target)


def route(**policy: object) -> ModelRoute:
    policy.setdefault("targets", ["a/one", "b/two", "c/three"])
    return ModelRoute.from_config("m", ModelConfig.model_validate(policy))


def chat(text: str = "hi", **extra: object) -> ChatRequest:
    return ChatRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": text}], **extra}
    )


def names(targets: object) -> list[str]:
    return [str(t) for t in targets]  # type: ignore[attr-defined]


def classify(request: ChatRequest) -> str | None:
    return "strong" if "legal" in str(request.messages[-1].content) else None


def test_fallback_keeps_the_configured_order() -> None:
    router = Router(Stats({}, {}))
    assert names(router.order(route(), chat())) == ["a/one", "b/two", "c/three"]


def test_weighted_first_choice_follows_the_weights() -> None:
    router = Router(Stats({}, {}), random.Random(7))
    r = route(
        strategy="weighted",
        targets=[
            {"target": "a/one", "weight": 3},
            {"target": "b/two", "weight": 1},
            {"target": "c/off", "weight": 0},
        ],
    )
    firsts = Counter(str(router.order(r, chat())[0]) for _ in range(20_000))
    assert abs(firsts["a/one"] / 20_000 - 0.75) < 0.02
    assert firsts["c/off"] == 0
    assert names(router.order(r, chat()))[-1] == "c/off"  # weight 0: last resort only


def test_least_busy_and_least_latency_use_live_statistics() -> None:
    stats = Stats({"a/one": 5, "b/two": 0, "c/three": 2}, {"a/one": 40.0, "c/three": 10.0})
    router = Router(stats)
    assert names(router.order(route(strategy="least-busy"), chat())) == [
        "b/two",
        "c/three",
        "a/one",
    ]
    # No latency data yet counts as fastest, so a new target gets tried.
    assert names(router.order(route(strategy="least-latency"), chat())) == [
        "b/two",
        "c/three",
        "a/one",
    ]


def tiered(**tiering: object) -> ModelRoute:
    return route(
        strategy="tiered",
        targets=[
            {"target": "big/strong", "tier": "strong"},
            {"target": "small/cheap", "tier": "cheap"},
        ],
        tiering=tiering,
    )


def test_tiered_sends_simple_requests_to_the_cheap_tier_and_hard_ones_to_the_strong() -> None:
    router = Router(Stats({}, {}))
    r = tiered(max_input_tokens=50)
    assert names(router.order(r, chat("What are your opening hours?"))) == [
        "small/cheap",
        "big/strong",
    ]
    assert names(router.order(r, chat("word " * 100)))[0] == "big/strong"
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    assert names(router.order(r, chat(tools=tools)))[0] == "big/strong"
    many = [{"role": "user", "content": "x"}] * 9
    long_chat = ChatRequest.model_validate({"model": "m", "messages": many})
    assert names(router.order(r, long_chat))[0] == "big/strong"


def test_a_tiering_classifier_decides_before_the_rules() -> None:
    router = Router(Stats({}, {}))
    r = tiered(classifier="tests.unit.test_routing:classify")
    assert names(router.order(r, chat("a legal question")))[0] == "big/strong"
    assert names(router.order(r, chat("hello")))[0] == "small/cheap"
    with pytest.raises(ConfigError, match="cannot be imported"):
        router.order(tiered(classifier="tests.unit.nowhere:f"), chat())


def test_tiered_config_needs_both_tiers() -> None:
    with pytest.raises(ValueError, match='tier = "cheap"'):
        route(strategy="tiered", targets=[{"target": "a/one", "tier": "strong"}])


def test_token_estimate_counts_text_parts() -> None:
    request = ChatRequest.model_validate(
        {
            "model": "m",
            "messages": [
                {"role": "system", "content": "x" * 400},
                {"role": "user", "content": [{"type": "text", "text": "y" * 400}]},
            ],
        }
    )
    assert estimate_tokens(request) == 200


def status(code: int, message: str = "failed") -> UpstreamStatusError:
    return UpstreamStatusError(message, upstream_status=code)


def test_verdicts() -> None:
    assert verdict(status(500)) == "retry"
    assert verdict(status(429)) == "retry"
    assert verdict(status(408)) == "retry"
    assert verdict(UpstreamTimeoutError("slow")) == "retry"
    assert verdict(UpstreamConnectionError("reset")) == "retry"
    assert verdict(OverloadedError("queue full")) == "retry"
    assert verdict(status(400)) == "stop"
    assert verdict(status(401)) == "stop"
    assert verdict(InvalidRequestError("bad")) == "stop"
    assert verdict(status(400, "This model's maximum context length is 8192 tokens")) == "larger"
    coded = UpstreamStatusError("x", upstream_status=400, code="context_length_exceeded")
    assert verdict(coded) == "larger"
    assert verdict(status(400, "prompt is too long: 210000 tokens > 200000 maximum")) == "larger"


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    rng = random.Random(1)
    for retry, cap_s in [(0, 0.1), (1, 0.2), (2, 0.4), (6, 5.0)]:
        waits = [backoff_s(retry, 100.0, 5000.0, rng) for _ in range(2000)]
        assert 0.0 <= min(waits) < cap_s * 0.05
        assert cap_s * 0.95 < max(waits) <= cap_s
