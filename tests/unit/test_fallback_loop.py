"""The fallback loop on its own: scripted outcomes per target, no HTTP."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator
from typing import Any

import pytest

from steward.config.schema import BreakerConfig, ModelConfig
from steward.errors import (
    AllTargetsFailedError,
    NoHealthyTargetError,
    StewardError,
    UpstreamConnectionError,
    UpstreamStatusError,
)
from steward.pipeline.context import CallContext
from steward.pipeline.result import Completion, Result
from steward.routing.breaker import Breakers
from steward.routing.health import TargetHealth
from steward.routing.loop import FallbackLoop
from steward.routing.strategy import Router
from steward.routing.targets import ModelRoute, ModelTable
from steward.types import JSONObject, Operation
from steward.wire.openai import ChatRequest, EmbeddingRequest


class Stub:
    """A provider the loop only asks whether it is usable; calls go through `Script`."""

    def __init__(self, name: str, *, missing_key: bool = False) -> None:
        self.name = name
        self._missing_key = missing_key

    def available(self) -> str | None:
        return "OPENAI_API_KEY is not set" if self._missing_key else None

    def supports(self, operation: Operation) -> bool:
        return operation == "chat"

    async def chat(self, request: ChatRequest, model: str) -> JSONObject:
        raise NotImplementedError

    def chat_stream(self, request: ChatRequest, model: str) -> AsyncGenerator[JSONObject, None]:
        raise NotImplementedError

    async def embed(self, request: EmbeddingRequest, model: str) -> JSONObject:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


class Script:
    """The terminal: per target a queue of outcomes (an error to raise, or None for success)."""

    def __init__(self, **outcomes: list[StewardError | None]) -> None:
        self.outcomes = {k.replace("_", "/"): list(v) for k, v in outcomes.items()}
        self.calls: list[str] = []

    async def __call__(self, ctx: CallContext) -> Result:
        target = str(ctx.target)
        self.calls.append(target)
        queue = self.outcomes.get(target, [])
        outcome = queue.pop(0) if queue else None
        if outcome is not None:
            raise outcome
        return Completion({"served_by": target})


def build(
    *, breaker: BreakerConfig | None = None, missing_key: bool = False, **policy: Any
) -> tuple[FallbackLoop, ModelRoute, Breakers]:
    policy.setdefault("targets", ["a/one", "b/two"])
    policy.setdefault("backoff_base_ms", 1)
    route = ModelRoute.from_config("m", ModelConfig.model_validate(policy))
    providers = {"a": Stub("a", missing_key=missing_key), "b": Stub("b")}
    models = ModelTable([route], providers)
    health = TargetHealth()
    breakers = Breakers(breaker or BreakerConfig())
    loop = FallbackLoop(models, Router(health), breakers, health, random.Random(7))
    return loop, route, breakers


def run(loop: FallbackLoop, route: ModelRoute, script: Script) -> tuple[Result, CallContext]:
    ctx = CallContext(id="r", endpoint="chat", raw_body=b"{}", credential=None)
    ctx.request = ChatRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    )
    result = asyncio.run(loop.run(ctx, route, script))
    return result, ctx


def status(code: int, message: str = "boom", retry_after: float | None = None) -> StewardError:
    error = UpstreamStatusError(message, upstream_status=code)
    error.retry_after = retry_after
    return error


def test_first_target_answers() -> None:
    loop, route, _ = build()
    result, ctx = run(loop, route, script := Script())
    assert isinstance(result, Completion) and result.body == {"served_by": "a/one"}
    assert script.calls == ["a/one"]
    assert [(a.target, a.status) for a in ctx.attempts] == [("a/one", 200)]


def test_retry_then_fallback() -> None:
    loop, route, _ = build(retries=1)
    script = Script(a_one=[status(500), UpstreamConnectionError("reset")])
    _result, ctx = run(loop, route, script)
    assert script.calls == ["a/one", "a/one", "b/two"]
    assert ctx.target is not None and str(ctx.target) == "b/two"
    assert [a.status for a in ctx.attempts] == [500, 502, 200]


def test_a_retry_after_longer_than_the_backoff_cap_moves_on_at_once() -> None:
    loop, route, _ = build(retries=3, backoff_max_ms=1000)
    script = Script(a_one=[status(429, retry_after=30)])
    run(loop, route, script)
    assert script.calls == ["a/one", "b/two"]


def test_a_client_error_stops_without_fallback() -> None:
    loop, route, _ = build(retries=2)
    script = Script(a_one=[status(422, "bad schema")])
    with pytest.raises(UpstreamStatusError, match="bad schema"):
        run(loop, route, script)
    assert script.calls == ["a/one"]


def test_one_failed_attempt_keeps_its_own_error_and_more_are_listed() -> None:
    loop, route, _ = build(targets=["a/one"], retries=0)
    with pytest.raises(UpstreamStatusError):
        run(loop, route, Script(a_one=[status(500)]))
    loop, route, _ = build(retries=0)
    with pytest.raises(AllTargetsFailedError) as info:
        run(loop, route, Script(a_one=[status(500, "first")], b_two=[status(503, "second")]))
    assert "a/one: first" in info.value.message and "b/two: second" in info.value.message
    assert len(info.value.causes) == 2


def test_unavailable_targets_are_skipped_and_named() -> None:
    loop, route, _ = build(missing_key=True)
    _result, _ctx = run(loop, route, script := Script())
    assert script.calls == ["b/two"]
    loop, route, _ = build(missing_key=True, targets=["a/one"])
    with pytest.raises(NoHealthyTargetError, match="OPENAI_API_KEY is not set"):
        run(loop, route, Script())


def test_client_errors_do_not_open_the_breaker_but_upstream_failures_do() -> None:
    config = BreakerConfig(min_requests=2, failure_ratio=0.5)
    loop, route, breakers = build(breaker=config, retries=0)
    for _ in range(3):
        with pytest.raises(UpstreamStatusError):
            run(loop, route, Script(a_one=[status(400)]))
    assert breakers.state("a/one") == "closed"
    # The three answered 400s count as successes: 2 failures of 5 stay below the ratio.
    run(loop, route, Script(a_one=[status(500)]))
    run(loop, route, Script(a_one=[status(500)]))
    assert breakers.state("a/one") == "closed"
    run(loop, route, Script(a_one=[status(500)]))
    assert breakers.state("a/one") == "open"
    _, _ctx = run(loop, route, script := Script())
    assert script.calls == ["b/two"]


def test_backoff_never_outlasts_the_deadline() -> None:
    loop, route, _ = build(
        retries=5, backoff_base_ms=10_000, backoff_max_ms=10_000, deadline_s=0.05
    )
    script = Script(a_one=[status(500)] * 6, b_two=[status(500)] * 6)
    with pytest.raises(StewardError):
        run(loop, route, script)
    # Every backoff would pass the deadline, so each target gets one attempt only.
    assert script.calls == ["a/one", "b/two"]
