"""Request metrics in process: bucket edges, bounded labels, the sink's safety and its cost."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from steward.observe.families import HistogramFamily
from steward.observe.metrics import MeteredSink, Metrics
from steward.storage.records import RequestRecord

RECORD = RequestRecord(
    id="req_1",
    created_at=datetime.now(UTC),
    endpoint="chat",
    status=200,
    latency_ms=250.0,
    config_hash="h",
    key_id="key_1",
    public_model="gpt",
    target="up/gpt-test",
    input_tokens=10,
    output_tokens=5,
    attempt_count=1,
    cost_usd=0.5,
)


class ListSink:
    def __init__(self) -> None:
        self.records: list[RequestRecord] = []

    def submit(self, record: RequestRecord, payload: object = None) -> None:
        self.records.append(record)


def samples(metrics: Metrics) -> list[Any]:
    text = metrics.render().decode()
    return [s for f in text_string_to_metric_families(text) for s in f.samples]


def test_a_value_on_a_bound_is_in_that_bucket_and_above_the_last_in_inf() -> None:
    family = HistogramFamily("h_seconds", "test", ("x",), (0.5, 1.0))
    child = family.child("a")
    for value in (0.5, 0.7, 1.0, 7.0):
        child.observe(value)
    buckets = {
        s.labels["le"]: s.value for s in family.collect().samples if s.name.endswith("_bucket")
    }
    assert buckets == {"0.5": 1, "1.0": 3, "+Inf": 4}
    [count] = [s.value for s in family.collect().samples if s.name == "h_seconds_count"]
    assert count == 4


def test_made_up_model_names_share_one_series() -> None:
    metrics = Metrics(["gpt"], ["up/gpt-test"])
    for i in range(1000):
        metrics.observe(replace(RECORD, public_model=f"guess-{i}", status=404, target=None))
    requests = [s for s in samples(metrics) if s.name == "steward_requests_total"]
    assert [(s.labels["model"], s.value) for s in requests] == [("unknown", 1000)]


def test_a_record_reaches_the_writer_even_when_counting_fails() -> None:
    inner = ListSink()
    sink = MeteredSink(inner, Metrics(["gpt"], ["up/gpt-test"]))
    broken = replace(RECORD, latency_ms=None)  # type: ignore[arg-type]
    sink.submit(broken)
    sink.submit(RECORD)
    assert inner.records == [broken, RECORD]


def test_counting_a_record_stays_cheap() -> None:
    """A guard against binding children per record (tens of µs); bench/metrics_overhead.py
    measures the real figure (about 1-2 µs)."""
    metrics = Metrics(["gpt"], ["up/gpt-test"])
    records = [replace(RECORD, id=str(i), stream=i % 2 == 0, ttft_ms=80.0) for i in range(20_000)]
    started = time.process_time()
    for record in records:
        metrics.observe(record)
    per_record_us = (time.process_time() - started) / len(records) * 1e6
    assert per_record_us < 25, f"{per_record_us:.1f} µs per record"
