"""The alert evaluator on SQLite and PostgreSQL: records in, `alerts` rows and webhooks out."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from steward.config.alerts import AlertRuleConfig, AlertsConfig
from steward.observe.alerts import AlertEvaluator, Notifier, Webhook
from steward.storage import database
from steward.storage.alerts import firing_alerts, list_alerts
from steward.storage.records import RequestRecord
from steward.storage.requests import insert_records
from tests.fakes.webhook_receiver import WebhookReceiver

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ERRORS = AlertRuleConfig(
    name="gpt errors",
    metric="error_rate",
    model="gpt",
    window_s=60,
    condition=">",
    threshold=0.5,
    min_requests=5,
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Records:
    """Writes request records at chosen times, with distinct ids."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.count = 0

    def add(self, n: int, when: datetime, **fields: object) -> None:
        values: dict[str, object] = {
            "endpoint": "chat",
            "status": 200,
            "latency_ms": 20.0,
            "config_hash": "0123456789abcdef",
            "public_model": "gpt",
            **fields,
        }
        records = [
            RequestRecord(id=f"r{self.count + i:06d}", created_at=when, **values)  # type: ignore[arg-type]
            for i in range(n)
        ]
        self.count += n
        insert_records(self.engine, records)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


def make_evaluator(
    engine: Engine,
    receiver: WebhookReceiver | None,
    *rules: AlertRuleConfig,
    resolve_messages: bool = True,
) -> AlertEvaluator:
    config = AlertsConfig(rules=rules or (ERRORS,), resolve_messages=resolve_messages)
    notifier = None
    if receiver is not None:
        notifier = Notifier(
            [Webhook(receiver.url("/json")), Webhook(receiver.url("/slack"), "slack")],
            timeout_s=2,
            retries=2,
            backoff_s=0.01,
        )
        notifier.start()
    return AlertEvaluator(engine, config, config_hash="cafe0123cafe0123", notifier=notifier)


def flush(evaluator: AlertEvaluator) -> None:
    assert evaluator.flush(timeout_s=10)


def test_error_rate_fires_once_and_resolves_once(engine: Engine, receiver: WebhookReceiver) -> None:
    records = Records(engine)
    evaluator = make_evaluator(engine, receiver)
    records.add(4, at(-30))
    records.add(6, at(-20), status=502, error_type="upstream_error")
    [status] = evaluator.evaluate(at(0))
    assert status.measurement.value == pytest.approx(0.6)
    assert status.phase == "firing"
    evaluator.evaluate(at(5))  # still holds: no second message
    flush(evaluator)
    [firing] = receiver.bodies("/json")
    assert firing["status"] == "firing"
    assert firing["rule"] == "gpt errors"
    assert firing["value"] == pytest.approx(0.6)
    assert (firing["threshold"], firing["condition"], firing["window_s"]) == (0.5, ">", 60.0)
    assert firing["model"] == "gpt"
    assert firing["started_at"] == at(0).isoformat()
    assert firing["gateway"] == {"config_hash": "cafe0123cafe0123"}
    assert "6 of 10 requests failed" in firing["message"]
    [row] = list_alerts(engine)
    assert (row.state, row.value, row.threshold) == ("firing", pytest.approx(0.6), 0.5)
    assert row.labels["metric"] == "error_rate"

    records.add(20, at(10))  # 6 of 30 failed: 0.2
    [status] = evaluator.evaluate(at(15))
    assert status.phase == "ok"
    evaluator.evaluate(at(20))
    flush(evaluator)
    assert [b["status"] for b in receiver.bodies("/json")] == ["firing", "resolved"]
    resolved = receiver.bodies("/json")[1]
    assert resolved["resolved_at"] == at(15).isoformat()
    assert resolved["started_at"] == at(0).isoformat()
    assert resolved["value"] == pytest.approx(0.2)
    slack = receiver.bodies("/slack")
    assert [b["text"].split("]")[0] for b in slack] == [
        ":rotating_light: [FIRING",
        ":white_check_mark: [RESOLVED",
    ]
    [row] = list_alerts(engine)
    assert row.state == "resolved"
    assert row.resolved_at == at(15)
    assert "no longer >" in row.message
    assert firing_alerts(engine) == {}
    evaluator.stop()


def test_for_s_keeps_the_rule_pending(engine: Engine) -> None:
    records = Records(engine)
    rule = AlertRuleConfig(
        name="slow", metric="p95_latency_ms", window_s=120, condition=">", threshold=500,
        for_s=60, min_requests=5,
    )  # fmt: skip
    evaluator = make_evaluator(engine, None, rule)
    records.add(10, at(-10), latency_ms=900.0)
    assert evaluator.evaluate(at(0))[0].phase == "pending"
    assert evaluator.evaluate(at(30))[0].phase == "pending"
    assert list_alerts(engine) == []
    [status] = evaluator.evaluate(at(60))
    assert status.phase == "firing"
    assert status.measurement.value == pytest.approx(900.0)
    assert [row.rule for row in list_alerts(engine, state="firing")] == ["slow"]


