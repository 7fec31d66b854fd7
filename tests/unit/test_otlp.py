"""The gateway's OTLP exporter: its encoder against the SDK's, and sending to a real receiver."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    Link,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)
from tests.fakes.otlp import OTLPReceiver

from steward.observe.otlp import OTLPExporter
from steward.observe.otlp_encoding import SpanEncoder

SAMPLED = TraceFlags(TraceFlags.SAMPLED)
RESOURCE = Resource.create({"service.name": "steward", "service.version": "0.1.0"})
OTHER = Resource.create({"service.name": "other"})
SCOPE = InstrumentationScope("steward", "0.1.0")


def spans() -> list[ReadableSpan]:
    remote = SpanContext(7, 8, True, SAMPLED, TraceState([("vendor", "x")]))
    root = SpanContext(7, 9, False, SAMPLED, TraceState([("vendor", "x")]))
    return [
        ReadableSpan(
            "chat gpt",
            SpanContext(7, 9, False, SAMPLED, TraceState([("vendor", "x")])),
            parent=remote,
            resource=RESOURCE,
            attributes={
                "gen_ai.request.model": "gpt",
                "gen_ai.usage.input_tokens": 12,
                "steward.cost_usd": 0.25,
                "steward.stream": True,
                "gen_ai.response.finish_reasons": ("stop", "length"),
                "negative": -3,
                "off": False,
                "raw": b"\x00\x01",
                "listed": [1, 2],
                "big": 2**40,
            },
            events=[Event("gen_ai.client.inference.operation.details", {"a": "b"}, 5)],
            kind=SpanKind.SERVER,
            status=Status(StatusCode.ERROR, "upstream failed"),
            start_time=1,
            end_time=10,
            instrumentation_scope=SCOPE,
        ),
        ReadableSpan(
            "steward.auth",
            SpanContext(7, 10, False, SAMPLED),
            parent=root,
            resource=RESOURCE,
            links=[Link(SpanContext(3, 4, False, SAMPLED), {"why": "retry"})],
            start_time=2,
            end_time=3,
            instrumentation_scope=SCOPE,
        ),
        ReadableSpan(
            "elsewhere",
            SpanContext(11, 12, False, SAMPLED),
            resource=OTHER,
            kind=SpanKind.CLIENT,
            start_time=4,
            end_time=6,
            instrumentation_scope=InstrumentationScope("app"),
        ),
    ]


def decoded(data: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    request.ParseFromString(data)
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                if not span.status.code and not span.status.message:
                    span.ClearField("status")  # the SDK writes an empty status; absent is the same
    return request


def test_encoding_matches_the_sdk_encoder() -> None:
    batch = spans()
    encoder = SpanEncoder()
    expected = decoded(encode_spans(batch).SerializeToString())
    first = decoded(encoder.encode(batch))
    assert first == expected
    assert decoded(encoder.encode(batch)) == expected  # from the memo of attributes
    assert [len(r.scope_spans[0].spans) for r in first.resource_spans] == [2, 1]


def test_the_attribute_memo_is_bounded() -> None:
    encoder = SpanEncoder()
    for n in range(5000):
        unique = ReadableSpan(
            "s",
            SpanContext(7, n + 1, False, SAMPLED),
            resource=RESOURCE,
            attributes={"steward.request_id": f"r{n}"},
            start_time=1,
            end_time=2,
            instrumentation_scope=SCOPE,
        )
        encoder.encode([unique])
    assert len(encoder._pairs) <= 4096
    assert decoded(encoder.encode(spans())) == decoded(encode_spans(spans()).SerializeToString())


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as otlp:
        yield otlp


def test_a_batch_reaches_the_collector_after_a_retry(receiver: OTLPReceiver) -> None:
    exporter = OTLPExporter(receiver.endpoint, timeout_s=5)
    receiver.refuse(503)
    assert exporter.export(spans()) is SpanExportResult.SUCCESS
    assert receiver.requests == 2
    assert sorted(s.name for s in receiver.spans) == ["chat gpt", "elsewhere", "steward.auth"]


def test_a_refused_or_unreachable_collector_drops_the_batch(receiver: OTLPReceiver) -> None:
    exporter = OTLPExporter(receiver.endpoint, timeout_s=5)
    receiver.refuse(400)
    assert exporter.export(spans()) is SpanExportResult.FAILURE
    assert receiver.requests == 1 and receiver.spans == []
    endpoint = receiver.endpoint
    receiver.stop()
    began = time.monotonic()
    assert OTLPExporter(endpoint, timeout_s=0.3).export(spans()) is SpanExportResult.FAILURE
    assert time.monotonic() - began < 2


def test_a_stopped_exporter_sends_nothing(receiver: OTLPReceiver) -> None:
    exporter = OTLPExporter(receiver.endpoint, timeout_s=5)
    exporter.shutdown()
    assert exporter.export(spans()) is SpanExportResult.FAILURE
    assert receiver.requests == 0
