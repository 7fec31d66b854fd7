"""The OpenTelemetry SDK side of tracing: provider, batch processor and exporter
(`observe/otlp.py`), and the spans of one call. Imported only when `[tracing] enabled = true`.

The request path does not go through the SDK's `Tracer`: `start_span` plus `end` costs 22-45 µs
of CPU per span on our 2-CPU VM (sampler, locks, bounded attribute maps), 130-160 µs for the six
spans of a call before any export (docs/performance.md, "Tracing overhead"). A call's spans are
slotted objects timed with `time.time_ns`; each becomes an SDK `ReadableSpan` when it ends and
goes straight to the `BatchSpanProcessor` (about 5 µs), which batches and exports it on its own
thread like any SDK span. Sampling was decided by `Tracing.begin`, once per call.

Nothing here raises into the call: a span that cannot be built is logged and dropped.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import Mapping

import structlog
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from steward import __version__
from steward.cache.streams import StreamAssembler
from steward.config.tracing import TracingConfig
from steward.errors import StewardError
from steward.observe import genai
from steward.observe.otlp import OTLPExporter
from steward.observe.tracing import TraceParent
from steward.pipeline.context import CallContext
from steward.pipeline.result import ChatStream, Result
from steward.routing.targets import Target
from steward.types import JSONObject
from steward.wire.openai import TokenUsage, usage_from_openai

__all__ = ["AttemptSpan", "Exporting", "OpenSpan", "RequestTrace"]

log = structlog.get_logger("steward.tracing")

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_NO_STATE = TraceState()
_UNSET = Status(StatusCode.UNSET)
_SERVED_BY_CACHE = ("hit", "semantic")


class Exporting:
    """The SDK objects one gateway owns; none of them is registered globally."""

    def __init__(
        self,
        config: TracingConfig,
        provider_kinds: Mapping[str, str],
        exporter: SpanExporter | None = None,
        content_models: frozenset[str] | None = None,
    ) -> None:
        meters = NoOpMeterProvider()
        resource = Resource.create(
            {"service.name": config.service_name, "service.version": __version__}
        )
        self.provider = TracerProvider(
            resource=resource, shutdown_on_exit=False, meter_provider=meters
        )
        self.processor = BatchSpanProcessor(
            exporter or OTLPExporter(config.otlp_endpoint, timeout_s=config.export_timeout_s),
            max_queue_size=config.queue_max_spans,
            schedule_delay_millis=config.batch_delay_ms,
            max_export_batch_size=config.batch_max_spans,
            export_timeout_millis=config.export_timeout_s * 1000.0,
            meter_provider=meters,
        )
        self.provider.add_span_processor(self.processor)
        self.resource = self.provider.resource
        self.scope = InstrumentationScope("steward", __version__)
        self.capture_content = config.capture_content
        self.content_models = content_models
        self.provider_kinds = provider_kinds

    def content_allowed(self, public_model: str | None) -> bool:
        """`capture_content` is on and the model's capture policy keeps content as sent."""
        if not self.capture_content:
            return False
        return self.content_models is None or public_model in self.content_models

    def request(
        self, trace_id: int, span_id: int, incoming: TraceParent | None, tracestate: str | None
    ) -> RequestTrace:
        parent = None
        state = _NO_STATE
        if incoming is not None:
            if tracestate:
                state = TraceState.from_header([tracestate])
            parent = SpanContext(
                trace_id, incoming.span_id, True, TraceFlags(incoming.flags), state
            )
        return RequestTrace(self, SpanContext(trace_id, span_id, False, _SAMPLED, state), parent)

    def emit(self, span: ReadableSpan) -> None:
        self.processor.on_end(span)

    def provider_kind(self, target: Target) -> str:
        return self.provider_kinds.get(target.provider, target.provider)

    def force_flush(self, timeout_s: float) -> bool:
        return self.provider.force_flush(int(timeout_s * 1000))

    def shutdown(self) -> None:
        self.provider.shutdown()


