"""Tracing for applications that call Steward: their own steps as spans of the same trace.

    import steward.trace

    with steward.trace.span("retrieval", attributes={"k": 5}):
        docs = search(question)
        answer = client.chat.completions.create(
            model="assistant", messages=messages, extra_headers=steward.trace.headers()
        )

`span` opens an OpenTelemetry span, current for the block (or for each call of a function it
decorates), from `tracer=` or else the app's global tracer provider. `headers()` returns the W3C
`traceparent` (and `tracestate`) of the current span: passed to the gateway (`extra_headers`
in the OpenAI and Anthropic SDKs), they make the gateway's request span a child of the app's.
`tracer_provider(endpoint)` builds a provider that exports over OTLP/HTTP, for an app that has
none of its own.

OpenTelemetry is imported on first use, so `import steward.trace` costs nothing.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer
    from opentelemetry.util.types import AttributeValue

__all__ = ["AppSpan", "headers", "span", "tracer_provider"]

P = ParamSpec("P")
R = TypeVar("R")


class AppSpan:
    """A span around a `with` block, or around every call of a decorated function.

    One `AppSpan` serves one `with` at a time; as a decorator it opens a new span per call,
    for plain and `async` functions alike.
    """

    def __init__(
        self,
        name: str,
        attributes: Mapping[str, AttributeValue] | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.name = name
        self.attributes = dict(attributes or {})
        self.tracer = tracer
        self._open: AbstractContextManager[Span] | None = None

    def __enter__(self) -> Span:
        tracer = self.tracer
        if tracer is None:
            from opentelemetry import trace

            tracer = trace.get_tracer("steward.trace")
        self._open = tracer.start_as_current_span(self.name, attributes=self.attributes)
        return self._open.__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        opened, self._open = self._open, None
        if opened is not None:
            opened.__exit__(exc_type, exc, tb)

    def __call__(self, function: Callable[P, R]) -> Callable[P, R]:
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                with self._fresh():
                    return await function(*args, **kwargs)

            return cast(Callable[P, R], run_async)

        @functools.wraps(function)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            with self._fresh():
                return function(*args, **kwargs)

        return run

    def _fresh(self) -> AppSpan:
        return AppSpan(self.name, self.attributes, self.tracer)


def span(
    name: str,
    *,
    attributes: Mapping[str, AttributeValue] | None = None,
    tracer: Tracer | None = None,
) -> AppSpan:
    """`with span("retrieval"):` or `@span("retrieval")`: one of the app's steps, traced."""
    return AppSpan(name, attributes, tracer)


def headers(context: Context | None = None) -> dict[str, str]:
    """The W3C trace context of the current span (or of `context`), to send to the gateway;
    empty when there is no span to join."""
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier, context=context)
    return carrier


def tracer_provider(
    endpoint: str = "http://127.0.0.1:4318/v1/traces",
    *,
    service_name: str = "app",
    batch_delay_ms: float = 5000.0,
) -> TracerProvider:
    """A provider exporting in batches over OTLP/HTTP to `endpoint`. It is not made global:
    pass `provider.get_tracer(__name__)` as `tracer=`, or call
    `opentelemetry.trace.set_tracer_provider(provider)` once at the app's start."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    exporter = OTLPSpanExporter(endpoint=endpoint)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=batch_delay_ms))
    return provider
