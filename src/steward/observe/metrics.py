"""Prometheus metrics: counters and histograms fed from request records, rendered for `/metrics`.

Request metrics derive from the `RequestRecord` alone: `MeteredSink` wraps the record sink and
counts each record as it passes, so no stage knows about metrics. Gauges that describe the
runtime (breakers, budgets, the record writer, keys) are read at scrape time by
`observe/gauges.py: RuntimeGauges`, registered on the same registry. Each `Metrics` owns its
`CollectorRegistry`; the process-wide default registry is never used.

Labels come only from config and code, never from callers: a model name that is not configured
becomes `unknown` (the caller chooses it), an absent value `none`. No key id, user or request id
is ever a label. Per record the children are found with one dict lookup keyed by the record's
raw values, and each distinct combination is bound once (`_Series`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import orjson
import structlog
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from steward.observe.families import Count, CounterFamily, HistogramFamily, Observations
from steward.payloads.capture import PayloadDraft
from steward.storage.records import RequestRecord

__all__ = [
    "CONFIDENCE_BUCKETS",
    "CONTENT_TYPE",
    "GUARD_BUCKETS_S",
    "LATENCY_BUCKETS_S",
    "NONE",
    "TTFT_BUCKETS_S",
    "UNKNOWN",
    "MeteredSink",
    "Metrics",
]

log = structlog.get_logger("steward.metrics")

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""The classic text format, which every Prometheus (2.x included) and agent reads."""

LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
"""Whole requests: from a cache hit (milliseconds) to a long generation (minutes)."""
TTFT_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
"""Time to first token of a stream: finer below a second, where interactive use lives."""
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
"""The output guards' confidence score, in [0, 1]."""

GUARD_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
"""One guard on one call: pattern guards take a few milliseconds at most, an embedding tens."""

NONE = "none"
UNKNOWN = "unknown"
_REFUSALS = {"rate_limit_error": "rate_limit", "insufficient_quota": "budget"}

_Key = tuple[str, str, int, bool, str | None, str | None, str | None, str | None]
"""(model, endpoint, status, stream, cache, target, team, error_type) as on the record."""


class RecordSink(Protocol):
    def submit(self, record: RequestRecord, payload: PayloadDraft | None = None) -> None: ...


@dataclass(frozen=True, slots=True)
class _Series:
    """The children one combination of record values touches, bound once."""

    requests: Count
    duration: Observations
    ttft: Observations | None
    input_tokens: Count
    output_tokens: Count
    cost: Count
    attempts: Count
    retries: Count
    fallbacks: Count
    error: Count | None
    refusal: Count | None
    cache: Count | None


