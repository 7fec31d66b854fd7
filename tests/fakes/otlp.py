"""A real OTLP/HTTP trace receiver on loopback: decodes `ExportTraceServiceRequest` protobufs.

    with OTLPReceiver() as otlp:
        ...  # point [tracing] otlp_endpoint at otlp.endpoint
        spans = otlp.wait_for(lambda spans: len(spans) >= 3)

Spans are flattened into `ReceivedSpan`s: ids as hex, attributes and event attributes decoded
from `AnyValue` into plain Python values, the resource's attributes alongside.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

KINDS = {value: name.removeprefix("SPAN_KIND_").lower() for name, value in Span.SpanKind.items()}


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_id: str | None
    kind: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]]
    status: str
    """`unset`, `ok` or `error`."""
    status_message: str
    trace_state: str
    resource: dict[str, Any] = field(repr=False)
    scope: str = ""


def decode_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return tuple(decode_value(v) for v in value.array_value.values)
    if kind == "kvlist_value":
        return decode_attributes(value.kvlist_value.values)
    return getattr(value, kind) if kind else None


def decode_attributes(pairs: Iterator[KeyValue] | Any) -> dict[str, Any]:
    return {pair.key: decode_value(pair.value) for pair in pairs}


def decode(body: bytes) -> list[ReceivedSpan]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        resource = decode_attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex() or None,
                        kind=KINDS[span.kind],
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        attributes=decode_attributes(span.attributes),
                        events=[(e.name, decode_attributes(e.attributes)) for e in span.events],
                        status=("unset", "ok", "error")[span.status.code],
                        status_message=span.status.message,
                        trace_state=span.trace_state,
                        resource=resource,
                        scope=scope_spans.scope.name,
                    )
                )
    return spans


class OTLPReceiver:
    """Collects every span POSTed to `/v1/traces`; other paths answer 404. `refuse(503)`
    answers the next POST with that status instead (and drops its spans)."""

    def __init__(self) -> None:
        self._spans: list[ReceivedSpan] = []
        self._cond = threading.Condition()
        self._refusals: deque[int] = deque()
        self.requests = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.path != "/v1/traces":
                    self.send_error(404)
                    return
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                refusal = receiver._receive(decode(body))
                if refusal is not None:
                    self.send_response(refusal)
                    self.send_header("retry-after", "0")
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1/traces"

    def _receive(self, spans: list[ReceivedSpan]) -> int | None:
        with self._cond:
            self.requests += 1
            if self._refusals:
                return self._refusals.popleft()
            self._spans.extend(spans)
            self._cond.notify_all()
            return None

    def refuse(self, *statuses: int) -> None:
        with self._cond:
            self._refusals.extend(statuses)

    @property
    def spans(self) -> list[ReceivedSpan]:
        with self._cond:
            return list(self._spans)

    def clear(self) -> None:
        with self._cond:
            self._spans.clear()
            self._refusals.clear()
            self.requests = 0

    def wait_for(
        self, done: Callable[[list[ReceivedSpan]], bool], timeout_s: float = 10.0
    ) -> list[ReceivedSpan]:
        """Every span so far, once `done(spans)` holds; AssertionError after the timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not done(self._spans):
                left = deadline - time.monotonic()
                if left <= 0:
                    names = [s.name for s in self._spans]
                    raise AssertionError(f"spans received so far do not satisfy the wait: {names}")
                self._cond.wait(left)
            return list(self._spans)

    def trace(self, trace_id: str, count: int, timeout_s: float = 10.0) -> list[ReceivedSpan]:
        """The spans of one trace, once at least `count` of them arrived."""
        spans = self.wait_for(
            lambda spans: sum(s.trace_id == trace_id for s in spans) >= count, timeout_s
        )
        return [s for s in spans if s.trace_id == trace_id]

    def start(self) -> OTLPReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> OTLPReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
