"""Load test math on hand-made samples: percentiles, windows, cost, schedules, the text report."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from steward.errors import ConfigError
from steward.loadtest import LoadPlan, Outcome, RunResult, Sample, arrival_times, worker_starts
from steward.loadtest.pool import from_jsonl, from_prompt
from steward.loadtest.render import render_text
from steward.loadtest.report import (
    build_report,
    cost_per_1k_requests,
    distribution,
    monthly_cost,
    window,
)

STARTED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def ok(latency_ms: float, cost_usd: float | None = None, source: str = "gateway") -> Outcome:
    return Outcome(
        status=200,
        latency_ms=latency_ms,
        input_tokens=10,
        output_tokens=4,
        cost_usd=cost_usd,
        cost_source=None if cost_usd is None else source,  # type: ignore[arg-type]
    )


def failed(status: int, message: str = "boom") -> Outcome:
    return Outcome(status=status, latency_ms=1.0, message=message)


def test_percentiles_are_exact_over_every_sample() -> None:
    d = distribution([float(v) for v in range(100, 0, -1)])  # 1..100, unsorted
    assert d is not None
    assert (d.n, d.min, d.max, d.mean) == (100, 1.0, 100.0, 50.5)
    # Linear interpolation between the nearest ranks: rank q/100 * (n - 1), counted from 0.
    assert d.p50 == pytest.approx(50.5)
    assert d.p95 == pytest.approx(95.05)
    assert d.p99 == pytest.approx(99.01)
    assert distribution([]) is None
    single = distribution([7.0])
    assert single is not None
    assert single.p50 == single.p99 == single.max == 7.0


def test_cost_per_1k_counts_failures_as_free_and_projects_a_month() -> None:
    assert cost_per_1k_requests(0.002, ok=100, requests=100) == pytest.approx(2.0)
    assert cost_per_1k_requests(0.002, ok=90, requests=100) == pytest.approx(1.8)
    assert cost_per_1k_requests(0.002, ok=0, requests=0) == 0.0
    assert monthly_cost(1.8, 1_000_000) == pytest.approx(1800.0)
    assert monthly_cost(1.8, 0) == 0.0


def open_run() -> RunResult:
    """10 rps for 1 s: 7 sent (one late, two failures), 3 refused at the in-flight cap."""
    plan = LoadPlan(duration_s=1.0, rps=10, arrivals="uniform")
    samples = [
        Sample(ok(10.0, 0.001), due_s=0.0, sent_s=0.0, done_s=0.01),
        Sample(ok(20.0, 0.003), due_s=0.1, sent_s=0.1, done_s=0.12),
        Sample(ok(30.0), due_s=0.2, sent_s=0.2, done_s=0.23),  # no price
        Sample(ok(40.0, 0.002, "estimated"), due_s=0.3, sent_s=0.35, done_s=0.39),  # 50 ms late
        Sample(failed(502, "upstream 500"), due_s=0.4, sent_s=0.4, done_s=0.401),
        Sample(failed(0, "timed out"), due_s=0.5, sent_s=0.5, done_s=1.5),  # answered after
        Sample(ok(50.0, 0.002), due_s=0.9, sent_s=0.9, done_s=0.95),
    ]
    return RunResult(
        plan=plan,
        started_at=STARTED,
        samples=samples,
        refused_s=[0.6, 0.7, 0.8],
        sending_ended_s=1.0,
        elapsed_s=1.5,
    )


def test_open_loop_window() -> None:
    w = window(open_run(), 0.0, 1.0, monthly_requests=1_000_000)
    assert (w.requests, w.ok, w.errors) == (7, 5, 2)
    assert w.error_rate == pytest.approx(2 / 7)
    assert w.errors_by_status == {0: 1, 502: 1}
    assert w.error_examples == {0: "timed out", 502: "upstream 500"}
    assert w.offered_rps == pytest.approx(10.0)  # sent and refused
    assert w.sent_rps == pytest.approx(7.0)
    assert w.throughput_rps == pytest.approx(6.0)  # the timeout was answered after the window
    assert w.ok_rps == pytest.approx(5.0)
    assert (w.dropped, w.late) == (3, 1)
    assert w.send_lag_ms is not None
    assert w.send_lag_ms.max == pytest.approx(50.0)
    assert w.latency_ms is not None
    assert (w.latency_ms.n, w.latency_ms.p50) == (5, 30.0)
    assert w.ttft_ms is None
    assert (w.tokens.input, w.tokens.output) == (50, 20)
    assert (w.tokens.input_per_request, w.tokens.without_usage) == (10.0, 0)


def test_cost_of_a_window() -> None:
    cost = window(open_run(), 0.0, 1.0, monthly_requests=500_000).cost
    assert cost.source == "mixed"
    assert (cost.priced, cost.unpriced) == (4, 1)
    assert cost.total_usd == pytest.approx(0.008)
    assert cost.per_request_usd == pytest.approx(0.002)
    # 5 of 7 requests succeeded at a mean of $0.002; an unpriced success counts at the mean.
    assert cost.per_1k_requests_usd == pytest.approx(1000 * 0.002 * 5 / 7)
    assert cost.monthly_usd == pytest.approx(500 * 0.002 * 5 / 7 * 1000)
    assert cost.monthly_requests == 500_000


def test_cost_is_unknown_without_a_price() -> None:
    result = open_run()
    result.samples = [Sample(ok(5.0), sent_s=0.1, done_s=0.2, due_s=0.1)]
    cost = window(result, 0.0, 1.0, 1_000_000).cost
    assert cost.source is None
    assert cost.per_1k_requests_usd is None
    assert cost.monthly_usd is None
    assert cost.unpriced == 1


def test_steady_state_leaves_the_ramp_out() -> None:
    plan = LoadPlan(duration_s=2.0, ramp_s=1.0, concurrency=2)
    samples = [
        Sample(ok(100.0), sent_s=0.2, done_s=0.3),
        Sample(failed(429), sent_s=0.9, done_s=1.1),
        Sample(ok(10.0), sent_s=1.5, done_s=1.6),
        Sample(ok(20.0), sent_s=2.5, done_s=3.2),
    ]
    result = RunResult(plan, STARTED, samples, sending_ended_s=3.0, elapsed_s=3.2)
    report = build_report(
        result, model="gpt", base_url="http://gw", stream=False, monthly_requests=1
    )
    assert report.overall is not None
    assert report.steady is not None
    assert (report.overall.requests, report.steady.requests) == (4, 2)
    assert report.steady.errors == 0
    assert report.steady.length_s == 2.0
    # Throughput counts answers within the window: the 429 sent in the ramp, not the one at 3.2 s.
    assert report.steady.throughput_rps == pytest.approx(2 / 2)
    assert report.overall.throughput_rps == pytest.approx(3 / 3)
    assert report.overall.offered_rps is None
    assert report.overall.late is None


def test_json_and_text_reports() -> None:
    report = build_report(
        open_run(), model="gpt", base_url="http://gw", stream=False, monthly_requests=250_000
    )
    body = json.loads(json.dumps(report.to_json()))
    assert body["mode"] == "open"
    assert body["rps"] == 10
    assert body["overall"]["errors_by_status"] == {"0": 1, "502": 1}
    assert body["steady"] == body["overall"]  # no ramp: one window
    text = "\n".join(render_text(report))
    assert text.startswith("steward loadtest: model gpt at http://gw")
    assert "open loop at 10 rps (uniform arrivals, at most 1000 in flight), 1 s" in text
    assert "monthly cost at 250,000 requests" in text
    assert "assumes 250,000 requests a month" in text
    assert "HTTP 502, e.g.: upstream 500" in text
    assert "no HTTP answer" in text
    assert "1 unpriced successes counted at the mean" in text


def test_uniform_schedule_with_and_without_ramp() -> None:
    flat = list(arrival_times(LoadPlan(duration_s=2.0, rps=50, arrivals="uniform")))
    assert len(flat) == 100
    assert flat[:3] == pytest.approx([0.0, 0.02, 0.04])
    ramped = list(arrival_times(LoadPlan(duration_s=2.0, ramp_s=2.0, rps=50, arrivals="uniform")))
    assert len(ramped) == 50 + 100  # half the rate on average during the ramp
    during = [t for t in ramped if t < 2.0]
    assert sum(t < 1.0 for t in during) == pytest.approx(len(during) / 4, abs=1)


def test_poisson_schedule_is_seeded_and_near_the_rate() -> None:
    plan = LoadPlan(duration_s=20.0, rps=50, seed=7)
    times = list(arrival_times(plan))
    assert times == list(arrival_times(plan))
    assert times == sorted(times)
    assert abs(len(times) - 1000) < 4 * 1000**0.5  # four standard deviations
    assert all(0 < t < 20 for t in times)


def test_workers_start_evenly_over_the_ramp() -> None:
    assert worker_starts(LoadPlan(duration_s=1, ramp_s=2, concurrency=4)) == [0.0, 0.5, 1.0, 1.5]
    assert worker_starts(LoadPlan(duration_s=1, concurrency=3)) == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rps": 5, "concurrency": 2}, "exactly one"),
        ({}, "exactly one"),
        ({"rps": 0}, "--rps"),
        ({"concurrency": 1, "ramp_s": -1}, "--ramp"),
        ({"concurrency": 1, "duration_s": 0}, "--duration"),
    ],
)
def test_plans_are_checked(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LoadPlan(**{"duration_s": 1.0, **kwargs})  # type: ignore[arg-type]


def test_request_pools(tmp_path: Path) -> None:
    assert from_prompt("gpt", "hi", max_tokens=8) == [
        {"model": "gpt", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
    ]
    path = tmp_path / "pool.jsonl"
    path.write_text(
        '{"model": "x", "stream": true, "messages": [{"role": "user", "content": "a"}]}\n'
    )
    assert from_jsonl(path, "gpt", max_tokens=None) == [
        {"model": "gpt", "messages": [{"role": "user", "content": "a"}]}
    ]
    path.write_text('[{"role": "user", "content": "a"}]\n{"prompt": "b"}\n')
    with pytest.raises(ConfigError, match=r"pool.jsonl:2: expected an object"):
        from_jsonl(path, "gpt", max_tokens=None)
