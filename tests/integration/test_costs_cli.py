"""`steward costs`: the report from a real SQLite database, as JSON and as a table."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.servers import write_config

from steward.config.loading import load_config
from steward.storage import database
from steward.storage.records import RequestRecord
from steward.storage.requests import insert_records

# (model, cost) per record; every record has 100 input and 20 output tokens.
SPEND = [("gpt", 0.25)] * 6 + [("claude", 1.5)] * 3 + [("claude", None)]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config whose SQLite database holds SPEND, all from the first instant of this month."""
    path = write_config(tmp_path, "")
    loaded = load_config(path, environ={})
    engine = database.make_engine(
        database.normalise_url(loaded.config.storage.url, loaded.base_dir)
    )
    database.upgrade(engine)
    month_start = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    records = [
        RequestRecord(
            id=f"r{i}",
            created_at=month_start + timedelta(seconds=i),
            endpoint="chat",
            status=200,
            latency_ms=5.0,
            config_hash="0123456789abcdef",
            public_model=model,
            target=f"up/{model}-test",
            input_tokens=100,
            output_tokens=20,
            team_id="team_a",
            cost_usd=cost,
        )
        for i, (model, cost) in enumerate(SPEND)
    ]
    insert_records(engine, records)
    engine.dispose()
    return path


def costs(config: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "steward", "costs", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_json_report_by_model(config: Path) -> None:
    body = json.loads(costs(config, "--by", "model", "--json"))
    assert body["group_by"] == ["model"]
    assert body["rows"] == [
        {
            "model": "claude",
            "requests": 4,
            "input_tokens": 400,
            "output_tokens": 80,
            "cost_usd": 4.5,
            "cache_hits": 0,
            "unpriced_requests": 1,
        },
        {
            "model": "gpt",
            "requests": 6,
            "input_tokens": 600,
            "output_tokens": 120,
            "cost_usd": 1.5,
            "cache_hits": 0,
            "unpriced_requests": 0,
        },
    ]
    assert body["totals"]["cost_usd"] == 6.0
    assert body["totals"]["requests"] == 10
    assert body["totals"]["unpriced_requests"] == 1
    projection = body["projection"]
    assert projection["mtd_cost_usd"] == 6.0
    elapsed = projection["days_elapsed"]
    if elapsed >= 1:
        expected = 6.0 / elapsed * projection["days_in_month"]
        assert projection["projected_cost_usd"] == pytest.approx(expected, rel=1e-4)


def test_table_shows_models_and_totals(config: Path) -> None:
    out = costs(config, "--by", "model")
    lines = out.splitlines()
    assert lines[0].split() == [
        "model",
        "requests",
        "input_tokens",
        "output_tokens",
        "cache_hits",
        "cost_usd",
    ]
    assert lines[1].split() == ["claude", "4", "400", "80", "0", "4.500000"]
    assert lines[2].split() == ["gpt", "6", "600", "120", "0", "1.500000"]
    assert lines[3].split() == ["total", "10", "1,000", "200", "0", "6.000000"]
    assert len({len(line) for line in lines[:4]}) == 1, "columns are aligned"
    assert "Unpriced: 1 of 10 requests" in out
    assert "Month to date" in out and "$6.0000" in out
    assert "Projected month end" in out


def test_team_scope_and_bad_options(config: Path) -> None:
    other = json.loads(costs(config, "--team", "team_b", "--json"))
    assert other["rows"] == [] and other["totals"]["cost_usd"] == 0.0
    assert other["projection"]["mtd_cost_usd"] == 0.0
    for args in (["--by", "week"], ["--since", "03/01/2025"]):
        result = subprocess.run(
            [sys.executable, "-m", "steward", "costs", *args, "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 1 and result.stderr.startswith("error: ")
