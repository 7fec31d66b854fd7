"""`steward eval run|show|list|compare|gate` end to end: a real gateway over the fake upstream
(or the bundled local model), datasets and prompts in its SQLite database, the CLI in a
subprocess, results and gate verdicts read back from the database."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from tests.conftest import GatewayFactory
from tests.fakes import FakeProvider, Fault
from tests.servers import Gateway

from steward.evals.results import Item
from steward.prompts.definition import PromptDefinition
from steward.prompts.registry import PromptRegistry
from steward.storage import datasets, evals

QUESTIONS = [f"question number {i}" for i in range(12)]


def prompt(name: str, template: str, model: str = "gpt") -> PromptDefinition:
    return PromptDefinition.model_validate(
        {"name": name, "model": model, "messages": [{"role": "user", "content": template}]}
    )


def setup(gw: Gateway, *templates: str) -> None:
    registry = PromptRegistry(gw.runtime.engine, actor_id="test:dev", actor="dev")
    for template in templates:
        registry.push([prompt("qa", template)])
    items = [
        Item(id=f"q{i}", variables={"q": q}, expected=f"echo: {q}") for i, q in enumerate(QUESTIONS)
    ]
    datasets.create_version(gw.runtime.engine, "qa", items, created_by="test")
    gw.runtime.refresher.refresh()


def steward(gw: Gateway, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    assert gw.loaded.path is not None
    command = [sys.executable, "-m", "steward", *args, "--config", str(gw.loaded.path)]
    if args[1] in ("run", "gate"):
        command += ["--base-url", gw.url, "--key", key]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def run_id(output: str) -> str:
    return output.split()[0]


def test_run_stores_every_result_and_show_summarises_it(
    gateway: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = gateway
    setup(gw, "{{ q }}")
    done = steward(
        gw,
        key,
        "eval",
        "run",
        "--dataset",
        "qa",
        "--target",
        "prompt:qa",
        "--scorer",
        "exact",
        "--scorer",
        "contains",
        "--repeats",
        "2",
        "--concurrency",
        "4",
    )
    assert done.returncode == 0, done.stderr
    rid = run_id(done.stdout)
    assert "finished  qa@1 -> prompt:qa@1  x2  24 results, 0 errors" in done.stdout
    assert "exact            mean 1.000  pass rate 100.0%" in done.stdout
    results = evals.load_results(gw.runtime.engine, rid)
    assert len(results) == 24 and all(r.scores["exact"].passed for r in results)
    assert all(r.request_id for r in results)
    row = evals.get_run(gw.runtime.engine, rid)
    assert (row.prompt_name, row.prompt_version, row.status) == ("qa", 1, "finished")
    listed = steward(gw, key, "eval", "list")
    assert rid in listed.stdout and "exact,contains" in listed.stdout
    shown = json.loads(steward(gw, key, "eval", "show", rid, "--json").stdout)
    assert shown["scorers"]["exact"]["pass_rate"] == 1.0 and shown["results"] == 24
    # The calls went through the gateway as prompt calls and were recorded as such.
    gw.flush()
    from steward.storage.requests import list_records

    records = list_records(gw.runtime.engine, limit=100)
    assert sum(r.prompt_name == "qa" and r.prompt_version == 1 for r in records) == 24


def test_failed_calls_are_errors_and_resume_finishes_them(
    gateway: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = gateway
    setup(gw, "{{ q }}")
    fake.script(*[Fault(status=400, message="bad thing")] * 3)  # not retryable: 3 items fail
    first = steward(
        gw,
        key,
        "eval",
        "run",
        "--dataset",
        "qa",
        "--target",
        "prompt:qa@1",
        "--scorer",
        "exact",
        "--concurrency",
        "1",
    )
    assert first.returncode == 0, first.stderr
    rid = run_id(first.stdout)
    assert "12 results, 3 errors" in first.stdout
    errors = [r for r in evals.load_results(gw.runtime.engine, rid) if r.error]
    assert len(errors) == 3 and all("bad thing" in (r.error or "") for r in errors)
    calls = len(fake.requests)
    again = steward(gw, key, "eval", "run", "--resume", rid)
    assert again.returncode == 0, again.stderr
    assert "12 results, 0 errors" in again.stdout
    assert len(fake.requests) - calls == 3  # only the failed pairs were called again


def test_gate_fails_on_a_real_regression_and_blocks_promotion(
    gateway: tuple[Gateway, str], tmp_path: Path
) -> None:
    gw, key = gateway
    setup(gw, "{{ q }}", "{{ q }}!", "{{ q }}  ")  # v2 breaks every answer; v3 changes nothing
    PromptRegistry(gw.runtime.engine, actor_id="t", actor="t").label(
        "qa", "production", 1, force=True
    )
    junit, md, page = tmp_path / "gate.xml", tmp_path / "gate.md", tmp_path / "gate.html"
    failed = steward(
        gw,
        key,
        "eval",
        "gate",
        "--dataset",
        "qa",
        "--prompt",
        "qa",
        "--baseline",
        "@production",
        "--candidate",
        "@2",
        "--scorer",
        "exact",
        "--junit",
        str(junit),
        "--markdown",
        str(md),
        "--html",
        str(page),
    )
    assert failed.returncode == 1, failed.stderr
    assert "verdict: regressed" in failed.stdout and "FAILED" in failed.stdout
    assert "pass -> fail: q0" in failed.stdout
    suite = ET.parse(junit).getroot()
    assert len(suite.findall(".//failure")) == 1
    assert "exact" in md.read_text() and "<svg" in page.read_text()
    refused = steward(gw, key, "prompts", "label", "qa", "production", "2")
    assert refused.returncode == 1 and "said regressed" in refused.stderr

    passed = steward(
        gw,
        key,
        "eval",
        "gate",
        "--dataset",
        "qa",
        "--prompt",
        "qa",
        "--baseline",
        "@production",
        "--candidate",
        "@3",
        "--scorer",
        "exact",
        "--reuse-baseline",
    )
    assert passed.returncode == 0, passed.stderr
    assert "verdict: no significant change" in passed.stdout
    promoted = steward(gw, key, "prompts", "label", "qa", "production", "3")
    assert promoted.returncode == 0, promoted.stderr
    gates = [evals.latest_gate(gw.runtime.engine, "qa", v) for v in (2, 3)]
    assert [g.passed if g else None for g in gates] == [False, True]
    runs = evals.list_runs(gw.runtime.engine)
    assert len(runs) == 3  # the second gate reused the production baseline


def test_compare_reports_the_statistics(gateway: tuple[Gateway, str]) -> None:
    gw, key = gateway
    setup(gw, "{{ q }}", "{{ q }}!")
    a = run_id(
        steward(
            gw, key, "eval", "run", "--dataset", "qa", "--target", "prompt:qa@1", "-s", "exact"
        ).stdout
    )
    b = run_id(
        steward(
            gw, key, "eval", "run", "--dataset", "qa", "--target", "prompt:qa@2", "-s", "exact"
        ).stdout
    )
    out = steward(gw, key, "eval", "compare", a, b, "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    (exact,) = report["scorers"]
    assert exact["baseline_mean"] == 1.0 and exact["candidate_mean"] == 0.0
    assert exact["mcnemar"]["b"] + exact["mcnemar"]["c"] == 12
    assert exact["mcnemar"]["p_value"] == pytest.approx(2 * 0.5**12)
    assert report["verdict"] == "regressed"


def test_errors_are_clear(gateway: tuple[Gateway, str]) -> None:
    gw, key = gateway
    setup(gw, "{{ q }}")
    no_scorer = steward(gw, key, "eval", "run", "--dataset", "qa", "--target", "prompt:qa")
    assert no_scorer.returncode == 1 and "at least one --scorer" in no_scorer.stderr
    bad = steward(gw, key, "eval", "run", "--dataset", "qa", "--target", "prompt:qa", "-s", "nope")
    assert bad.returncode == 1 and "nope" in bad.stderr
    missing = steward(gw, key, "eval", "run", "--dataset", "nope", "--target", "gpt", "-s", "exact")
    assert missing.returncode == 1 and "No dataset named 'nope'" in missing.stderr
    label = steward(
        gw,
        key,
        "eval",
        "gate",
        "--dataset",
        "qa",
        "--baseline",
        "@production",
        "--candidate",
        "@1",
        "-s",
        "exact",
    )
    assert label.returncode == 1 and "--prompt NAME" in label.stderr


LOCAL = """
[providers.local]
type = "local"
n_ctx = 1024

