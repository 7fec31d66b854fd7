"""Tracing without HTTP: traceparent parsing, sampling, stage spans, hedged attempts, and that
nothing of OpenTelemetry loads while tracing is off. Spans go to the SDK's in-memory exporter
through the same batch processor the gateway uses."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tests.unit.test_fallback_loop import Stub

from steward.config.loading import load_config
from steward.config.schema import BreakerConfig, ModelConfig, StewardConfig
from steward.config.tracing import TracingConfig
from steward.costs import Pricing
from steward.errors import ConfigError
from steward.observe.tracing import Tracing, format_traceparent, parse_traceparent
from steward.pipeline.context import CallContext
from steward.pipeline.result import Completion, Result
from steward.pipeline.stage import Next, build_chain
from steward.pipeline.stages.route import RouteStage
from steward.pipeline.stages.trace import TraceStage
from steward.routing.breaker import Breakers
from steward.routing.health import TargetHealth
from steward.routing.loop import FallbackLoop
from steward.routing.strategy import Router
from steward.routing.targets import ModelRoute, ModelTable
from steward.wire.openai import ChatRequest

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"00-{TRACE}-{PARENT}-01", (int(TRACE, 16), int(PARENT, 16), 1)),
        (f"00-{TRACE}-{PARENT}-00", (int(TRACE, 16), int(PARENT, 16), 0)),
        (f"01-{TRACE}-{PARENT}-01-future", (int(TRACE, 16), int(PARENT, 16), 1)),
        (f"00-{TRACE}-{PARENT}-01-extra", None),  # version 00 has exactly four fields
        (f"ff-{TRACE}-{PARENT}-01", None),
        (f"00-{TRACE.upper()}-{PARENT}-01", None),
        (f"00-{'0' * 32}-{PARENT}-01", None),
        (f"00-{TRACE}-{'0' * 16}-01", None),
        (f"00-{TRACE[:-1]}-{PARENT}-01", None),
        ("", None),
        (None, None),
    ],
)
def test_traceparent_parsing(header: str | None, expected: tuple[int, int, int] | None) -> None:
    parsed = parse_traceparent(header)
    assert (tuple(parsed) if parsed is not None else None) == expected


def test_traceparent_formatting_round_trips() -> None:
    text = format_traceparent(int(TRACE, 16), int(PARENT, 16), sampled=True)
    assert text == f"00-{TRACE}-{PARENT}-01"
    assert parse_traceparent(text) == (int(TRACE, 16), int(PARENT, 16), 1)


def test_config_orders_trace_after_record_and_fits_the_batch(tmp_path: Path) -> None:
    path = tmp_path / "steward.toml"
    path.write_text('[pipeline]\nstages = ["record", "auth", "trace", "parse", "route"]\n')
    with pytest.raises(ConfigError, match='"trace" must come right after "record"'):
        load_config(path, environ={})
    assert StewardConfig().pipeline.stages[:2] == ("record", "trace")
    with pytest.raises(ValueError, match="batch_max_spans"):
        TracingConfig(batch_max_spans=10, queue_max_spans=5)


class Traced:
    """A trace stage and a route over two stub targets, exporting to memory."""

    def __init__(self, *, sample_ratio: float = 1.0, enabled: bool = True, **policy: object):
        self.exporter = InMemorySpanExporter()
        config = TracingConfig(enabled=enabled, sample_ratio=sample_ratio, batch_delay_ms=1)
        self.tracing = Tracing(config, provider_kinds={"a": "openai"}, exporter=self.exporter)
        policy.setdefault("targets", ["a/one", "b/two"])
        route = ModelRoute.from_config("m", ModelConfig.model_validate(policy))
        models = ModelTable([route], {"a": Stub("a"), "b": Stub("b")})
        health = TargetHealth()
        loop = FallbackLoop(
            models,
            Router(health),
            Breakers(BreakerConfig()),
            health,
            random.Random(7),
            tracing=self.tracing,
        )
        self.stages = [
            TraceStage(self.tracing, Pricing.from_config(StewardConfig())),
            self.tracing.traced("route", RouteStage(models, loop)),
        ]

    def call(self, terminal: Next, headers: dict[str, str] | None = None) -> CallContext:
        ctx = CallContext(id="r", endpoint="chat", raw_body=b"{}", credential=None)
        ctx.headers = headers or {}
        ctx.public_model = "m"
        ctx.request = ChatRequest.model_validate(
            {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
        )
        asyncio.run(build_chain(self.stages, terminal)(ctx))
        return ctx

    def spans(self) -> Sequence[ReadableSpan]:
        assert self.tracing.force_flush()
        return self.exporter.get_finished_spans()


async def answer(ctx: CallContext) -> Result:
    return Completion({"model": str(ctx.target), "choices": [], "usage": {"prompt_tokens": 3}})


def test_hedged_attempts_each_get_a_span_under_the_route() -> None:
    traced = Traced(hedge=True, hedge_min_delay_ms=1)

    async def slow_first(ctx: CallContext) -> Result:
        if str(ctx.target) == "a/one":
            await asyncio.sleep(5)
        return await answer(ctx)

    ctx = traced.call(slow_first)
    assert str(ctx.target) == "b/two"
    spans = {span.name: span for span in traced.spans()}
    route = spans["steward.route"]
    first, hedge = spans["chat one"], spans["chat two"]
    assert first.parent is not None and first.parent.span_id == route.context.span_id
    assert hedge.parent is not None and hedge.parent.span_id == route.context.span_id
    assert first.attributes["error.type"] == "cancelled"
    assert first.attributes["gen_ai.provider.name"] == "openai"
    assert hedge.attributes["steward.hedged"] is True
    assert hedge.attributes["gen_ai.usage.input_tokens"] == 3
    assert "error.type" not in hedge.attributes
    request = spans["chat m"]
    assert request.attributes["gen_ai.response.model"] == "b/two"
    assert request.attributes["gen_ai.request.max_tokens"] == 5


def test_an_unsampled_call_has_ids_and_headers_but_no_span() -> None:
    traced = Traced(sample_ratio=0.0)
    ctx = traced.call(answer)
    assert ctx.trace_id is not None and len(ctx.trace_id) == 32
    assert ctx.response_headers["x-trace-id"] == ctx.trace_id
    assert ctx.response_headers["traceparent"].endswith("-00")
    assert traced.spans() == ()
    sampled_parent = {"traceparent": f"00-{TRACE}-{PARENT}-01"}
    traced.call(answer, sampled_parent)  # the caller's sampled flag overrides the ratio
    assert {span.context.trace_id for span in traced.spans()} == {int(TRACE, 16)}


def test_off_the_trace_id_still_comes_from_the_caller() -> None:
    traced = Traced(enabled=False)
    ctx = traced.call(answer, {"traceparent": f"00-{TRACE}-{PARENT}-01"})
    assert ctx.trace_id == TRACE
    assert "traceparent" not in ctx.response_headers
    assert traced.call(answer).trace_id is None
    assert traced.stages[1].__class__ is RouteStage  # no wrapper at all


def test_a_stage_span_ends_when_the_stage_hands_on() -> None:
    traced = Traced()
    order: list[str] = []

    class Auth:
        async def __call__(self, ctx: CallContext, call_next: Next) -> Result:
            order.append("auth")
            result = await call_next(ctx)
            order.append("auth after")
            return result

    traced.stages.insert(1, traced.tracing.traced("auth", Auth()))
    traced.call(answer)
    spans = {span.name: span for span in traced.spans()}
    auth, route = spans["steward.auth"], spans["steward.route"]
    assert order == ["auth", "auth after"]
    assert auth.end_time is not None and route.start_time is not None
    assert auth.end_time <= route.start_time
    assert auth.parent is not None and auth.parent.span_id == spans["chat m"].context.span_id


def test_tracing_off_loads_no_tracing_sdk() -> None:
    # Only the tracing parts: redis-py imports OpenTelemetry's metrics SDK whenever installed.
    heavy = ("opentelemetry.sdk.trace", "opentelemetry.exporter", "steward.observe.otel")
    code = (
        "import sys, steward.trace, steward.runtime;"
        "from steward.config.schema import StewardConfig;"
        "from steward.observe.tracing import Tracing;"
        "Tracing.from_config(StewardConfig());"
        f"print([m for m in sys.modules if m.startswith({heavy!r})])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_stage_spans_are_chosen_in_config() -> None:
    stage = TraceStage(Tracing.disabled(), Pricing.from_config(StewardConfig()))
    only_route = Tracing(TracingConfig(enabled=True, stage_spans=("route",)))
    try:
        assert only_route.traced("auth", stage) is stage
        assert only_route.traced("route", stage) is not stage
    finally:
        only_route.shutdown()
    with pytest.raises(ValueError, match="record cannot have spans"):
        TracingConfig(stage_spans=("record",))


def test_short_stage_spans_can_be_left_out_but_failures_never() -> None:
    traced = Traced()
    traced.tracing = Tracing(
        TracingConfig(enabled=True, stage_span_min_us=60_000_000, batch_delay_ms=1),
        exporter=traced.exporter,
    )

    class Refuse:
        async def __call__(self, ctx: CallContext, call_next: Next) -> Result:
            raise ConfigError("no")

    class Quick:
        async def __call__(self, ctx: CallContext, call_next: Next) -> Result:
            return await call_next(ctx)

    pricing = Pricing.from_config(StewardConfig())
    traced.stages = [
        TraceStage(traced.tracing, pricing),
        traced.tracing.traced("auth", Quick()),
        traced.tracing.traced("cache", Refuse()),
    ]
    with pytest.raises(ConfigError):
        traced.call(answer)
    names = sorted(span.name for span in traced.spans())
    assert names == ["chat m", "steward.cache"]  # the quick auth span was left out
