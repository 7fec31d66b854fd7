"""`GET /metrics` over real HTTP, parsed with Prometheus' own text parser.

One scenario drives every kind of request through a gateway over the fake upstreams: a success,
a stream, an upstream 400, an upstream 500 that falls back to the secondary, a cache miss and
hit, a rate-limit refusal and an unknown model. The counters must match those calls exactly, and
the tokens and cost must match the records in the database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from tests import rawhttp
from tests.conftest import GatewayFactory
from tests.fakes import FakeProvider, Fault
from tests.integration.records import latest
from tests.integration.test_fallback import routing_toml
from tests.servers import Gateway

import steward
from steward.observe.metrics import LATENCY_BUCKETS_S
from steward.storage import budgets, keys, teams
from steward.storage.requests import list_records

USER = [{"role": "user", "content": "what is the capital of France"}]
FLAKY = "up/gpt-flaky"
SCENARIO = f"""
[pricing."up/gpt-test"]
input_per_mtok = 1000
output_per_mtok = 2000

[models.pair]
targets = ["{FLAKY}", "backup/gpt-backup"]
retries = 0

[models.cached]
targets = ["up/gpt-test"]
cache = {{ exact = true }}

[models.tight]
targets = ["up/gpt-test"]
rpm = 1

# The first upstream failure of a target opens its breaker; a 400 is not a failure.
[breaker]
min_requests = 1
failure_ratio = 0.5
open_s = 600
"""


@dataclass
class Scrape:
    """A parsed scrape: every sample, and lookups by name and labels."""

    samples: list[Sample] = field(default_factory=list)
    types: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Scrape:
        scrape = cls()
        for family in text_string_to_metric_families(text):
            scrape.types[family.name] = family.type
            scrape.samples += family.samples
        return scrape

    def value(self, name: str, **labels: str) -> float:
        found = [
            s.value for s in self.samples if s.name == name and labels.items() <= s.labels.items()
        ]
        assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
        return found[0]

    def total(self, name: str, **labels: str) -> float:
        return sum(
            s.value for s in self.samples if s.name == name and labels.items() <= s.labels.items()
        )

    def label_values(self) -> set[str]:
        return {v for s in self.samples for v in s.labels.values()}


def scrape(gw: Gateway, headers: dict[str, str] | None = None) -> Scrape:
    response = rawhttp.request("GET", gw.url + "/metrics", headers=headers)
    assert response.status == 200, response.body
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return Scrape.parse(response.body.decode())


def client(gw: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0, timeout=15)


def chat(gw: Gateway, key: str, model: str, **params: Any) -> int:
    """Status of one chat call (the SDK's error carries it for failures)."""
    with client(gw, key) as c:
        try:
            c.chat.completions.create(model=model, messages=USER, **params)
        except openai.APIStatusError as exc:
            return exc.status_code
    return 200


@dataclass
class Scenario:
    gw: Gateway
    key_id: str
    team_id: str
    budget_ids: list[str]
    scrape: Scrape


@pytest.fixture
def scenario(make_gateway: GatewayFactory, fake: FakeProvider, backup: FakeProvider) -> Scenario:
    gw, _ = make_gateway(routing_toml(backup, SCENARIO))
    engine = gw.runtime.engine
    team = teams.create_team(engine, name="ml")
    row, key = keys.create_key(engine, name="svc", role="app", team_id=team.id)
    gw.runtime.refresher.refresh()

    assert chat(gw, key, "gpt", user="alice@example.com") == 200
    with client(gw, key) as c:
        text = "".join(
            chunk.choices[0].delta.content or ""
            for chunk in c.chat.completions.create(model="gpt", messages=USER, stream=True)
            if chunk.choices
        )
    assert text == "echo: what is the capital of France"
    fake.script(Fault(status=400))
    assert chat(gw, key, "gpt") == 400
    fake.script(Fault(status=500))
    assert chat(gw, key, "pair") == 200
    assert chat(gw, key, "cached", temperature=0) == 200
    assert chat(gw, key, "cached", temperature=0) == 200
    assert chat(gw, key, "tight") == 200
    assert chat(gw, key, "tight") == 429
    assert chat(gw, key, "no-such-model-1f3a") == 404
    latest(gw)  # every record (the stream's too) is submitted, and written

    spent_ids = [
        budgets.create_budget(
            engine, scope="team", scope_id=team.id, team_id=team.id, period="monthly", limit_usd=2.0
        ).id,
        budgets.create_budget(
            engine, scope="key", scope_id=row.id, team_id=team.id, period="daily", limit_usd=5.0
        ).id,
    ]
    gw.runtime.refresher.refresh()
    return Scenario(gw, row.id, team.id, spent_ids, scrape(gw))


def test_request_counters_match_the_calls(scenario: Scenario) -> None:
    m = scenario.scrape
    assert m.types["steward_requests"] == "counter"
    requests = "steward_requests_total"
    assert m.value(requests, model="gpt", endpoint="chat", status_class="2xx", cache="none") == 2
    assert m.value(requests, model="gpt", status_class="4xx") == 1
    assert m.value(requests, model="pair", status_class="2xx") == 1
    assert m.value(requests, model="cached", cache="miss") == 1
    assert m.value(requests, model="cached", cache="hit") == 1
    assert m.value(requests, model="tight", status_class="2xx") == 1
    assert m.value(requests, model="tight", status_class="4xx") == 1
    assert m.value(requests, model="unknown", status_class="4xx") == 1
    assert m.total(requests) == 9

    errors = "steward_request_errors_total"
    assert m.value(errors, model="gpt", error_type="upstream_error") == 1
    assert m.value(errors, model="tight", error_type="rate_limit_error") == 1
    assert m.value(errors, model="unknown", error_type="invalid_request_error") == 1
    assert m.total(errors) == 3
    refusals = "steward_limit_refusals_total"
    assert m.value(refusals, model="tight", team=scenario.team_id, kind="rate_limit") == 1
    assert m.total(refusals) == 1

    assert m.value("steward_upstream_attempts_total", model="pair") == 2
    assert m.value("steward_retries_total", model="pair") == 1
    assert m.value("steward_fallbacks_total", model="pair") == 1
    assert m.total("steward_fallbacks_total") == 1
    assert m.value("steward_upstream_attempts_total", model="gpt") == 3

    assert m.value("steward_cache_lookups_total", model="cached", outcome="hit") == 1
    assert m.value("steward_cache_lookups_total", model="cached", outcome="miss") == 1


def test_histograms_count_every_request_and_streams_first_tokens(scenario: Scenario) -> None:
    m = scenario.scrape
    assert m.types["steward_request_duration_seconds"] == "histogram"
    duration = "steward_request_duration_seconds"
    assert m.value(duration + "_count", model="gpt", endpoint="chat") == 3
    assert m.total(duration + "_count") == 9
    assert m.value(duration + "_bucket", model="gpt", le="+Inf") == 3
    bounds = [s.labels["le"] for s in m.samples if s.name == duration + "_bucket"][:13]
    assert bounds == [*(str(b) for b in LATENCY_BUCKETS_S), "+Inf"]
    ttft = "steward_time_to_first_token_seconds"
    assert m.value(ttft + "_count", model="gpt", endpoint="chat") == 1
    assert m.total(ttft + "_count") == 1
    assert 0 < m.value(ttft + "_sum", model="gpt") < m.value(duration + "_sum", model="gpt")


def test_tokens_and_cost_match_the_records(scenario: Scenario) -> None:
    m = scenario.scrape
    records = list_records(scenario.gw.runtime.engine, limit=100)
    assert len(records) == 9
    served = [r for r in records if r.public_model == "gpt" and r.target == "up/gpt-test"]
    input_tokens = sum(r.input_tokens or 0 for r in served)
    assert input_tokens > 0
    assert m.value("steward_input_tokens_total", model="gpt", target="up/gpt-test") == input_tokens
    output_tokens = sum(r.output_tokens or 0 for r in served)
    assert (
        m.value("steward_output_tokens_total", model="gpt", target="up/gpt-test") == output_tokens
    )
    cost = m.value(
        "steward_cost_usd_total", model="gpt", target="up/gpt-test", team=scenario.team_id
    )
    assert cost == pytest.approx(sum(r.cost_usd or 0 for r in served))
    assert cost > 0
    assert m.total("steward_cost_usd_total") == pytest.approx(sum(r.cost_usd or 0 for r in records))


def test_runtime_gauges_are_read_at_scrape_time(scenario: Scenario) -> None:
    m = scenario.scrape
    assert m.value("steward_breaker_state", target=FLAKY, state="open") == 1
    assert m.value("steward_breaker_state", target=FLAKY, state="closed") == 0
    assert m.value("steward_breaker_state", target="up/gpt-test", state="closed") == 1
    assert m.value("steward_breaker_state", target="backup/gpt-backup", state="closed") == 1
    assert m.types["steward_record_queue_depth"] == "gauge"
    assert m.value("steward_record_queue_depth") >= 0
    assert m.value("steward_record_spool_records") == 0
    assert m.value("steward_record_writer_spooling") == 0
    assert m.value("steward_records_written_total") == 9
    assert m.value("steward_api_keys") == 2
    assert m.value("steward_info", version=steward.__version__) == 1

    book = scenario.gw.runtime.directory.budgets
    team_budget, key_budget = scenario.budget_ids
    spent = book.spent(team_budget)
    assert spent > 0  # the database's sum of the team's priced calls, at the last reload
    labels = {"budget": team_budget, "scope": "team", "period": "monthly"}
    assert m.value("steward_budget_spent_usd", **labels) == pytest.approx(spent)
    assert m.value("steward_budget_limit_usd", **labels) == 2.0
    assert m.value("steward_budget_used_ratio", **labels) == pytest.approx(spent / 2.0)
    assert m.value("steward_budget_used_ratio", budget=key_budget, scope="key") == pytest.approx(
        book.spent(key_budget) / 5.0
    )


def test_no_label_is_a_key_request_id_user_or_unconfigured_model(scenario: Scenario) -> None:
    values = scenario.scrape.label_values()
    records = list_records(scenario.gw.runtime.engine, limit=100)
    forbidden = {scenario.key_id, "alice@example.com", "no-such-model-1f3a"}
    forbidden |= {r.id for r in records} | {r.key_id for r in records if r.key_id}
    assert not values & forbidden
    assert not [v for v in values if v.startswith("key_")]


def test_metrics_can_require_an_admin_key(make_gateway: GatewayFactory) -> None:
    gw, app_key = make_gateway("[metrics]\nrequire_key = true\n")
    url = gw.url + "/metrics"
    assert rawhttp.request("GET", url).status == 401
    assert rawhttp.request("GET", url, headers=bearer(app_key)).status == 403
    team = teams.create_team(gw.runtime.engine, name="ops")
    viewer = gw.admin_key("viewer", team_id=team.id)
    refused = rawhttp.request("GET", url, headers=bearer(viewer))
    assert refused.status == 403
    assert "every team" in json.loads(refused.body)["error"]["message"]
    assert scrape(gw, bearer(gw.admin_key())).value("steward_api_keys") == 3


def test_metrics_can_be_turned_off(make_gateway: GatewayFactory) -> None:
    gw, key = make_gateway("[metrics]\nenabled = false\n")
    assert chat(gw, key, "gpt") == 200
    assert gw.runtime.metrics is None
    assert rawhttp.request("GET", gw.url + "/metrics").status == 404


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}