class OpenSpan:
    """A span being timed; `end` hands it to the batch processor, once."""

    __slots__ = (
        "_ended",
        "_events",
        "_exporting",
        "_kind",
        "_name",
        "_parent",
        "_start_ns",
        "_status",
        "attributes",
        "context",
    )

    def __init__(
        self,
        exporting: Exporting,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: genai.Attributes | None = None,
        start_ns: int | None = None,
    ) -> None:
        self._exporting = exporting
        self._name = name
        self._parent = parent
        self._kind = kind
        self._start_ns = start_ns or time.time_ns()
        self._status = _UNSET
        self._events: list[Event] | tuple[()] = ()
        self._ended = False
        self.attributes: genai.Attributes = attributes if attributes is not None else {}
        self.context = context

    def fail(self, error: BaseException) -> None:
        if self._ended:
            return
        self.attributes[genai.ERROR_TYPE] = genai.error_type(error)
        self._status = Status(StatusCode.ERROR, _describe(error))

    def event(self, name: str, attributes: genai.Attributes) -> None:
        self._events = [*self._events, Event(name, attributes, time.time_ns())]

    def rename(self, name: str) -> None:
        self._name = name

    def end(self, end_ns: int | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        try:
            exporting = self._exporting
            exporting.emit(
                ReadableSpan(  # positionally: 1.2 µs against 2.1 µs with keywords
                    self._name,
                    self.context,
                    self._parent,
                    exporting.resource,
                    self.attributes,
                    self._events,
                    (),  # links
                    self._kind,
                    None,  # instrumentation_info, deprecated for the scope below
                    self._status,
                    self._start_ns,
                    end_ns or time.time_ns(),
                    exporting.scope,
                )
            )
        except Exception:
            log.exception("tracing.span_dropped", span=self._name)


class RequestTrace:
    """One traced call: its request span (a server span) and the children the stages open."""

    __slots__ = ("_facts", "_span", "attempt_parent", "exporting")

    def __init__(
        self, exporting: Exporting, context: SpanContext, parent: SpanContext | None
    ) -> None:
        self.exporting = exporting
        self._span = OpenSpan(exporting, "chat", context, parent, SpanKind.SERVER)
        self.attempt_parent = context
        """The parent of attempt spans: the route span once it is open."""
        self._facts: tuple[ChatStream, StreamFacts] | None = None

    def start(self, name: str, start_ns: int | None = None) -> OpenSpan:
        parent = self._span.context
        return OpenSpan(self.exporting, name, child_of(parent), parent, start_ns=start_ns)

    def start_route(self, name: str) -> OpenSpan:
        span = self.start(name)
        self.attempt_parent = span.context
        return span

    def attempt(self, ctx: CallContext, target: Target, *, hedged: bool) -> AttemptSpan:
        return AttemptSpan(self, ctx, target, hedged=hedged)

    def facts(self, stream: ChatStream) -> StreamFacts:
        """What a stream's chunks said (model, finish reasons, the answer if content is
        captured), watched once however many spans ask."""
        if self._facts is not None and self._facts[0] is stream:
            return self._facts[1]
        facts = StreamFacts(assemble=self.exporting.capture_content)
        stream.observe(facts)
        self._facts = (stream, facts)
        return facts

    def finish(self, ctx: CallContext, result: Result | None, error: BaseException | None) -> None:
        """End the request span with what the call became; never raises."""
        try:
            self._describe(ctx, result, error)
        except Exception:
            log.exception("tracing.request_span_failed")
        self._span.end()

    def _describe(
        self, ctx: CallContext, result: Result | None, error: BaseException | None
    ) -> None:
        span = self._span
        attributes = span.attributes
        model = ctx.public_model
        span.rename(f"{ctx.operation} {model}" if model else ctx.operation)
        attributes[genai.OPERATION] = ctx.operation
        if model:
            attributes[genai.REQUEST_MODEL] = model
        attributes.update(genai.request_attributes(ctx.request))
        attributes["steward.request_id"] = ctx.id
        attributes["steward.endpoint"] = ctx.endpoint
        attributes["steward.stream"] = ctx.stream
        _call_attributes(ctx, self.exporting, attributes)
        answer = _answer(result, self)
        if answer is not None:
            genai.response_attributes(answer, attributes)
        usage = ctx.total_usage() if ctx.usage or ctx.spent else _usage(result)
        genai.usage_attributes(usage, attributes)
        attributes[genai.HTTP_STATUS] = _status(result, error)
        if error is not None:
            span.fail(error)
        if self.exporting.content_allowed(model):
            span.event(
                genai.CONTENT_EVENT, genai.content_event(ctx.request, _content(result, self))
            )


class AttemptSpan(OpenSpan):
    """One attempt of the fallback loop: a client span, ended when the answer (or the stream)
    is complete."""

    __slots__ = ("_trace",)

    def __init__(
        self, trace: RequestTrace, ctx: CallContext, target: Target, *, hedged: bool
    ) -> None:
        exporting = trace.exporting
        attributes: genai.Attributes = {
            genai.OPERATION: ctx.operation,
            genai.PROVIDER: exporting.provider_kind(target),
            genai.REQUEST_MODEL: target.model,
            "steward.target": str(target),
            **genai.request_attributes(ctx.request),
        }
        if hedged:
            attributes["steward.hedged"] = True
        name = f"{ctx.operation} {target.model}"
        parent = trace.attempt_parent
        super().__init__(exporting, name, child_of(parent), parent, SpanKind.CLIENT, attributes)
        self._trace = trace

    def fail(self, error: BaseException) -> None:
        if isinstance(error, StewardError):
            self.attributes[genai.HTTP_STATUS] = getattr(
                error, "upstream_status", error.http_status
            )
        super().fail(error)

    def answered(self, result: Result) -> Result:
        """Note the answer; a stream's span ends when the stream does."""
        try:
            self.attributes[genai.HTTP_STATUS] = 200
            if isinstance(result, ChatStream):
                result.on_close(functools.partial(self._stream_closed, self._trace.facts(result)))
                return result
            genai.response_attributes(result.body, self.attributes)
            genai.usage_attributes(_usage(result), self.attributes)
        except Exception:
            log.exception("tracing.attempt_span_failed")
        self.end()
        return result

    async def _stream_closed(
        self, facts: StreamFacts, stream: ChatStream, error: BaseException | None
    ) -> None:
        try:
            if facts.head is not None:
                genai.response_attributes(facts.summary(), self.attributes)
            genai.usage_attributes(stream.usage, self.attributes)
            if error is not None:
                self.fail(error)
        except Exception:
            log.exception("tracing.attempt_span_failed")
        self.end()


class StreamFacts:
    """A stream observer: the first chunk's model and id, every finish reason, and (when
    content is captured) the whole answer. Never raises."""

    __slots__ = ("assembler", "head", "reasons")

    def __init__(self, *, assemble: bool) -> None:
        self.head: JSONObject | None = None
        self.reasons: list[str] = []
        self.assembler = StreamAssembler() if assemble else None

    def __call__(self, chunk: JSONObject) -> None:
        if self.head is None:
            self.head = chunk
        choices = chunk.get("choices")
        if isinstance(choices, list):
            for choice in choices:
                if isinstance(choice, dict) and isinstance(
                    reason := choice.get("finish_reason"), str
                ):
                    self.reasons.append(reason)
        if self.assembler is not None:
            self.assembler(chunk)

    def summary(self) -> JSONObject:
        head = self.head or {}
        return {
            "model": head.get("model"),
            "id": head.get("id"),
            "choices": [{"finish_reason": reason} for reason in self.reasons],
        }


def child_of(parent: SpanContext) -> SpanContext:
    return SpanContext(
        parent.trace_id, random.getrandbits(64) or 1, False, _SAMPLED, parent.trace_state
    )


def _status(result: Result | None, error: BaseException | None) -> int:
    """The HTTP status the caller got: a stream that fails midway had already sent 200."""
    if error is None or isinstance(result, ChatStream):
        return 200
    if isinstance(error, StewardError):
        return error.http_status
    return 499 if isinstance(error, asyncio.CancelledError) else 500


def _call_attributes(ctx: CallContext, exporting: Exporting, attributes: genai.Attributes) -> None:
    """Who called, what served it, what it cost."""
    target = ctx.target
    if ctx.cache is not None:
        attributes["steward.cache"] = ctx.cache
    if target is not None and ctx.cache not in _SERVED_BY_CACHE:
        attributes[genai.PROVIDER] = exporting.provider_kind(target)
        attributes["steward.target"] = str(target)
    if ctx.attempts:
        attributes["steward.attempt_count"] = len(ctx.attempts)
    if ctx.cost_usd is not None:
        attributes["steward.cost_usd"] = ctx.cost_usd
    if ctx.ttft_ms is not None:
        attributes["steward.ttft_ms"] = round(ctx.ttft_ms, 3)
    principal = ctx.principal
    if principal is not None:
        attributes["steward.key_id"] = principal.key_id
        if principal.team_id is not None:
            attributes["steward.team_id"] = principal.team_id
        if principal.app_id is not None:
            attributes["steward.app_id"] = principal.app_id


def _answer(result: Result | None, trace: RequestTrace) -> JSONObject | None:
    if isinstance(result, ChatStream):
        facts = trace.facts(result)
        return facts.summary() if facts.head is not None else None
    return result.body if result is not None else None


def _content(result: Result | None, trace: RequestTrace) -> JSONObject | None:
    if isinstance(result, ChatStream):
        assembler = trace.facts(result).assembler
        return assembler.completion() if assembler is not None else None
    if result is None or result.body.get("object") != "chat.completion":
        return None
    return result.body


def _usage(result: Result | None) -> TokenUsage | None:
    if result is None or isinstance(result, ChatStream):
        return result.usage if result is not None else None
    return usage_from_openai(result.body.get("usage"))


def _describe(error: BaseException) -> str:
    message = error.message if isinstance(error, StewardError) else type(error).__name__
    return message[:500]
