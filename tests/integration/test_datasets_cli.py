"""`steward datasets ...` on a real SQLite database: import, show, export, append, correct, and a
sample of calls sent through a real gateway with payload capture on."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openai
import pytest
from tests.conftest import GatewayFactory
from tests.fakes import FakeProvider, Fault
from tests.integration.records import record_for
from tests.servers import write_config
from typer.testing import CliRunner

from steward.cli.main import app
from steward.storage.records import RequestRecord
from steward.storage.requests import get_record, insert_records

KEY_ENV = "STEWARD_TEST_DATASET_KEY"
ITEMS = [
    {"id": "refund", "variables": {"question": "Can I get a refund?"}, "expected": "Yes."},
    {"variables": {"question": "Where is my order?"}, "tags": ["orders"]},
]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "steward", "")


def run(config: Path, *args: str) -> tuple[int, str, str]:
    """The command in this process: (exit code, stdout, stderr)."""
    result = CliRunner().invoke(
        app, ["datasets", *args, "--config", str(config)], env={"USER": "ann"}
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def ok(config: Path, *args: str) -> str:
    code, out, err = run(config, *args)
    assert code == 0, err
    return out


def jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def exported(config: Path, ref: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in ok(config, "export", ref, "-").splitlines()]


def test_import_show_export_append_and_correct(config: Path, tmp_path: Path) -> None:
    source = jsonl(tmp_path / "items.jsonl", ITEMS)
    assert ok(config, "import", "support", str(source), "--note", "first cut") == (
        f"support@1: 2 items from {source}\n"
    )
    first = exported(config, "support")
    generated = first[1]["id"]
    assert first == [ITEMS[0], {"id": generated, **ITEMS[1]}]

    csv_file = tmp_path / "support.csv"
    ok(config, "export", "support@1", str(csv_file))
    assert csv_file.read_text().splitlines()[0] == "id,question,expected,tags"
    more = tmp_path / "more.csv"
    more.write_text('id,question,expected\nlate,"Two\nlines",Sure.\n')
    assert "support@2: 3 items (2 kept, 1 added)" in ok(
        config, "import", "support", str(more), "--append"
    )

    fixes = jsonl(tmp_path / "fixes.jsonl", [{"id": generated, "expected": "In transit."}])
    assert ok(config, "correct", "support", str(fixes)).startswith(
        "support@3: 1 expected outputs corrected, of 3 items"
    )
    latest = exported(config, "support")
    assert [row.get("expected") for row in latest] == ["Yes.", "In transit.", "Sure."]
    assert exported(config, "support@1") == first, "older versions never change"

    listing = ok(config, "list", "support").splitlines()
    assert listing[0].split() == ["dataset", "items", "created", "by", "note"]
    assert [line.split()[0] for line in listing[1:]] == ["support@3", "support@2", "support@1"]
    assert "cli:ann" in listing[1] and listing[3].endswith("first cut")
    assert ok(config, "list").splitlines()[1].startswith("support@3")
    shown = ok(config, "show", "support@2", "--limit", "2").splitlines()
    assert shown[0] == "support@2: 3 items"
    assert shown[3].startswith('refund  {"question":"Can I get a refund?"}  -> Yes.')
    assert shown[-1] == "... and 1 more (--limit)"


def test_a_file_with_problems_is_refused_whole(config: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "variables": {}}\n{"id": "a", "variables": {}}\n{"input": 1}\n')
    code, _, err = run(config, "import", "support", str(bad))
    assert code == 1
    assert err.startswith(f"error: {bad}: 2 problems\n")
    assert "line 2: id 'a' is already on line 1" in err and "line 3: unknown key 'input'" in err
    assert ok(config, "list").startswith("no datasets yet")


def test_errors_say_what_to_do(config: Path, tmp_path: Path) -> None:
    ok(config, "import", "support", str(jsonl(tmp_path / "items.jsonl", ITEMS)))
    cases = [
        (("show", "support@4"), "Dataset 'support' has no version 4; its versions are 1 to 1"),
        (("show", "nope"), "`steward datasets import nope FILE` creates it"),
        (("show", "support@v1"), "after '@' comes a version number"),
        (("import", "sup port", str(tmp_path / "items.jsonl")), "is not a dataset name"),
        (("import", "support", str(tmp_path / "x.txt")), "name it .jsonl or .csv"),
        (
            ("import", "support", str(jsonl(tmp_path / "again.jsonl", ITEMS[:1])), "--append"),
            "1 items are already in support@1: refund",
        ),
        (
            (
                "correct",
                "support",
                str(jsonl(tmp_path / "fix.jsonl", [{"id": "x", "expected": 1}])),
            ),
            "1 correction ids are not in support@1: 'x'",
        ),
    ]
    for args, message in cases:
        code, _, err = run(config, *args)
        assert code == 1 and message in err, (args, err)
    numbers = jsonl(tmp_path / "numbers.jsonl", [{"id": "n", "variables": {"n": 1}}])
    ok(config, "import", "numbers", str(numbers))
    code, _, err = run(config, "export", "numbers", str(tmp_path / "n.csv"))
    assert code == 1 and "export with `--format jsonl`" in err
    assert ok(config, "list", "support").count("support@") == 1, "no failed command wrote"
    unchanged = jsonl(tmp_path / "same.jsonl", [{"id": "refund", "expected": "Yes."}])
    assert ok(config, "correct", "support", str(unchanged)).startswith("no changes")


# -- sampling calls sent through a gateway -----------------------------------------------------

QUESTIONS = [f"question number {n}" for n in range(6)]


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, base64.b64encode(os.urandom(32)).decode())


def steward(config: Path, *args: str) -> str:
    """The installed command in a subprocess, as an operator runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "steward", "datasets", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "USER": "ann"},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def items_of(config: Path, ref: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in ok(config, "export", ref, "-").splitlines()]