class Metrics(Collector):
    """The request metrics and the registry they, and the scrape-time gauges, are exposed on."""

    def __init__(self, models: Iterable[str], targets: Iterable[str]) -> None:
        self._models = frozenset(models)
        self._targets = frozenset(targets)
        self._series: dict[_Key, _Series] = {}
        model_endpoint = ("model", "endpoint")
        self._requests = CounterFamily(
            "steward_requests",
            "Requests answered, by public model, endpoint, status class and cache outcome.",
            ("model", "endpoint", "status_class", "cache"),
        )
        self._errors = CounterFamily(
            "steward_request_errors",
            "Requests that ended in an error, by error type.",
            (*model_endpoint, "error_type"),
        )
        self._duration = HistogramFamily(
            "steward_request_duration_seconds",
            "Whole-request latency, to the last byte of a stream.",
            model_endpoint,
            LATENCY_BUCKETS_S,
        )
        self._ttft = HistogramFamily(
            "steward_time_to_first_token_seconds",
            "Streams: time from the request to the first chunk.",
            model_endpoint,
            TTFT_BUCKETS_S,
        )
        model_target = ("model", "target")
        self._input_tokens = CounterFamily(
            "steward_input_tokens", "Input tokens reported by upstreams.", model_target
        )
        self._output_tokens = CounterFamily(
            "steward_output_tokens", "Output tokens reported by upstreams.", model_target
        )
        self._cost = CounterFamily(
            "steward_cost_usd",
            "Cost of the calls in USD, from usage and the price table.",
            (*model_target, "team"),
        )
        self._attempts = CounterFamily(
            "steward_upstream_attempts", "Upstream attempts made by the fallback loop.", ("model",)
        )
        self._retries = CounterFamily(
            "steward_retries",
            "Attempts beyond a request's first: retries of a target and moves to the next one.",
            ("model",),
        )
        self._fallbacks = CounterFamily(
            "steward_fallbacks", "Requests that took more than one upstream attempt.", ("model",)
        )
        self._refusals = CounterFamily(
            "steward_limit_refusals",
            "Requests refused by Steward's own rate limits (rate_limit) or budgets (budget).",
            ("model", "team", "kind"),
        )
        self._cache = CounterFamily(
            "steward_cache_lookups",
            "Response cache outcomes of models with a cache: hit, semantic, miss, bypass, skip.",
            ("model", "outcome"),
        )
        self._confidence, self._escalations = _output_guard_families()
        self._families = (
            self._requests,
            self._errors,
            self._duration,
            self._ttft,
            self._input_tokens,
            self._output_tokens,
            self._cost,
            self._attempts,
            self._retries,
            self._fallbacks,
            self._refusals,
            self._cache,
            self._confidence,
            self._escalations,
            *self._guard_families,
        )
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def register(self, collector: Collector) -> None:
        """Add a scrape-time collector (`observe/gauges.py`) to this registry."""
        self.registry.register(collector)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        for family in self._families:
            yield family.collect()

    def observe(self, record: RequestRecord) -> None:
        """Count one record: a set lookup, a dict lookup, then additions."""
        model = record.public_model
        if model not in self._models:
            model = UNKNOWN if model is not None else NONE
        key = (
            model,
            record.endpoint,
            record.status,
            record.stream,
            record.cache,
            record.target,
            record.team_id,
            record.error_type,
        )
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = self._bind(key)
        series.requests.value += 1
        series.duration.observe(record.latency_ms / 1000.0)
        if series.ttft is not None and record.ttft_ms is not None:
            series.ttft.observe(record.ttft_ms / 1000.0)
        if record.input_tokens:
            series.input_tokens.value += record.input_tokens
        if record.output_tokens:
            series.output_tokens.value += record.output_tokens
        if record.cost_usd:
            series.cost.value += record.cost_usd
        count = record.attempt_count
        if count:
            series.attempts.value += count
            if count > 1:
                series.retries.value += count - 1
                series.fallbacks.value += 1
        if series.error is not None:
            series.error.value += 1
            if series.refusal is not None:
                series.refusal.value += 1
        if series.cache is not None:
            series.cache.value += 1
        if record.confidence is not None:  # only models with output guards
            self._confidence.child(key[0]).observe(record.confidence)
            if record.escalated:
                self._escalations.child(key[0]).value += 1
        if record.guards:  # only models with guards
            self._observe_guards(key[0], record.guards)

    @cached_property
    def _guard_families(self) -> tuple[CounterFamily, HistogramFamily]:
        return _new_guard_families()

    def _observe_guards(self, model: str, guards: str) -> None:
        """The record's guard decisions (`guards/base.py: decisions_json`); names come from code."""
        decisions, latency = self._guard_families
        for decision in orjson.loads(guards):
            guard = str(decision.get("guard"))
            decisions.child(model, guard, str(decision.get("action"))).value += 1
            latency_ms = decision.get("latency_ms")
            if isinstance(latency_ms, int | float):
                latency.child(model, guard).observe(latency_ms / 1000.0)

    def _bind(self, key: _Key) -> _Series:
        model, endpoint, status, stream, cache, target, team, error_type = key
        if target is not None and target not in self._targets:
            target = UNKNOWN
        target = target or NONE
        team = team or NONE
        error = refusal = None
        if error_type is not None:
            error = self._errors.child(model, endpoint, error_type)
            kind = _REFUSALS.get(error_type)
            refusal = self._refusals.child(model, team, kind) if kind else None
        return _Series(
            requests=self._requests.child(model, endpoint, f"{status // 100}xx", cache or NONE),
            duration=self._duration.child(model, endpoint),
            ttft=self._ttft.child(model, endpoint) if stream else None,
            input_tokens=self._input_tokens.child(model, target),
            output_tokens=self._output_tokens.child(model, target),
            cost=self._cost.child(model, target, team),
            attempts=self._attempts.child(model),
            retries=self._retries.child(model),
            fallbacks=self._fallbacks.child(model),
            error=error,
            refusal=refusal,
            cache=self._cache.child(model, cache) if cache else None,
        )


def _output_guard_families() -> tuple[HistogramFamily, CounterFamily]:
    """Per model: the confidence of answers the output guards scored, and escalations."""
    confidence = HistogramFamily(
        "steward_output_confidence",
        "Confidence of answers scored by output guards.",
        ("model",),
        CONFIDENCE_BUCKETS,
    )
    escalations = CounterFamily(
        "steward_escalations", "Calls escalated for human review.", ("model",)
    )
    return confidence, escalations


def _new_guard_families() -> tuple[CounterFamily, HistogramFamily]:
    """Per model and guard: decisions by action, and the time each guard took."""
    decisions = CounterFamily(
        "steward_guard_decisions",
        "Guard decisions, by public model, guard and action (allow, flag, block, strip, mask...).",
        ("model", "guard", "action"),
    )
    latency = HistogramFamily(
        "steward_guard_latency_seconds",
        "Time one guard took on one call.",
        ("model", "guard"),
        GUARD_BUCKETS_S,
    )
    return decisions, latency


class MeteredSink:
    """A record sink that hands each record to `inner` and counts it in `metrics`."""

    def __init__(self, inner: RecordSink, metrics: Metrics) -> None:
        self._inner = inner
        self._observe = metrics.observe

    def submit(self, record: RequestRecord, payload: PayloadDraft | None = None) -> None:
        self._inner.submit(record, payload)  # first: the record is safe whatever counting does
        try:
            self._observe(record)
        except Exception:  # a metrics bug must never fail a request
            log.exception("metrics.observe_failed", request_id=record.id)
