"""CPU that tracing, metrics and a log line add per request, in process.

    python bench/tracing_overhead.py [--calls 20000] [--rounds 5]

Runs the real default pipeline (record, trace, auth, parse, limits, cache, route: the fallback
loop over two targets) in one uvloop event loop against a terminal that answers at once, as
`routing_overhead.py` does, and binds and clears the structlog context around each call as
`server/asgi.py` does. CPU is `time.process_time` over `--calls` sequential calls, so the batch
span processor's export thread is counted too. Variants:

    no-stage     the pipeline without the `trace` stage, as before tracing existed
    off          tracing off (the default), plain record sink, no log line: the baseline
    tracing      `[tracing] enabled`, every call sampled: 6 spans per call (request, auth,
                 limits, cache, route, one attempt) through the SDK's BatchSpanProcessor to an
                 exporter that drops them
    tracing-otlp the same, the exporter encoding each batch to OTLP protobuf as the gateway's
                 exporter does (`observe/otlp_encoding.py`), without the network
    metrics      Prometheus metrics on the records (`MeteredSink`)
    logging      one JSON log line per call (structlog, the gateway's renderer, to /dev/null)
    all          tracing-otlp + metrics + logging
    all-min50    all, with `stage_span_min_us = 50`: the in-memory auth, limits and cache
                 stages take less, so only the request, route and attempt spans are made

Reports µs of CPU per call, the minimum and the median over `--rounds`, and what each variant
adds to `off`: judged on the minimum, since other processes on a shared 2-CPU VM only ever add
CPU time to a round (the median of the per-round differences is printed too). The target is
`all` <= 200 µs over `off`. For
reference it also times what `observe/otel.py` and `observe/otlp.py` avoid: the same six
spans made through the SDK's `Tracer.start_span` / `end`, and encoded by the SDK's
`encode_spans`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import orjson
import structlog
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, set_span_in_context

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import new_event_loop
from routing_overhead import ANSWER

from steward.auth.keyring import KeyRing, Principal, hash_secret
from steward.cache.responses import ResponseCache
from steward.config.schema import DEFAULT_STAGES, StewardConfig
from steward.costs import Pricing
from steward.limits import MemoryLimiter
from steward.limits.budgets import BudgetBook
from steward.limits.rules import RuleBook
from steward.observe.logging import configure_logging
from steward.observe.metrics import MeteredSink, Metrics
from steward.observe.otlp_encoding import SpanEncoder
from steward.observe.tracing import Tracing
from steward.payloads.capture import PayloadDraft
from steward.pipeline.context import CallContext
from steward.pipeline.registry import StageDeps, build_pipeline
from steward.pipeline.result import Completion, Result
from steward.pipeline.stage import Next
from steward.pipeline.stages.limits import Settlements
from steward.providers.http import HTTPClient, Timeouts
from steward.providers.openai import OpenAIProvider
from steward.routing.breaker import Breakers
from steward.routing.health import TargetHealth
from steward.routing.loop import FallbackLoop
from steward.routing.strategy import Router
from steward.routing.targets import ModelRoute, ModelTable
from steward.storage.records import RequestRecord

KEY = "sk-bench"
TARGETS = ["up/bench-model", "up/bench-backup"]
BODY = orjson.dumps(
    {
        "model": "plain",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Say hello in one short sentence."},
        ],
        "max_tokens": 32,
        "temperature": 0.2,
    }
)


class DropSink:
    def submit(self, record: RequestRecord, payload: PayloadDraft | None = None) -> None:
        pass


class DropExporter(SpanExporter):
    """Counts spans; `encode` also turns each batch into OTLP protobuf bytes, as the gateway's
    exporter does before its POST (`sdk`: with the SDK's encoder instead)."""

    def __init__(self, *, encode: bool, sdk: bool = False) -> None:
        self.encode = encode
        self.sdk = sdk
        self.encoder = SpanEncoder()
        self.spans = 0
        self.cpu_s = 0.0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self.encode:
            started = time.thread_time()
            if self.sdk:
                encode_spans(spans).SerializeToString()
            else:
                self.encoder.encode(spans)
            self.cpu_s += time.thread_time() - started
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


async def answer(ctx: CallContext) -> Result:
    return Completion(dict(ANSWER))


def config(tracing: bool, min_us: float, trace_stage: bool) -> StewardConfig:
    traces = {"enabled": tracing, "stage_span_min_us": min_us, "queue_max_spans": 65536}
    stages = [s for s in DEFAULT_STAGES if trace_stage or s != "trace"]
    return StewardConfig.model_validate(
        {
            "providers": {"up": {"type": "openai", "base_url": "http://127.0.0.1:9/v1"}},
            "models": {"plain": {"targets": TARGETS}},
            "tracing": {**traces, "batch_delay_ms": 200},
            "pipeline": {"stages": stages},
        }
    )


def chain(
    *,
    tracing: bool,
    metrics: bool,
    exporter: SpanExporter | None,
    min_us: float = 0.0,
    trace_stage: bool = True,
) -> tuple[Next, Tracing]:
    cfg = config(tracing, min_us, trace_stage)
    provider = OpenAIProvider(
        "up",
        base_url="http://127.0.0.1:9/v1",
        api_key=None,
        http=HTTPClient(),
        timeouts=Timeouts(total_s=60, connect_s=10, idle_s=60),
    )
    routes = [ModelRoute.from_config(n, m) for n, m in cfg.models.items()]
    models = ModelTable(routes, {"up": provider})
    keyring = KeyRing()
    keyring.replace([(hash_secret(KEY), Principal("k1", "bench", "app", team_id="team_1"))])
    health = TargetHealth(window_s=cfg.breaker.window_s)
    breakers = Breakers(cfg.breaker)
    traces = Tracing.from_config(cfg, exporter=exporter)
    pricing = Pricing.from_config(cfg)
    deps = StageDeps(
        config=cfg,
        keyring=keyring,
        models=models,
        sink=MeteredSink(DropSink(), Metrics(cfg.models, TARGETS)) if metrics else DropSink(),
        cache=ResponseCache(cfg.cache, cfg.models, None),
        routing=FallbackLoop(models, Router(health), breakers, health, tracing=traces),
        pricing=pricing,
        rules=RuleBook(cfg, models, pricing, BudgetBook.empty),
        limiter=MemoryLimiter(),
        settlements=Settlements(),
        tracing=traces,
    )
    return build_pipeline(cfg.pipeline.stages, deps, answer), traces


async def measure(run: Next, calls: int, *, log_line: bool, traces: Tracing | None = None) -> float:
    """µs of process CPU per call, with the per-call work of `server/asgi.py` around it; the
    spans still queued are exported before the clock stops, so their encoding counts too."""
    log = structlog.get_logger("steward.bench")
    bind, clear = structlog.contextvars.bind_contextvars, structlog.contextvars.clear_contextvars

    async def one(i: int) -> None:
        ctx = CallContext(id=os.urandom(16).hex(), endpoint="chat", raw_body=BODY, credential=KEY)
        bind(request_id=ctx.id)
        try:
            await run(ctx)
            if log_line:
                log.info("call.finished", model=ctx.public_model, status=200, target="up/x")
        finally:
            clear()

    for i in range(300):  # warm-up
        await one(i)
    if traces is not None:
        traces.force_flush()
    started = time.process_time()
    for i in range(calls):
        await one(i)
    if traces is not None:
        traces.force_flush()
    return (time.process_time() - started) / calls * 1e6


def sdk_spans_us(calls: int) -> float:
    """The reference: six spans per call through the SDK's Tracer, same processor."""
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(DropExporter(encode=False)))
    tracer = provider.get_tracer("bench")
    started = time.process_time()
    for _ in range(calls):
        request = tracer.start_span("chat plain", kind=SpanKind.SERVER)
        parent = set_span_in_context(request)
        for name in ("auth", "limits", "cache", "route", "attempt"):
            child = tracer.start_span(name, context=parent)
            child.set_attribute("steward.target", "up/bench-model")
            child.end()
        request.set_attributes({"gen_ai.operation.name": "chat", "gen_ai.request.model": "plain"})
        request.end()
    spent = time.process_time() - started
    provider.shutdown()
    return spent / calls * 1e6


