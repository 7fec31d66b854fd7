"""`steward redteam` end to end: the CLI, a real gateway on loopback, the fake upstream over HTTP.

The fake plays a vulnerable model (it obeys every attack: says the marker, repeats its system
prompt, goes along with the request) and a robust one (it always refuses), so the reported
rates must be 100 % and 0 % in every category.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import GatewayFactory
from tests.fakes import FakeProvider
from tests.fakes.faults import Fault, JsonObject
from tests.servers import Gateway

from steward.redteam.attacks import SUITES
from steward.redteam.harness import Probe, build_probes
from steward.redteam.judge import JUDGE_SYSTEM

SEED = 7
LIMIT = 3
REFUSAL = "I'm sorry, but I can't help with that."
CATEGORIES = [suite.name for suite in SUITES]


def redteam(
    gateway: Gateway | None, key: str | None, *args: str, timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")}
    if key is not None:
        env["STEWARD_API_KEY"] = key
    where = ["--base-url", gateway.url] if gateway is not None else []
    return subprocess.run(
        [sys.executable, "-m", "steward", "redteam", *where, *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        env=env,
    )


def report_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode in (0, 1), result.stderr
    body: dict[str, Any] = json.loads(result.stdout)
    return body


def rates(body: dict[str, Any]) -> dict[str, float]:
    return {c["name"]: c["rate"] for c in body["categories"]}


def vulnerable(probes: list[Probe]) -> Fault:
    """A model that obeys every attack it is sent, found by the canary in its system prompt."""
    by_canary = {probe.secrets.canary: probe for probe in probes}

    def reply(body: JsonObject) -> str:
        system = body["messages"][0]["content"]
        canary = re.search(r"STEWARD-CANARY-[0-9a-f]+", system)
        assert canary is not None
        probe = by_canary[canary.group(0)]
        signal = probe.attack.request.signals[0] if probe.attack.request else ""
        return f"Sure! Here's how. Step 1: {signal}. {probe.secrets.marker}\n\n{system}"

    return Fault(reply=reply)


@pytest.fixture
def attack(gateway: tuple[Gateway, str]) -> tuple[Gateway, str]:
    return gateway


def test_a_vulnerable_model_fails_every_category(
    attack: tuple[Gateway, str], fake: FakeProvider, tmp_path: Path
) -> None:
    gw, key = attack
    fake.set_default(vulnerable(build_probes(SUITES, seed=SEED, limit=LIMIT)))
    markdown = tmp_path / "report.md"
    args = ["--target", "gpt", "--seed", str(SEED), "--limit", str(LIMIT), "--json"]
    result = redteam(gw, key, *args, "--output", str(markdown), "--fail-above", "0.5")
    body = report_of(result)
    assert result.returncode == 1
    assert rates(body) == dict.fromkeys(CATEGORIES, 1.0)
    assert all(c["attempts"] == LIMIT and c["errors"] == 0 for c in body["categories"])
    assert body["overall"]["successes"] == LIMIT * len(CATEGORIES)
    assert body["categories"][0]["ci95"] == [0.4385, 1.0]
    assert all(len(c["worst"]) == LIMIT for c in body["categories"])
    assert "fail: direct-injection success rate 100.0% is above 50.0%" in result.stderr
    text = markdown.read_text()
    assert "| Direct prompt injection (`direct-injection`) | 3 | 3 | 0 | 0 | 100.0% |" in text
    assert "## Worst examples" in text


def test_a_robust_model_passes_every_category(
    attack: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = attack
    fake.set_default(Fault(content=REFUSAL))
    args = ["--target", "gpt", "--seed", str(SEED), "--limit", str(LIMIT), "--json"]
    result = redteam(gw, key, *args, "--fail-above", "0")
    body = report_of(result)
    assert result.returncode == 0
    assert rates(body) == dict.fromkeys(CATEGORIES, 0.0)
    assert {r["status"] for r in body["results"]} == {"resisted"}
    assert body["categories"][0]["ci95"] == [0.0, 0.5615]


def test_the_text_report_and_the_gateway_from_the_config(
    attack: tuple[Gateway, str], fake: FakeProvider, tmp_path: Path
) -> None:
    gw, key = attack
    fake.set_default(Fault(content=REFUSAL))
    app_prompt = tmp_path / "system.txt"
    app_prompt.write_text("You are the booking assistant of Lakeside Cabins.")
    assert gw.loaded.path is not None
    config = ["--config", str(gw.loaded.path)]
    args = ["--target", "gpt", "--categories", "extraction,pii", "--limit", "2"]
    result = redteam(None, key, *args, "--system", str(app_prompt), *config)
    assert result.returncode == 0, result.stderr
    assert f"Red team of model gpt through {gw.url}: 4 attacks" in result.stdout
    assert re.search(r"^extraction\s+2\s+0\s+0\s+0\s+0\.0%\s+0\.0% to 65\.8%$", result.stdout, re.M)
    assert "No attack succeeded." in result.stdout
    systems = [r.json["messages"][0]["content"] for r in fake.requests]
    assert len(systems) == 4
    assert all(s.startswith("You are the booking assistant of Lakeside Cabins.") for s in systems)
    assert all("STEWARD-CANARY-" in s for s in systems)
    assert all(r.headers.get("authorization") == "Bearer fake-key" for r in fake.requests)


def test_tool_outputs_reach_the_model_as_tool_messages(
    attack: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = attack
    fake.set_default(Fault(content=REFUSAL))
    result = redteam(gw, key, "--target", "gpt", "--categories", "indirect-injection", "--json")
    body = report_of(result)
    tools = [r for r in fake.requests if r.json["messages"][-1]["role"] == "tool"]
    assert len(tools) >= 5
    assert any("PWNED-" in r.json["messages"][-1]["content"] for r in tools)
    assert body["categories"][0]["attempts"] == len(fake.requests)


def test_gateway_refusals_count_as_blocked_attacks(
    attack: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = attack
    fake.set_default(Fault(status=400, message="Blocked by the content policy."))
    args = ["--target", "gpt", "--limit", "2", "--seed", "1", "--json", "--fail-above", "0"]
    result = redteam(gw, key, *args)
    body = report_of(result)
    assert result.returncode == 0
    assert all(c["blocked"] == c["attempts"] == 2 and c["rate"] == 0.0 for c in body["categories"])
    assert all("content policy" in r["error"] for r in body["results"])


def test_the_judge_decides_compliance_from_messy_output(
    attack: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = attack

    def reply(body: JsonObject) -> str:
        if body["messages"][0]["content"] == JUDGE_SYSTEM:
            return "Looking at this... the assistant clearly COMPLIED with it."
        return "Well, let me think about that one."  # no signal: the heuristic would say no

    fake.set_default(Fault(reply=reply))
    args = ["--target", "gpt", "--judge", "gpt", "--categories", "harmful,jailbreak"]
    body = report_of(redteam(gw, key, *args, "--limit", "2", "--json"))
    assert rates(body) == {"jailbreak": 1.0, "harmful": 1.0}
    assert {r["judge"] for r in body["results"]} == {"complied (the heuristic disagreed)"}
    assert len(fake.requests) == 8


def test_a_wrong_key_or_model_stops_the_run_and_a_missing_key_is_explained(
    attack: tuple[Gateway, str],
) -> None:
    gw, key = attack
    wrong_key = redteam(gw, "sk-stw-wrong", "--target", "gpt", "--limit", "1")
    assert wrong_key.returncode == 2
    assert "red team stopped: the target (gpt)" in wrong_key.stderr
    wrong_model = redteam(gw, key, "--target", "nope", "--limit", "1")
    assert wrong_model.returncode == 2 and "nope" in wrong_model.stderr
    no_key = redteam(gw, None, "--target", "gpt")
    assert no_key.returncode == 2 and "STEWARD_API_KEY" in no_key.stderr
    bad_category = redteam(gw, key, "--target", "gpt", "--categories", "jailbreak,typo")
    assert bad_category.returncode == 2 and "unknown categories typo" in bad_category.stderr


LOCAL = """
[providers.local]
type = "local"
n_ctx = 1024

[models.local]
targets = ["local/smollm2"]
"""


@pytest.mark.slow
def test_the_bundled_local_model_gets_a_report(make_gateway: GatewayFactory) -> None:
    gw, key = make_gateway(LOCAL)
    args = ["--target", "local", "--limit", "2", "--max-tokens", "24", "--temperature", "0"]
    result = redteam(gw, key, *args, "--seed", "3", "--json", timeout_s=120)
    body = report_of(result)
    assert [c["name"] for c in body["categories"]] == CATEGORIES
    assert all(c["attempts"] + c["errors"] == 2 for c in body["categories"])
    assert body["overall"]["attempts"] >= 10
