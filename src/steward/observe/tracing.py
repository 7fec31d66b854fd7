"""Tracing of the request path: `Tracing`, built once by the runtime from `[tracing]`.

Off (the default) this imports nothing of OpenTelemetry, no span object exists, the trace stage
only reads an incoming `traceparent` so that log lines still carry the caller's trace id.

On, the trace stage opens each call's trace (`observe/otel.py: RequestTrace`, the request span),
the stages in `[tracing] stage_spans` get a child span each, the fallback loop one per attempt,
and spans are exported by the SDK's batch processor on its own thread. The `route` span covers
the whole fallback loop (the attempts are its children); the other stages' spans cover their own
work until they hand on to the next stage. The call's trace rides on a context
variable owned by this object (not a module global), so it reaches hedged attempts, which run
as tasks, without being threaded through every signature.

Sampling is decided once per call, as the SDK's `ParentBased(TraceIdRatioBased(ratio))` would:
an incoming `traceparent`'s sampled flag decides; without one, the low 64 bits of the trace id
are compared with `sample_ratio`. A call that is not sampled still gets a trace id (and the
response headers), but no span.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Awaitable, Mapping
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, NamedTuple

from steward.pipeline.context import CallContext
from steward.pipeline.result import Result
from steward.pipeline.stage import Next, Stage

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

    from steward.config.schema import StewardConfig
    from steward.config.tracing import TracingConfig
    from steward.observe.otel import Exporting, RequestTrace

__all__ = ["TraceParent", "Tracing", "format_traceparent", "parse_traceparent"]

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_LOW_64 = (1 << 64) - 1


class TraceParent(NamedTuple):
    trace_id: int
    span_id: int
    flags: int

    @property
    def sampled(self) -> bool:
        return bool(self.flags & 1)


def parse_traceparent(value: str | None) -> TraceParent | None:
    """A W3C `traceparent` header, or None when absent or invalid (which starts a new trace)."""
    if not value:
        return None
    match = _TRACEPARENT.fullmatch(value.strip())
    if match is None:
        return None
    version, trace_hex, span_hex, flags_hex, rest = match.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return None
    trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    if trace_id == 0 or span_id == 0:
        return None
    return TraceParent(trace_id, span_id, int(flags_hex, 16))


def format_traceparent(trace_id: int, span_id: int, *, sampled: bool) -> str:
    return f"00-{trace_id:032x}-{span_id:016x}-{'01' if sampled else '00'}"


class Tracing:
    """The gateway's tracer: a TracerProvider and batch exporter when on, inert when off."""

    def __init__(
        self,
        config: TracingConfig,
        *,
        provider_kinds: Mapping[str, str] | None = None,
        exporter: SpanExporter | None = None,
        content_models: frozenset[str] | None = None,
    ) -> None:
        """`content_models`: the public models whose content may go on spans when
        `capture_content` is on (None: every model)."""
        self.config = config
        self.enabled = config.enabled
        self._bound = round(config.sample_ratio * (_LOW_64 + 1))
        self._stage_spans = frozenset(config.stage_spans)
        self._stage_min_ns = round(config.stage_span_min_us * 1000)
        self._current: ContextVar[RequestTrace | None] = ContextVar("steward_trace", default=None)
        self._exporting: Exporting | None = None
        if config.enabled:
            from steward.observe.otel import Exporting  # the SDK loads only when tracing is on

            self._exporting = Exporting(config, provider_kinds or {}, exporter, content_models)

    @classmethod
    def from_config(cls, config: StewardConfig, exporter: SpanExporter | None = None) -> Tracing:
        kinds = {name: provider.type for name, provider in config.providers.items()}
        # Content goes on spans only where the model's capture policy stores it as sent.
        full = frozenset(name for name, model in config.models.items() if model.capture == "full")
        return cls(config.tracing, provider_kinds=kinds, exporter=exporter, content_models=full)

    @classmethod
    def disabled(cls) -> Tracing:
        from steward.config.tracing import TracingConfig

        return cls(TracingConfig())

    # The request path.

    def begin(self, ctx: CallContext) -> RequestTrace | None:
        """Set `ctx.trace_id` (and, when on, the response's `traceparent` and `x-trace-id`);
        return the call's trace if it is sampled."""
        incoming = parse_traceparent(ctx.headers.get("traceparent"))
        if self._exporting is None:
            ctx.trace_id = f"{incoming.trace_id:032x}" if incoming is not None else None
            return None
        if incoming is not None:
            trace_id, sampled = incoming.trace_id, incoming.sampled
        else:
            trace_id = random.getrandbits(128) or 1
            sampled = (trace_id & _LOW_64) < self._bound
        span_id = random.getrandbits(64) or 1
        ctx.trace_id = f"{trace_id:032x}"
        ctx.response_headers["traceparent"] = format_traceparent(trace_id, span_id, sampled=sampled)
        ctx.response_headers["x-trace-id"] = ctx.trace_id
        if not sampled:
            return None
        return self._exporting.request(trace_id, span_id, incoming, ctx.headers.get("tracestate"))

    def enter(self, trace: RequestTrace) -> Token[RequestTrace | None]:
        return self._current.set(trace)

    def leave(self, token: Token[RequestTrace | None]) -> None:
        self._current.reset(token)

    def current(self) -> RequestTrace | None:
        """The trace of the call being handled, if it is traced."""
        return self._current.get()

    def traced(self, name: str, stage: Stage) -> Stage:
        """`stage` with a span of its own when tracing is on and `stage_spans` names it."""
        if self._exporting is None or name not in self._stage_spans:
            return stage
        if name == "route":
            return _CoveringSpan(f"steward.{name}", stage, self._current)
        return _StageSpan(f"steward.{name}", stage, self._current, self._stage_min_ns)

    # Lifecycle.

    def force_flush(self, timeout_s: float = 5.0) -> bool:
        """Export every finished span now; False if that did not finish within the timeout."""
        return self._exporting is None or self._exporting.force_flush(timeout_s)

    def shutdown(self) -> None:
        """Export what is left and stop the exporter's thread (blocks up to the export timeout)."""
        if self._exporting is not None:
            self._exporting.shutdown()


