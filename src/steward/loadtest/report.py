"""The load test report: rates, exact latency percentiles, errors, tokens and cost, per window.

Two windows: `overall` (from the first send to the end of sending) and `steady` (after the
ramp). A request belongs to the window it was sent in (open loop: when it was due); throughput
counts the answers that arrived within the window. Percentiles are exact over every sample,
linearly interpolated between the two nearest (NumPy's default method).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np

from steward.loadtest.plan import LoadPlan
from steward.loadtest.samples import RunResult, Sample

__all__ = [
    "LATE_MS",
    "Cost",
    "Distribution",
    "LoadReport",
    "Tokens",
    "Window",
    "build_report",
    "cost_per_1k_requests",
    "distribution",
    "monthly_cost",
    "window",
]

LATE_MS = 10.0
"""An open-loop request sent more than this after its due time counts as late."""


@dataclass(frozen=True, slots=True)
class Distribution:
    n: int
    mean: float
    min: float
    p50: float
    p95: float
    p99: float
    max: float


@dataclass(frozen=True, slots=True)
class Tokens:
    """Usage of the successful requests; `without_usage` successes reported none."""

    input: int
    output: int
    input_per_request: float | None
    output_per_request: float | None
    without_usage: int


@dataclass(frozen=True, slots=True)
class Cost:
    """`source`: `gateway` (the cost header), `estimated` (tokens at the config's prices), `mixed`, or None
    when no success was priced, and then every figure is None too."""

    source: str | None
    priced: int
    unpriced: int
    total_usd: float | None
    per_request_usd: float | None
    per_1k_requests_usd: float | None
    monthly_usd: float | None
    monthly_requests: int


@dataclass(frozen=True, slots=True)
class Window:
    """One measuring window; open-loop-only figures are None for a closed loop."""

    start_s: float
    end_s: float
    requests: int
    ok: int
    errors: int
    error_rate: float | None
    errors_by_status: dict[int, int]
    error_examples: dict[int, str]
    offered_rps: float | None
    sent_rps: float
    throughput_rps: float
    ok_rps: float
    dropped: int | None
    late: int | None
    send_lag_ms: Distribution | None
    latency_ms: Distribution | None
    ttft_ms: Distribution | None
    tokens: Tokens
    cost: Cost

    @property
    def length_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class LoadReport:
    model: str
    base_url: str
    plan: LoadPlan
    stream: bool
    started_at: datetime
    elapsed_s: float
    interrupted: bool
    unfinished: int
    overall: Window | None
    steady: Window | None

    def to_json(self) -> dict[str, Any]:
        plan = asdict(self.plan)
        return {
            "model": self.model,
            "base_url": self.base_url,
            "mode": self.plan.mode,
            **plan,
            "stream": self.stream,
            "started_at": self.started_at.isoformat(),
            "elapsed_s": round(self.elapsed_s, 3),
            "interrupted": self.interrupted,
            "unfinished": self.unfinished,
            "steady": None if self.steady is None else _window_json(self.steady),
            "overall": None if self.overall is None else _window_json(self.overall),
        }


def distribution(values: Sequence[float]) -> Distribution | None:
    """Count, mean, extremes and exact p50/p95/p99 of `values`; None when there are none."""
    if not values:
        return None
    array = np.asarray(values, dtype=np.float64)
    p50, p95, p99 = (float(v) for v in np.percentile(array, [50, 95, 99]))
    return Distribution(
        n=int(array.size),
        mean=float(array.mean()),
        min=float(array.min()),
        p50=p50,
        p95=p95,
        p99=p99,
        max=float(array.max()),
    )


def cost_per_1k_requests(mean_cost_usd: float, ok: int, requests: int) -> float:
    """1,000 requests at this run's success share: a failed request is counted as free."""
    return 1000.0 * mean_cost_usd * ok / requests if requests else 0.0


def monthly_cost(per_1k_requests_usd: float, monthly_requests: int) -> float:
    return per_1k_requests_usd * monthly_requests / 1000.0


def build_report(
    result: RunResult, *, model: str, base_url: str, stream: bool, monthly_requests: int
) -> LoadReport:
    plan, end_s = result.plan, result.sending_ended_s
    overall = window(result, 0.0, end_s, monthly_requests) if end_s > 0 else None
    steady = None
    if end_s > plan.ramp_s:
        steady = window(result, plan.ramp_s, end_s, monthly_requests)
    return LoadReport(
        model=model,
        base_url=base_url,
        plan=plan,
        stream=stream,
        started_at=result.started_at,
        elapsed_s=result.elapsed_s,
        interrupted=result.interrupted,
        unfinished=result.unfinished,
        overall=overall,
        steady=steady,
    )


def window(result: RunResult, start_s: float, end_s: float, monthly_requests: int) -> Window:
    """The figures of the requests sent (open loop: due) in [start_s, end_s)."""
    length = end_s - start_s
    if length <= 0:
        raise ValueError("a window must last more than 0 seconds")
    samples = [s for s in result.samples if start_s <= _key(s) < end_s]
    good = [s for s in samples if s.outcome.ok]
    answered = [s for s in result.samples if start_s <= s.done_s <= end_s]
    failed = Counter(s.outcome.status for s in samples if not s.outcome.ok)
    errors = len(samples) - len(good)
    lags = [lag for s in samples if (lag := s.lag_ms) is not None]
    dropped: int | None = None
    if result.plan.mode == "open":
        dropped = sum(start_s <= due < end_s for due in result.refused_s)
    return Window(
        start_s=start_s,
        end_s=end_s,
        requests=len(samples),
        ok=len(good),
        errors=errors,
        error_rate=errors / len(samples) if samples else None,
        errors_by_status=dict(sorted(failed.items())),
        error_examples=_examples(samples),
        offered_rps=None if dropped is None else (len(samples) + dropped) / length,
        sent_rps=len(samples) / length,
        throughput_rps=len(answered) / length,
        ok_rps=sum(s.outcome.ok for s in answered) / length,
        dropped=dropped,
        late=None if dropped is None else sum(lag > LATE_MS for lag in lags),
        send_lag_ms=distribution(lags),
        latency_ms=distribution([s.outcome.latency_ms for s in good]),
        ttft_ms=distribution([t for s in good if (t := s.outcome.ttft_ms) is not None]),
        tokens=_tokens(good),
        cost=_cost(good, len(samples), monthly_requests),
    )


def _key(sample: Sample) -> float:
    return sample.sent_s if sample.due_s is None else sample.due_s


def _examples(samples: Sequence[Sample]) -> dict[int, str]:
    examples: dict[int, str] = {}
    for s in samples:
        if not s.outcome.ok and s.outcome.status not in examples:
            examples[s.outcome.status] = s.outcome.message or "no message"
    return dict(sorted(examples.items()))


def _tokens(good: Sequence[Sample]) -> Tokens:
    with_usage = [
        s.outcome
        for s in good
        if s.outcome.input_tokens is not None and s.outcome.output_tokens is not None
    ]
    input_tokens = sum(o.input_tokens or 0 for o in with_usage)
    output_tokens = sum(o.output_tokens or 0 for o in with_usage)
    count = len(with_usage)
    return Tokens(
        input=input_tokens,
        output=output_tokens,
        input_per_request=input_tokens / count if count else None,
        output_per_request=output_tokens / count if count else None,
        without_usage=len(good) - count,
    )


def _cost(good: Sequence[Sample], requests: int, monthly_requests: int) -> Cost:
    """A success without a price is assumed to cost the mean of those with one."""
    priced = [s.outcome for s in good if s.outcome.cost_usd is not None]
    if not priced:
        return Cost(None, 0, len(good), None, None, None, None, monthly_requests)
    sources = {o.cost_source for o in priced}
    source = sources.pop() if len(sources) == 1 else "mixed"
    total = sum(o.cost_usd or 0.0 for o in priced)
    mean = total / len(priced)
    per_1k = cost_per_1k_requests(mean, len(good), requests)
    return Cost(
        source=source,
        priced=len(priced),
        unpriced=len(good) - len(priced),
        total_usd=total,
        per_request_usd=mean,
        per_1k_requests_usd=per_1k,
        monthly_usd=monthly_cost(per_1k, monthly_requests),
        monthly_requests=monthly_requests,
    )


def _window_json(w: Window) -> dict[str, Any]:
    data = asdict(w)
    data["length_s"] = round(w.length_s, 3)
    data["errors_by_status"] = {str(k): v for k, v in w.errors_by_status.items()}
    data["error_examples"] = {str(k): v for k, v in w.error_examples.items()}
    return data