[models.local]
targets = ["local/smollm2"]
"""


@pytest.mark.slow
def test_gate_on_the_bundled_local_model(make_gateway: GatewayFactory) -> None:
    gw, key = make_gateway(LOCAL)
    registry = PromptRegistry(gw.runtime.engine, actor_id="t", actor="t")
    for word in ("Answer with one word.", "Answer with one short word."):
        definition = PromptDefinition.model_validate(
            {
                "name": "capital",
                "model": "local",
                "params": {"max_tokens": 8, "temperature": 0},
                "messages": [
                    {"role": "system", "content": word},
                    {"role": "user", "content": "What is the capital of {{ country }}?"},
                ],
            }
        )
        registry.push([definition])
    pairs = [("France", "Paris"), ("Italy", "Rome"), ("Japan", "Tokyo"), ("Spain", "Madrid")]
    items = [Item(id=c, variables={"country": c}, expected=city) for c, city in pairs]
    datasets.create_version(gw.runtime.engine, "capitals", items, created_by="test")
    gw.runtime.refresher.refresh()
    out = steward(
        gw,
        key,
        "eval",
        "gate",
        "--dataset",
        "capitals",
        "--prompt",
        "capital",
        "--baseline",
        "@1",
        "--candidate",
        "@2",
        "--scorer",
        "contains",
        "--scorer",
        "semantic:0.5",
    )
    assert out.returncode in (0, 1), out.stderr
    assert "verdict:" in out.stdout and "contains" in out.stdout and "semantic" in out.stdout
    runs = evals.list_runs(gw.runtime.engine)
    assert len(runs) == 2 and all(r.status == "finished" for r in runs)
    for run in runs:
        results = evals.load_results(gw.runtime.engine, run.id)
        assert len(results) == 4 and all(r.error is None and r.output for r in results)


def test_json_schema_scorer_uses_the_prompts_output_schema(
    gateway: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = gateway
    definition = PromptDefinition.model_validate(
        {
            "name": "structured",
            "model": "gpt",
            "output_schema": {"type": "object", "required": ["answer"]},
            "messages": [{"role": "user", "content": "{{ q }}"}],
        }
    )
    PromptRegistry(gw.runtime.engine, actor_id="t", actor="t").push([definition])
    items = [Item(id=f"s{i}", variables={"q": str(i)}) for i in range(4)]
    datasets.create_version(gw.runtime.engine, "structured", items, created_by="test")
    gw.runtime.refresher.refresh()
    fake.script(Fault(content='{"answer": 1}'), Fault(content='{"reply": 2}'))
    fake.set_default(Fault(content='```json\n{"answer": 3}\n```'))
    out = steward(
        gw,
        key,
        "eval",
        "run",
        "--dataset",
        "structured",
        "--target",
        "prompt:structured",
        "-s",
        "json_schema",
        "--concurrency",
        "1",
    )
    assert out.returncode == 0, out.stderr
    results = {r.item_id: r for r in evals.load_results(gw.runtime.engine, run_id(out.stdout))}
    verdicts = {item: r.scores["json_schema"].passed for item, r in results.items()}
    assert verdicts == {"s0": True, "s1": False, "s2": True, "s3": True}
    assert "answer" in (results["s1"].scores["json_schema"].detail or "")