class _StageSpan:
    """A stage's own work: the span ends when the stage hands on (or returns, or refuses), so
    stage spans are siblings under the request span rather than nested in one another.

    The span is made only once its length is known: one shorter than `min_ns` that did not
    fail costs nothing but two clock reads (`[tracing] stage_span_min_us`)."""

    __slots__ = ("_current", "_min_ns", "_name", "_stage")

    def __init__(
        self, name: str, stage: Stage, current: ContextVar[RequestTrace | None], min_ns: int
    ) -> None:
        self._name = name
        self._stage = stage
        self._current = current
        self._min_ns = min_ns

    async def __call__(self, ctx: CallContext, call_next: Next) -> Result:
        trace = self._current.get()
        if trace is None:
            return await self._stage(ctx, call_next)
        started = time.time_ns()
        handed_on = False

        def hand_on(ctx: CallContext) -> Awaitable[Result]:
            nonlocal handed_on
            handed_on = True
            self._record(trace, started, None)
            return call_next(ctx)

        try:
            result = await self._stage(ctx, hand_on)
        except BaseException as exc:
            if not handed_on:  # else the error is a later stage's
                self._record(trace, started, exc)
            raise
        if not handed_on:
            self._record(trace, started, None)
        return result

    def _record(self, trace: RequestTrace, started: int, error: BaseException | None) -> None:
        ended = time.time_ns()
        if error is None and ended - started < self._min_ns:
            return
        span = trace.start(self._name, started)
        if error is not None:
            span.fail(error)
        span.end(ended)


class _CoveringSpan:
    """The route stage: one span over the whole fallback loop, parent of its attempts."""

    __slots__ = ("_current", "_name", "_stage")

    def __init__(self, name: str, stage: Stage, current: ContextVar[RequestTrace | None]) -> None:
        self._name = name
        self._stage = stage
        self._current = current

    async def __call__(self, ctx: CallContext, call_next: Next) -> Result:
        trace = self._current.get()
        if trace is None:
            return await self._stage(ctx, call_next)
        span = trace.start_route(self._name)
        try:
            return await self._stage(ctx, call_next)
        except BaseException as exc:
            span.fail(exc)
            raise
        finally:
            span.attributes["steward.attempt_count"] = len(ctx.attempts)
            span.end()
