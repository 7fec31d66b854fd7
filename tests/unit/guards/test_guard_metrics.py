"""Guard decisions and latency in /metrics, counted from the record's `guards` column."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from prometheus_client.parser import text_string_to_metric_families

from steward.guards.base import Decision, decisions_json
from steward.observe.metrics import Metrics
from steward.storage.records import RequestRecord

RECORD = RequestRecord(
    id="req_1",
    created_at=datetime.now(UTC),
    endpoint="chat",
    status=400,
    latency_ms=5.0,
    config_hash="h",
    public_model="gpt",
)


def test_decisions_are_counted_by_model_guard_and_action_with_latency() -> None:
    metrics = Metrics(["gpt"], [])
    guards = decisions_json(
        [Decision("limits", "allow", latency_ms=0.2), Decision("injection", "block", 0.9, 3.0)]
    )
    metrics.observe(replace(RECORD, guards=guards))
    metrics.observe(replace(RECORD, id="req_2", guards=guards))
    metrics.observe(replace(RECORD, id="req_3"))  # no guards: nothing counted
    samples = [
        s for f in text_string_to_metric_families(metrics.render().decode()) for s in f.samples
    ]
    counts = {
        (s.labels["guard"], s.labels["action"]): s.value
        for s in samples
        if s.name == "steward_guard_decisions_total"
    }
    assert counts == {("injection", "block"): 2.0, ("limits", "allow"): 2.0}
    [slow] = [
        s.value
        for s in samples
        if s.name == "steward_guard_latency_seconds_bucket"
        and s.labels == {"model": "gpt", "guard": "injection", "le": "0.0025"}
    ]
    [fast] = [
        s.value
        for s in samples
        if s.name == "steward_guard_latency_seconds_bucket"
        and s.labels == {"model": "gpt", "guard": "limits", "le": "0.0005"}
    ]
    assert (slow, fast) == (0.0, 2.0)
