"""Drift reports from request records on SQLite and PostgreSQL, and the `drift` alert metric."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import orjson
import pytest
from sqlalchemy.engine import Engine

from steward.config.alerts import AlertRuleConfig, AlertsConfig
from steward.observe.alerts import AlertEvaluator
from steward.observe.drift import drift_report
from steward.observe.stored_payloads import LazyEmbedder, StoredPayloads
from steward.payloads.keys import PayloadKeyring
from steward.storage.payloads import PayloadRow, SealedRecord, insert_entries
from steward.storage.records import RequestRecord
from steward.storage.requests import insert_records

NOW = datetime(2025, 3, 8, 12, 0, tzinfo=UTC)
HOUR = 3600.0
DAY = 86_400.0


def add(
    engine: Engine, prefix: str, hours_ago: float, outputs: Sequence[int], **fields: object
) -> None:
    values: dict[str, object] = {
        "endpoint": "chat",
        "status": 200,
        "latency_ms": 50.0,
        "config_hash": "0123456789abcdef",
        "public_model": "gpt",
        "input_tokens": 40,
        "cost_usd": 0.001,
        **fields,
    }
    start = NOW - timedelta(hours=hours_ago)
    insert_records(
        engine,
        [
            RequestRecord(  # type: ignore[arg-type]
                id=f"{prefix}{i:05d}",
                created_at=start + timedelta(seconds=i),
                output_tokens=int(n),
                **values,
            )
            for i, n in enumerate(outputs)
        ],
    )


def lengths(mean: float, n: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    return [max(1, round(v)) for v in rng.normal(mean, 15, n)]


def test_a_shift_in_output_length_is_reported(engine: Engine) -> None:
    add(engine, "b", 48, lengths(100, 300, 1))
    add(engine, "c", 2, lengths(160, 200, 2), cost_usd=0.003)
    add(engine, "e", 2, [0] * 20, status=502, input_tokens=None, cost_usd=None)
    add(engine, "x", 2, lengths(100, 50, 3), public_model="other")
    report = drift_report(engine, "gpt", now=NOW, current_s=24 * HOUR, baseline_s=7 * DAY)
    assert (report.current_requests, report.baseline_requests) == (220, 300)
    inputs, outputs = report.distributions
    assert outputs.name == "output_tokens"
    assert outputs.current.n == 200  # failed requests carry no sample
    assert outputs.current.mean == pytest.approx(160, abs=3)
    assert outputs.baseline.mean == pytest.approx(100, abs=3)
    assert outputs.ks_statistic is not None and outputs.ks_statistic > 0.85
    assert outputs.ks_p_value is not None and outputs.ks_p_value < 1e-10
    assert (inputs.ks_statistic, inputs.ks_p_value) == (0.0, 1.0)
    rates = {r.name: (r.current, r.baseline) for r in report.rates}
    assert rates["error_rate"] == (pytest.approx(20 / 220), 0.0)
    assert rates["cost_per_request_usd"] == (pytest.approx(0.003), pytest.approx(0.001))
    assert rates["cache_hit_rate"] == (0.0, 0.0)
    assert report.max_ks_statistic() == outputs.ks_statistic
    body = report.to_json()
    assert body["distributions"]["output_tokens"]["current"]["n"] == 200
    assert body["embedding"] is None


def test_the_same_distribution_is_not_drift(engine: Engine) -> None:
    add(engine, "b", 72, lengths(100, 400, 4))
    add(engine, "c", 5, lengths(100, 300, 5))
    report = drift_report(engine, "gpt", now=NOW)
    p = report.min_p_value()
    assert p is not None and p > 0.01
    empty = drift_report(engine, "nobody", now=NOW)
    assert (empty.max_ks_statistic(), empty.min_p_value()) == (None, None)


def test_the_drift_metric_fires_on_a_shift(engine: Engine) -> None:
    add(engine, "b", 30, lengths(100, 200, 6))
    add(engine, "c", 1, lengths(100, 100, 7))
    rules = (
        AlertRuleConfig(name="ks", metric="drift", model="gpt", window_s=6 * HOUR,
                        baseline_s=2 * DAY, condition=">", threshold=0.3, min_requests=50),
        AlertRuleConfig(name="p", metric="drift", model="gpt", window_s=6 * HOUR,
                        baseline_s=2 * DAY, condition="<", threshold=0.001,
                        drift_statistic="p_value", min_requests=50),
    )  # fmt: skip
    evaluator = AlertEvaluator(engine, AlertsConfig(rules=rules), config_hash="x")
    assert [s.phase for s in evaluator.evaluate(NOW)] == ["ok", "ok"]
    add(engine, "d", 0.5, lengths(200, 150, 8))
    statuses = evaluator.evaluate(NOW)
    assert [s.phase for s in statuses] == ["firing", "firing"]
    assert statuses[0].measurement.value is not None and statuses[0].measurement.value > 0.3
    gated = AlertRuleConfig(name="g", metric="drift", model="gpt", window_s=6 * HOUR,
                            condition=">", threshold=0.3, min_requests=10_000)  # fmt: skip
    [status] = AlertEvaluator(engine, AlertsConfig(rules=(gated,)), config_hash="x").measure(NOW)
    assert status.measurement.value is None


COOKING = [
    f"Simmer the {x} with garlic and olive oil for ten minutes."
    for x in ("onions", "tomatoes", "mushrooms", "peppers", "carrots", "leeks", "beans", "lentils")
]
FINANCE = [
    f"Your {x} statement shows the interest charged this quarter."
    for x in ("card", "mortgage", "savings", "loan", "brokerage", "checking", "pension", "bond")
]
REFUSALS = ["I'm sorry, but I can't help with that request."] * 4
SPANISH = ["La respuesta es que el servidor de la casa no funciona para los usuarios."] * 4


def add_payloads(
    engine: Engine, keyring: PayloadKeyring, prefix: str, hours_ago: float, texts: list[str]
) -> None:
    """Records with their captured payloads, sealed as the writer seals them."""
    start = NOW - timedelta(hours=hours_ago)
    entries = []
    for i, text in enumerate(texts):
        record = RequestRecord(
            id=f"{prefix}{i:05d}",
            created_at=start + timedelta(seconds=i),
            endpoint="chat",
            status=200,
            latency_ms=50.0,
            config_hash="0123456789abcdef",
            public_model="gpt",
            output_tokens=12,
        )
        document = {
            "request": {"model": "gpt", "messages": [{"role": "user", "content": "hi"}]},
            "response": {"choices": [{"index": 0, "message": {"role": "assistant",
                                                              "content": text}}]},
            "error": None,
        }  # fmt: skip
        sealed = keyring.encrypt(orjson.dumps(document), record.id)
        row = PayloadRow(
            request_id=record.id,
            created_at=record.created_at,
            policy="full",
            body=sealed.ciphertext,
            key_id=sealed.key_id,
            nonce=sealed.nonce,
            public_model="gpt",
        )
        entries.append(SealedRecord(record, row))
    insert_entries(engine, entries)


def test_response_text_drift_from_encrypted_payloads(engine: Engine) -> None:
    keyring = PayloadKeyring([secrets.token_bytes(32)])
    add_payloads(engine, keyring, "b", 48, COOKING)
    add_payloads(engine, keyring, "c", 2, FINANCE + REFUSALS + SPANISH)
    source = StoredPayloads(engine, keyring)
    report = drift_report(engine, "gpt", now=NOW, payloads=source, embedder=LazyEmbedder())
    assert report.text is not None
    assert (report.text.current_texts, report.text.baseline_texts) == (16, 8)
    assert report.text.refusal_rate.current == pytest.approx(0.25)
    assert report.text.refusal_rate.baseline == 0.0
    assert report.text.languages_baseline == {"en": 1.0}
    assert report.text.languages_current == {"en": 0.75, "es": 0.25}
    assert report.text.language_shift == pytest.approx(0.25)
    assert report.embedding is not None
    assert report.embedding.p_value < 0.01
    assert report.min_p_value(min_samples=8) == pytest.approx(report.embedding.p_value)
    assert report.to_json()["text"]["refusal_rate"]["current"] == pytest.approx(0.25)
    # Without the key nothing can be read, and the rows are counted, not fatal.
    locked = StoredPayloads(engine, None)
    assert drift_report(engine, "gpt", now=NOW, payloads=locked).text is None
    assert locked.unreadable == 24


def test_the_same_topic_is_a_small_centroid_shift(engine: Engine) -> None:
    keyring = PayloadKeyring([secrets.token_bytes(32)])
    add_payloads(engine, keyring, "b", 48, COOKING)
    add_payloads(engine, keyring, "c", 2, COOKING[4:] + COOKING[:4])
    report = drift_report(
        engine, "gpt", now=NOW, payloads=StoredPayloads(engine, keyring), embedder=LazyEmbedder()
    )
    assert report.embedding is not None
    assert report.embedding.centroid_shift == pytest.approx(0.0, abs=1e-5)
    assert report.embedding.p_value == 1.0
