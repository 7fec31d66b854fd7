"""OTLP/HTTP span export for the gateway: SDK `ReadableSpan`s to protobuf, POSTed in batches.

A `SpanExporter` like the SDK's `OTLPSpanExporter`, which the batch processor calls on its own
thread, with a far cheaper encoder (`observe/otlp_encoding.py`).

Sending follows the OTLP/HTTP spec: `application/x-protobuf`, retries on 429, 502, 503, 504
and connection errors with exponential backoff (honouring `Retry-After`) until the export
timeout; other statuses drop the batch. Headers for the collector (an API key, say) come from
`OTEL_EXPORTER_OTLP_TRACES_HEADERS` or `OTEL_EXPORTER_OTLP_HEADERS`, as for any OTel exporter.
"""

from __future__ import annotations

import os
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence

import structlog
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.util.re import parse_env_headers

from steward.observe.otlp_encoding import SpanEncoder

__all__ = ["OTLPExporter"]

log = structlog.get_logger("steward.tracing")

_RETRYABLE = frozenset({429, 502, 503, 504})
_LOG_EVERY_S = 60.0


class OTLPExporter(SpanExporter):
    """POSTs each batch to the collector's `/v1/traces`; never raises into the processor."""

    def __init__(
        self, endpoint: str, *, timeout_s: float, headers: Mapping[str, str] | None = None
    ) -> None:
        self._endpoint = endpoint
        self._timeout_s = timeout_s
        self._headers = {
            **_env_headers(),
            **(headers or {}),
            "Content-Type": "application/x-protobuf",
        }
        self._encoder = SpanEncoder()
        self._stopped = threading.Event()
        self._last_logged = 0.0
        self._failures = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._stopped.is_set():
            return SpanExportResult.FAILURE
        try:
            body = self._encoder.encode(spans)
        except Exception:
            log.exception("tracing.encode_failed", spans=len(spans))
            return SpanExportResult.FAILURE
        error = self._send(body)
        if error is None:
            return SpanExportResult.SUCCESS
        self._failed(error, len(spans))
        return SpanExportResult.FAILURE

    def _send(self, body: bytes) -> str | None:
        """None once the collector took the batch, else why it did not."""
        deadline = time.monotonic() + self._timeout_s
        delay_s = 0.5
        while True:
            left = deadline - time.monotonic()
            status, retry_after = self._post(body, max(left, 0.1))
            if status is not None and 200 <= status < 300:
                return None
            if status is not None and status not in _RETRYABLE:
                return f"the collector answered {status}"
            wait = retry_after if retry_after is not None else delay_s * random.uniform(0.5, 1.0)
            if wait >= deadline - time.monotonic() or self._stopped.wait(wait):
                return f"the collector answered {status}" if status else "it is unreachable"
            delay_s *= 2

    def _post(self, body: bytes, timeout_s: float) -> tuple[int | None, float | None]:
        request = urllib.request.Request(self._endpoint, body, self._headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                response.read()
                return int(response.status), None
        except urllib.error.HTTPError as exc:
            return exc.code, _seconds(exc.headers.get("retry-after"))
        except (OSError, ValueError):
            return None, None

    def _failed(self, reason: str, spans: int) -> None:
        """Logged at most once a minute, with the number of batches dropped meanwhile."""
        self._failures += 1
        now = time.monotonic()
        if now - self._last_logged >= _LOG_EVERY_S:
            log.warning(
                "tracing.export_failed",
                endpoint=self._endpoint,
                reason=reason,
                spans=spans,
                batches_dropped=self._failures,
            )
            self._last_logged = now
            self._failures = 0

    def shutdown(self) -> None:
        self._stopped.set()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _env_headers() -> dict[str, str]:
    raw = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or os.environ.get(
        "OTEL_EXPORTER_OTLP_HEADERS", ""
    )
    return dict(parse_env_headers(raw, liberal=True)) if raw else {}


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