@pytest.mark.usefixtures("keyed")
def test_sample_captured_calls_from_a_gateway(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    models = '[models.chat]\ntargets = ["up/gpt-test"]\nretries = 0\ncapture = "full"\n'
    gw, key = make_gateway(models + f'\n[payloads]\nencryption_keys = ["env:{KEY_ENV}"]\n')
    sent = _send_calls(gw.url, key, fake)
    for request_id in sent:
        record_for(gw, request_id)
    uncaptured = [
        RequestRecord(
            f"plain-{n}", datetime.now(UTC), "chat", 200, 1.0, "0" * 16, public_model="chat"
        )
        for n in range(2)
    ]
    insert_records(gw.runtime.engine, uncaptured)
    path = gw.loaded.path
    assert path is not None
    today = datetime.now(UTC).date().isoformat()

    out = steward(
        path, "sample", "qa", "--model", "chat", "--count", "5", "--seed", "11", "--since", today
    )

    lines = out.splitlines()
    assert lines[0] == "qa@1: 5 items sampled from 9 matching records (seed 11)"
    assert lines[1].startswith("skipped: 2 records without a captured payload (set [models.chat]")
    items = items_of(path, "qa")
    assert len(items) == 5
    for item in items:
        tag, request = item["tags"]
        assert tag == "from-records"
        record = get_record(gw.runtime.engine, request.removeprefix("request:"))
        assert record is not None and record.status == 200
        text = item["messages"][-1]["content"]
        assert item["expected"] == f"echo: {text}"
    again = ok(path, "sample", "qa-again", "--model", "chat", "--count", "5", "--seed", "11")
    assert again.startswith("qa-again@1: 5 items")
    assert items_of(path, "qa-again") == items

    grown = steward(
        path, "sample", "qa", "--model", "chat", "--count", "5", "--append", "--status", "2xx"
    )
    assert grown.splitlines()[0].startswith("qa@2: 2 items sampled from 9")
    assert "5 repeating an input already taken" in grown
    assert "only 2 of the 5 asked for" in grown
    every = items_of(path, "qa")
    texts = {item["messages"][-1]["content"] for item in every}
    assert texts == {*QUESTIONS, "from anthropic"}
    anthropic_item = next(i for i in every if i["messages"][-1]["content"] == "from anthropic")
    assert anthropic_item["messages"][0] == {"role": "system", "content": "Answer briefly."}

    fixes = jsonl(path.parent / "fixes.jsonl", [{"id": every[0]["id"], "expected": "Reviewed."}])
    assert ok(path, "correct", "qa", str(fixes)).startswith("qa@3: 1 expected outputs")
    assert items_of(path, "qa")[0]["expected"] == "Reviewed."


def _send_calls(url: str, key: str, fake: FakeProvider) -> list[str]:
    """Six OpenAI calls, one Anthropic call and one that fails upstream (status 502)."""
    import anthropic

    ids = []
    with openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=10) as client:
        for question in QUESTIONS:
            raw = client.chat.completions.with_raw_response.create(
                model="chat", messages=[{"role": "user", "content": question}]
            )
            ids.append(str(raw.headers["x-request-id"]))
        fake.script(Fault(status=503))
        with pytest.raises(openai.InternalServerError) as failed:
            client.chat.completions.create(
                model="chat", messages=[{"role": "user", "content": "fails"}]
            )
        ids.append(str(failed.value.response.headers["x-request-id"]))
    with anthropic.Anthropic(base_url=url, api_key=key, max_retries=0, timeout=10) as claude:
        raw_message = claude.messages.with_raw_response.create(
            model="chat",
            max_tokens=20,
            system="Answer briefly.",
            messages=[{"role": "user", "content": "from anthropic"}],
        )
        ids.append(str(raw_message.headers["x-request-id"]))
    return ids
