"""What each alert metric measures, over a rule's window of request records.

Counts (`requests`, `cost_usd`, `budget_refusals`, `rate_limited`) are always evaluated.
Ratios, means and distributions are not evaluated below the rule's `min_requests`: their value
is None, which never holds (and so resolves a firing alert). `p95_latency_ms` is taken in
Python over the newest 10 000 successful records of the window (`storage/aggregates.py`), the
same on SQLite and PostgreSQL.

A new metric is a name in `config/alerts.py: Metric` and a function in `MEASURES`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TypeAlias

from sqlalchemy.engine import Engine

from steward.config.alerts import AlertRuleConfig, Metric
from steward.storage.aggregates import Window, WindowCounts, sample, window_counts

__all__ = ["MEASURES", "Measure", "Measurement", "WindowReader"]


@dataclass(frozen=True, slots=True)
class Measurement:
    value: float | None
    """None: not evaluated (too little traffic)."""
    requests: int
    detail: str
    """How the value came about, for messages: "12 of 40 requests failed"."""


@dataclass(slots=True)
class WindowReader:
    """Reads for one evaluation pass at `now`; rules with the same window share a count query."""

    engine: Engine
    now: datetime
    _counts: dict[Window, WindowCounts] = field(default_factory=dict)

    def window(self, rule: AlertRuleConfig) -> Window:
        return Window(self.now - timedelta(seconds=rule.window_s), self.now, rule.model)

    def counts(self, rule: AlertRuleConfig) -> WindowCounts:
        window = self.window(rule)
        if window not in self._counts:
            self._counts[window] = window_counts(self.engine, window)
        return self._counts[window]


Measure: TypeAlias = Callable[[WindowReader, AlertRuleConfig], Measurement]


def _too_few(requests: int, rule: AlertRuleConfig) -> Measurement | None:
    if requests >= max(rule.min_requests, 1):
        return None
    return Measurement(
        None, requests, f"only {requests} requests (min_requests {rule.min_requests})"
    )


def _ratio(part: int, whole: int, rule: AlertRuleConfig, what: str) -> Measurement:
    return _too_few(whole, rule) or Measurement(part / whole, whole, f"{part} of {whole} {what}")


def _error_rate(reader: WindowReader, rule: AlertRuleConfig) -> Measurement:
    c = reader.counts(rule)
    return _ratio(c.errors, c.requests, rule, "requests failed with status 500 or more")


def _fallback_rate(reader: WindowReader, rule: AlertRuleConfig) -> Measurement:
    c = reader.counts(rule)
    return _ratio(c.retried, c.requests, rule, "requests needed more than one attempt")


def _guard_block_rate(reader: WindowReader, rule: AlertRuleConfig) -> Measurement:
    c = reader.counts(rule)
    return _ratio(c.guard_blocks, c.requests, rule, "requests were blocked by a guard")


def _mean_confidence(reader: WindowReader, rule: AlertRuleConfig) -> Measurement:
    c = reader.counts(rule)
    too_few = _too_few(c.confident, rule)
    if too_few:
        return too_few
    mean = c.confidence_sum / c.confident
    return Measurement(mean, c.requests, f"mean confidence {mean:.3f} over {c.confident} answers")


def _count(pick: Callable[[WindowCounts], int], what: str) -> Measure:
    def measure(reader: WindowReader, rule: AlertRuleConfig) -> Measurement:
        c = reader.counts(rule)
        return Measurement(float(pick(c)), c.requests, f"{pick(c)} {what}")

    return measure


def _cost(reader: WindowReader, rule: AlertRuleConfig) -> Measurement:
    c = reader.counts(rule)
    return Measurement(c.cost_usd, c.requests, f"${c.cost_usd:.4f} over {c.requests} requests")


def _mean_cost(reader: WindowReader, rule: AlertRuleConfig) -> Measurement:
    c = reader.counts(rule)
    too_few = _too_few(c.priced, rule)
    if too_few:
        return too_few
    return Measurement(
        c.cost_usd / c.priced, c.requests, f"${c.cost_usd:.4f} over {c.priced} priced requests"
    )


def _p95_latency(reader: WindowReader, rule: AlertRuleConfig) -> Measurement:
    from steward.observe.stats import summarise

    latencies = sample(reader.engine, reader.window(rule), "latency_ms")
    too_few = _too_few(len(latencies), rule)
    if too_few:
        return too_few
    p95 = summarise(latencies).p95
    return Measurement(p95, len(latencies), f"p95 of {len(latencies)} successful requests")


def _drift(reader: WindowReader, rule: AlertRuleConfig) -> Measurement:
    from steward.observe.drift import drift_report

    assert rule.model is not None, "the schema requires a model for drift rules"
    report = drift_report(
        reader.engine,
        rule.model,
        now=reader.now,
        current_s=rule.window_s,
        baseline_s=rule.baseline_s,
    )
    floor = max(rule.min_requests, 1)
    if rule.drift_statistic == "ks":
        value, what = report.max_ks_statistic(floor), "largest KS statistic"
    else:
        value, what = report.min_p_value(floor), "smallest p-value"
    if value is None:
        return Measurement(
            None,
            report.current_requests,
            f"fewer than {floor} token counts in the current or the baseline window",
        )
    detail = f"{what} of token lengths, {report.current_requests} requests against {report.baseline_requests}"
    return Measurement(value, report.current_requests, detail)


MEASURES: Mapping[Metric, Measure] = MappingProxyType(
    {
        "error_rate": _error_rate,
        "p95_latency_ms": _p95_latency,
        "fallback_rate": _fallback_rate,
        "cost_usd": _cost,
        "requests": _count(lambda c: c.requests, "requests"),
        "budget_refusals": _count(lambda c: c.budget_refusals, "refused by a budget"),
        "rate_limited": _count(lambda c: c.rate_limited, "refused by a rate limit"),
        "mean_cost_per_request": _mean_cost,
        "drift": _drift,
        "guard_block_rate": _guard_block_rate,
        "escalations": _count(lambda c: c.escalated, "escalated for review"),
        "mean_confidence": _mean_confidence,
    }
)