VARIANTS = {
    # name: (tracing, exporter encodes, metrics, log line, stage_span_min_us, spans per call)
    "no-stage": (False, False, False, False, 0.0, 0),
    "off": (False, False, False, False, 0.0, 0),
    "tracing": (True, False, False, False, 0.0, 6),
    "tracing-otlp": (True, True, False, False, 0.0, 6),
    "metrics": (False, False, True, False, 0.0, 0),
    "logging": (False, False, False, True, 0.0, 0),
    "all": (True, True, True, True, 0.0, 6),
    "all-min50": (True, True, True, True, 50.0, 3),
}


class KeepExporter(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


async def encoders_us() -> tuple[float, float]:
    """µs of CPU per span to encode the spans of 300 real calls: ours, and the SDK's."""
    keep = KeepExporter()
    call, traces = chain(tracing=True, metrics=False, exporter=keep)
    await measure(call, 1, log_line=False)
    traces.shutdown()
    spans = keep.spans[:2048]
    timings = []
    for encoder in (SpanEncoder().encode, lambda s: encode_spans(s).SerializeToString()):
        started = time.process_time()
        for _ in range(10):
            for at in range(0, len(spans), 512):
                encoder(spans[at : at + 512])
        timings.append((time.process_time() - started) / (10 * len(spans)) * 1e6)
    return timings[0], timings[1]


async def run(args: argparse.Namespace) -> dict[str, list[float]]:
    """Per variant, µs of CPU per call in each round."""
    results: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):
        for name, (tracing, encoding, metrics, log_line, min_us, spans) in VARIANTS.items():
            exporter = DropExporter(encode=encoding) if tracing else None
            call, traces = chain(
                tracing=tracing,
                metrics=metrics,
                exporter=exporter,
                min_us=min_us,
                trace_stage=name != "no-stage",
            )
            results[name].append(await measure(call, args.calls, log_line=log_line, traces=traces))
            traces.shutdown()
            if exporter is not None:
                # At least the spans every call makes: a stage can outlast 50 µs now and then.
                assert exporter.spans >= spans * (args.calls + 300), f"{name}: spans lost"
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    configure_logging("info", "json")
    sink = open(os.devnull, "w")  # noqa: SIM115  # the log lines go nowhere, but are rendered
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sink))
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        results = runner.run(run(args))
        ours, sdk = runner.run(encoders_us())
    print(f"{args.calls} calls x {args.rounds} rounds (µs of CPU per call)")
    print(f"{'variant':<13} {'min':>7} {'median':>7} {'added (min)':>12} {'(paired median)':>16}")
    added: dict[str, float] = {}
    off = min(results["off"])
    for name, values in results.items():
        added[name] = min(values) - off
        paired = statistics.median(v - o for v, o in zip(values, results["off"], strict=True))
        print(
            f"{name:<13} {min(values):>7.1f} {statistics.median(values):>7.1f}"
            f" {added[name]:>+12.1f} {paired:>+16.1f}"
        )
    print(
        f"reference: the 6 spans through the SDK's Tracer: {sdk_spans_us(args.calls):.1f} µs/call"
    )
    print(f"reference: OTLP encoding per span: ours {ours:.1f} µs, the SDK's {sdk:.1f} µs")
    print(f"tracing + metrics + logging: {added['all']:+.1f} µs (target <= 200 µs)")
    print(f"the same with stage_span_min_us = 50: {added['all-min50']:+.1f} µs")
    return 0 if added["all"] <= 200 else 1


if __name__ == "__main__":
    raise SystemExit(main())
