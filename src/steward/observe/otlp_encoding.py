"""OTLP trace protobuf, written by hand: `ReadableSpan`s to `ExportTraceServiceRequest` bytes.

The SDK's `encode_spans` builds a protobuf object per span, attribute and value from Python
lists (and hashes the resource, as JSON, once per span): 36-65 µs of CPU per span on our 2-CPU
VM, more than the gateway spends making the span. This writes the wire format directly, and
keeps the bytes of every attribute (key and value) it has written before, since most repeat from
call to call (operation, provider, model, target, status): 7-10 µs per span
(docs/performance.md, "Tracing overhead"). tests/unit/test_otlp.py decodes its output with
`opentelemetry-proto` and compares it with the SDK encoder's.

Field numbers are those of opentelemetry/proto/trace/v1/trace.proto and common/v1/common.proto.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, StatusCode

__all__ = ["SpanEncoder"]

_FIXED64 = struct.Struct("<Q").pack
_FIXED32 = struct.Struct("<I").pack
_DOUBLE = struct.Struct("<d").pack
_SMALL = [bytes([n]) for n in range(128)]
_INT64 = (1 << 64) - 1
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200
_KINDS = {kind: b"\x30" + _SMALL[kind.value + 1] for kind in SpanKind}
"""The kind field: the SDK's INTERNAL is 0, OTLP's is 1 (0 means unspecified)."""
_MAX_KEPT = 4096
"""Attribute encodings kept; past this the memo starts again (unique values churn it)."""


def _varint(n: int) -> bytes:
    if n < 0x80:
        return _SMALL[n]
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _delimited(tag: bytes, payload: bytes) -> bytes:
    return tag + _varint(len(payload)) + payload


def _text(tag: bytes, text: str) -> bytes:
    return _delimited(tag, text.encode())


def _value(value: Any) -> bytes:
    """An `AnyValue`'s fields."""
    if isinstance(value, str):
        return _text(b"\x0a", value)
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        return b"\x18" + _varint(value & _INT64)
    if isinstance(value, float):
        return b"\x21" + _DOUBLE(value)
    if isinstance(value, bytes):
        return _delimited(b"\x3a", value)
    if isinstance(value, Sequence):
        return _delimited(b"\x2a", b"".join(_delimited(b"\x0a", _value(v)) for v in value))
    return _text(b"\x0a", str(value))


def _flags(context: SpanContext | None) -> bytes:
    """Whether the parent (or linked) context is remote, and that this is known."""
    remote = context is not None and context.is_remote
    return _FIXED32(_HAS_IS_REMOTE | (_IS_REMOTE if remote else 0))


class SpanEncoder:
    """Encodes batches of spans; one per exporter (its memo is not shared)."""

    def __init__(self) -> None:
        self._pairs: dict[tuple[str, type, Any], bytes] = {}
        self._heads: dict[tuple[int, int], tuple[Resource, object, bytes, bytes]] = {}

    def encode(self, spans: Sequence[ReadableSpan]) -> bytes:
        """The serialised request: spans grouped by resource, then by instrumentation scope."""
        groups: dict[int, tuple[bytes, dict[bytes, list[bytes]]]] = {}
        for span in spans:
            resource_head, scope_head = self._head(span.resource, span.instrumentation_scope)
            scopes = groups.setdefault(id(span.resource), (resource_head, {}))[1]
            scopes.setdefault(scope_head, []).append(_delimited(b"\x12", self._span(span)))
        out = []
        for resource_head, scopes in groups.values():
            scope_spans = b"".join(
                _delimited(b"\x12", head + b"".join(encoded)) for head, encoded in scopes.items()
            )
            out.append(_delimited(b"\x0a", resource_head + scope_spans))
        return b"".join(out)

    def _head(self, resource: Resource, scope: InstrumentationScope | None) -> tuple[bytes, bytes]:
        """The encoded resource (with its schema URL) and scope, kept per pair of objects."""
        key = (id(resource), id(scope))
        kept = self._heads.get(key)
        if kept is not None and kept[0] is resource and kept[1] is scope:
            return kept[2], kept[3]
        resource_head = _delimited(b"\x0a", self._attributes(b"\x0a", resource.attributes))
        if resource.schema_url:
            resource_head += _text(b"\x1a", resource.schema_url)  # after scope_spans is valid too
        scope_head = b""
        if scope is not None:
            fields = _text(b"\x0a", scope.name) + (
                _text(b"\x12", scope.version) if scope.version else b""
            )
            scope_head = _delimited(b"\x0a", fields)
            if scope.schema_url:
                scope_head += _text(b"\x1a", scope.schema_url)
        self._heads[key] = (resource, scope, resource_head, scope_head)
        return resource_head, scope_head

    def _span(self, span: ReadableSpan) -> bytes:
        # Each property of a ReadableSpan is read once: some copy (attributes, events, links).
        context = span.context
        assert context is not None
        parent = span.parent
        parts = [
            b"\x0a\x10",
            context.trace_id.to_bytes(16, "big"),
            b"\x12\x08",
            context.span_id.to_bytes(8, "big"),
        ]
        if context.trace_state:
            parts.append(_text(b"\x1a", context.trace_state.to_header()))
        if parent is not None:
            parts += (b"\x22\x08", parent.span_id.to_bytes(8, "big"))
        parts += (
            _text(b"\x2a", span.name),
            _KINDS[span.kind],
            b"\x39",
            _FIXED64(span.start_time or 0),
            b"\x41",
            _FIXED64(span.end_time or 0),
        )
        attributes = span.attributes
        if attributes:
            parts.append(self._attributes(b"\x4a", attributes))
        for event in span.events:
            fields = b"\x09" + _FIXED64(event.timestamp) + _text(b"\x12", event.name)
            if event.attributes:
                fields += self._attributes(b"\x1a", event.attributes)
            parts.append(_delimited(b"\x5a", fields))
        for link in span.links:
            linked = link.context
            fields = b"\x0a\x10" + linked.trace_id.to_bytes(16, "big")
            fields += b"\x12\x08" + linked.span_id.to_bytes(8, "big")
            if link.attributes:
                fields += self._attributes(b"\x22", link.attributes)
            parts.append(_delimited(b"\x6a", fields + b"\x35" + _flags(linked)))
        status = span.status
        if status.status_code is not StatusCode.UNSET:
            fields = _text(b"\x12", status.description) if status.description else b""
            parts.append(_delimited(b"\x7a", fields + b"\x18" + _SMALL[status.status_code.value]))
        parts += (b"\x85\x01", _flags(parent))
        return b"".join(parts)

    def _attributes(self, tag: bytes, attributes: Mapping[str, Any]) -> bytes:
        """Repeated `KeyValue`s under `tag`."""
        pairs = self._pairs
        out = []
        for key, value in attributes.items():
            memo: tuple[str, type, Any] | None = (key, type(value), value)
            try:
                encoded = pairs.get(memo)  # type: ignore[arg-type]
            except TypeError:  # an unhashable value: encode it every time
                memo, encoded = None, None
            if encoded is None:
                encoded = _delimited(b"", _text(b"\x0a", key) + _delimited(b"\x12", _value(value)))
                if memo is not None:
                    if len(pairs) >= _MAX_KEPT:
                        pairs.clear()
                    pairs[memo] = encoded
            out.append(tag + encoded)
        return b"".join(out)
