"""`steward alerts list|check` and `steward drift` in a subprocess, on a real SQLite database."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from tests.servers import write_config

from steward.config.loading import load_config
from steward.observe.alerts import AlertEvaluator
from steward.payloads.keys import PayloadKeyring, generate_key
from steward.storage import database
from steward.storage.payloads import PayloadRow, SealedRecord, insert_entries
from steward.storage.records import RequestRecord
from steward.storage.requests import insert_records

CONFIG = """
[providers.local]
type = "local"

[models.gpt]
targets = ["local/smollm2"]

[[alerts.rules]]
name = "gpt errors"
metric = "error_rate"
model = "gpt"
window_s = 3600
condition = ">"
threshold = 0.25
min_requests = 5

[[alerts.rules]]
name = "traffic"
metric = "requests"
window_s = 3600
condition = "<"
threshold = 1
"""


def record(i: int, when: datetime, status: int, output_tokens: int) -> RequestRecord:
    return RequestRecord(
        id=f"r{i:05d}",
        created_at=when,
        endpoint="chat",
        status=status,
        latency_ms=30.0,
        config_hash="0123456789abcdef",
        public_model="gpt",
        input_tokens=50,
        output_tokens=output_tokens if status == 200 else None,
        cost_usd=0.002 if status == 200 else None,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """Yesterday and before: short answers. The last hour: long ones, and half of them failed."""
    path = write_config(tmp_path, CONFIG)
    loaded = load_config(path, environ={})
    engine = database.make_engine(
        database.normalise_url(loaded.config.storage.url, loaded.base_dir)
    )
    database.upgrade(engine)
    now = datetime.now(UTC)
    older = [record(i, now - timedelta(days=3, seconds=i), 200, 20 + i % 5) for i in range(60)]
    recent = [
        record(100 + i, now - timedelta(minutes=30, seconds=i), 502 if i % 2 else 200, 90 + i % 7)
        for i in range(40)
    ]
    insert_records(engine, older + recent)
    evaluator = AlertEvaluator(engine, loaded.config.alerts, config_hash="0123456789abcdef")
    evaluator.evaluate()
    engine.dispose()
    return path


def steward(config: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "steward", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_alerts_list(config: Path) -> None:
    out = steward(config, "alerts", "list")
    assert "firing" in out
    assert "gpt errors" in out
    assert "20 of 40 requests failed" in out
    [row] = json.loads(steward(config, "alerts", "list", "--state", "firing", "--json"))
    assert row["rule"] == "gpt errors"
    assert row["value"] == pytest.approx(0.5)
    assert row["labels"]["model"] == "gpt"
    assert json.loads(steward(config, "alerts", "list", "--state", "resolved", "--json")) == []
    assert steward(config, "alerts", "list", "--state", "resolved") == "no alerts\n"


def test_alerts_check(config: Path) -> None:
    statuses = {s["rule"]: s for s in json.loads(steward(config, "alerts", "check", "--json"))}
    assert statuses["gpt errors"]["value"] == pytest.approx(0.5)
    assert statuses["gpt errors"]["holds"] is True
    assert statuses["gpt errors"]["firing_since"] is not None
    assert statuses["traffic"]["value"] == 40
    assert statuses["traffic"]["holds"] is False
    text = steward(config, "alerts", "check")
    assert "gpt errors: error_rate = 0.5 (> 0.25: HOLDS, firing since" in text


def test_drift_json_and_table(config: Path) -> None:
    report = json.loads(steward(config, "drift", "gpt", "--json"))
    assert report["model"] == "gpt"
    assert report["current"]["requests"] == 40
    assert report["baseline"]["requests"] == 60
    outputs = report["distributions"]["output_tokens"]
    assert outputs["current"]["n"] == 20
    assert outputs["baseline"]["n"] == 60
    assert outputs["ks_statistic"] == 1.0
    assert outputs["ks_p_value"] < 1e-6
    assert report["rates"]["error_rate"] == {"current": 0.5, "baseline": 0.0}
    narrow = json.loads(
        steward(config, "drift", "gpt", "--current-hours", "1", "--baseline-days", "1", "--json")
    )
    assert narrow["baseline"]["requests"] == 0  # the older records are three days back
    table = steward(config, "drift", "gpt")
    assert re.search(r"output +now +20 +92\.9", table)
    assert "error_rate" in table


def test_config_check_warns_about_an_unset_webhook(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, '[alerts]\nwebhooks = [{url = "env:STEWARD_TEST_NO_SUCH_HOOK"}]\n'
    )
    out = steward(path, "config", "check")
    assert "warning: env:STEWARD_TEST_NO_SUCH_HOOK is unset; that alert webhook is skipped" in out


PAYLOAD_CONFIG = """
[providers.local]
type = "local"

[models.gpt]
targets = ["local/smollm2"]
capture = "full"

[payloads]
encryption_keys = ["env:STEWARD_TEST_DRIFT_KEY"]
"""


def test_drift_reads_captured_payloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = generate_key()
    monkeypatch.setenv("STEWARD_TEST_DRIFT_KEY", key)
    path = write_config(tmp_path, PAYLOAD_CONFIG)
    loaded = load_config(path)
    engine = database.make_engine(
        database.normalise_url(loaded.config.storage.url, loaded.base_dir)
    )
    database.upgrade(engine)
    keyring = PayloadKeyring.from_config(loaded.config.payloads)
    assert keyring is not None
    now = datetime.now(UTC)
    answers = [(3, "Paris is the capital of France.")] * 6 + [
        (0.5, "I'm sorry, but I can't help.")
    ] * 6
    entries = []
    for i, (days, text) in enumerate(answers):
        rec = record(i, now - timedelta(days=days, seconds=i), 200, 10)
        document = {"request": {}, "response": {"choices": [{"message": {"content": text}}]}}
        sealed = keyring.encrypt(orjson.dumps(document), rec.id)
        row = PayloadRow(
            request_id=rec.id,
            created_at=rec.created_at,
            policy="full",
            body=sealed.ciphertext,
            key_id=sealed.key_id,
            nonce=sealed.nonce,
            public_model="gpt",
        )
        entries.append(SealedRecord(rec, row))
    insert_entries(engine, entries)
    engine.dispose()
    report = json.loads(steward(path, "drift", "gpt", "--json"))
    assert report["text"]["refusal_rate"] == {
        "name": "refusal_rate",
        "current": 1.0,
        "baseline": 0.0,
    }
    assert report["text"]["languages_current"] == {"en": 1.0}
    assert report["embedding"]["p_value"] < 0.05
    assert "refusal_rate" in steward(path, "drift", "gpt")
    bare = json.loads(steward(path, "drift", "gpt", "--no-payloads", "--json"))
    assert (bare["text"], bare["embedding"]) == (None, None)