def test_min_requests_gates_ratios_and_an_idle_window_resolves(engine: Engine) -> None:
    records = Records(engine)
    evaluator = make_evaluator(engine, None)
    records.add(3, at(-10), status=502)
    [status] = evaluator.evaluate(at(0))
    assert status.measurement.value is None
    assert "only 3 requests (min_requests 5)" in status.measurement.detail
    records.add(5, at(-5), status=502)
    assert evaluator.evaluate(at(0))[0].phase == "firing"
    assert evaluator.evaluate(at(120))[0].phase == "ok"  # nothing in the window any more
    [row] = list_alerts(engine)
    assert row.state == "resolved"
    assert "not evaluated" in row.message


def test_every_metric_is_measured(engine: Engine) -> None:
    records = Records(engine)
    records.add(6, at(-10), cost_usd=0.5, input_tokens=10, output_tokens=5)
    records.add(2, at(-10), status=429, error_type="insufficient_quota")
    records.add(1, at(-10), status=429, error_type="rate_limit_error")
    records.add(1, at(-10), cost_usd=1.0, attempt_count=2, public_model="other")
    expected = {
        "requests": 10.0,
        "cost_usd": 4.0,
        "budget_refusals": 2.0,
        "rate_limited": 1.0,
        "mean_cost_per_request": 4.0 / 7,
        "fallback_rate": 0.1,
        "error_rate": 0.0,
        "p95_latency_ms": 20.0,
    }
    rules = [
        AlertRuleConfig(name=m, metric=m, condition=">", threshold=0, min_requests=1)  # type: ignore[arg-type]
        for m in expected
    ]
    statuses = make_evaluator(engine, None, *rules).measure(at(0))
    assert {s.rule.name: s.measurement.value for s in statuses} == pytest.approx(expected)


def test_two_replicas_notify_once(
    engine_url: str, engine: Engine, receiver: WebhookReceiver
) -> None:
    other = database.make_engine(engine_url)
    replicas = [make_evaluator(engine, receiver), make_evaluator(other, receiver)]
    records = Records(engine)
    records.add(10, at(-10), status=502)

    def together(now: datetime) -> None:
        barrier = threading.Barrier(len(replicas))

        def run(evaluator: AlertEvaluator) -> None:
            barrier.wait()
            evaluator.evaluate(now)

        threads = [threading.Thread(target=run, args=(e,)) for e in replicas]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)

    for second in range(3):
        together(at(second))
    records.add(40, at(5))
    for second in range(10, 13):
        together(at(second))
    for evaluator in replicas:
        flush(evaluator)
    assert [b["status"] for b in receiver.bodies("/json")] == ["firing", "resolved"]
    assert len(receiver.bodies("/slack")) == 2
    assert [row.state for row in list_alerts(engine)] == ["resolved"]
    for evaluator in replicas:
        evaluator.stop()
    other.dispose()


def test_resolve_messages_can_be_turned_off(engine: Engine, receiver: WebhookReceiver) -> None:
    records = Records(engine)
    evaluator = make_evaluator(engine, receiver, resolve_messages=False)
    records.add(10, at(-10), status=502)
    evaluator.evaluate(at(0))
    evaluator.evaluate(at(120))
    flush(evaluator)
    assert [b["status"] for b in receiver.bodies("/json")] == ["firing"]
    assert list_alerts(engine)[0].state == "resolved"
    evaluator.stop()


def test_a_failing_webhook_is_retried_with_backoff(
    engine: Engine, receiver: WebhookReceiver
) -> None:
    records = Records(engine)
    notifier = Notifier([Webhook(receiver.url("/json"))], timeout_s=2, retries=2, backoff_s=0.01)
    notifier.start()
    evaluator = AlertEvaluator(
        engine, AlertsConfig(rules=(ERRORS,)), config_hash="x", notifier=notifier
    )
    receiver.fail_next(2)
    records.add(10, at(-10), status=502)
    evaluator.evaluate(at(0))
    assert notifier.flush(timeout_s=10)
    assert receiver.attempts == 3
    assert [b["status"] for b in receiver.bodies("/json")] == ["firing"]
    evaluator.stop()


def test_guard_metrics_are_measured_from_the_records(engine: Engine) -> None:
    from steward.guards.base import Decision, decisions_json

    records = Records(engine)
    blocked = decisions_json([Decision("injection", "block", 0.9, 1.0)])
    flagged = decisions_json([Decision("injection", "flag", 0.6, 1.0), Decision("pii", "mask")])
    records.add(2, at(-10), status=400, error_type="invalid_request_error", guards=blocked)
    records.add(3, at(-10), guards=flagged, confidence=0.9)
    records.add(1, at(-10), confidence=0.3, escalated=True)
    records.add(4, at(-10))
    expected = {"guard_block_rate": 0.2, "escalations": 1.0, "mean_confidence": (2.7 + 0.3) / 4}
    rules = [
        AlertRuleConfig(name=m, metric=m, condition=">", threshold=0, min_requests=1)  # type: ignore[arg-type]
        for m in expected
    ]
    statuses = make_evaluator(engine, None, *rules).measure(at(0))
    assert {s.rule.name: s.measurement.value for s in statuses} == pytest.approx(expected)
