"""Rate limits and budgets through the gateway: 429s that name the limit, bounded overshoot
under 200 concurrent requests on one process and on two sharing Redis, costs on records."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from tests.conftest import GatewayFactory, fake_providers_toml
from tests.fakes import FakeProvider
from tests.integration.tenancy import Tenant, api, created, make_tenant
from tests.integration.test_lifecycle import STEWARD, wait_ready
from tests.servers import Gateway, free_port, write_config

USER = [{"role": "user", "content": "hi"}]
# $0.01 per input token, $0.02 per output token: the fake's "echo: hi" costs $0.05.
PRICED = """
[pricing."up/gpt-test"]
input_per_mtok = 10000
output_per_mtok = 20000

[auth]
refresh_interval_s = 0.5
"""
MAX_TOKENS = 5


def client(gw_url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw_url + "/v1", api_key=key, max_retries=0)


@pytest.fixture
def priced(make_gateway: GatewayFactory) -> tuple[Gateway, str]:
    gw, _ = make_gateway(PRICED)
    return gw, gw.admin_key()


def test_an_app_over_its_rpm_gets_a_429_naming_the_limit(priced: tuple[Gateway, str]) -> None:
    gw, admin = priced
    tenant = make_tenant(gw, admin, "ops")
    with api(gw, tenant.owner_key) as own:
        assert own.request("PATCH", f"/api/apps/{tenant.app_id}", json={"rpm": 3}).status == 200
    with client(gw.url, tenant.app_key) as c:
        for _ in range(3):
            c.chat.completions.create(model="gpt", messages=USER)
        with pytest.raises(openai.RateLimitError) as info:
            c.chat.completions.create(model="gpt", messages=USER)
    error = info.value
    assert "requests per minute of app ops-app" in error.message
    assert error.code == "rate_limit_exceeded"
    assert 1 <= int(error.response.headers["retry-after"]) <= 61


def test_tokens_per_minute_reserve_max_tokens_up_front(
    make_gateway: GatewayFactory,
) -> None:
    gw, key = make_gateway(PRICED + '\n[models.small]\ntargets = ["up/gpt-test"]\ntpm = 300\n')
    with client(gw.url, key) as c:
        c.chat.completions.create(model="small", messages=USER, max_tokens=200)
        # The first call settled at its real size (a few tokens), so 200 fit again...
        c.chat.completions.create(model="small", messages=USER, max_tokens=200)
        # ...but not 400 in one request, whatever is free.
        with pytest.raises(openai.RateLimitError) as info:
            c.chat.completions.create(model="small", messages=USER, max_tokens=400)
    assert "tokens per minute of model small" in info.value.message


def test_a_spent_budget_blocks_with_a_429_that_names_it_and_its_reset(
    priced: tuple[Gateway, str],
) -> None:
    gw, admin = priced
    tenant = make_tenant(gw, admin, "tiny", limit_usd=0.30, period="daily")
    worst = _worst_case_usd(gw)  # $0.18: 8 estimated prompt tokens and 5 output tokens
    assert worst == pytest.approx(0.18)
    with client(gw.url, tenant.app_key) as c:
        for _ in range(3):  # $0.05 each; a fourth could bring the spend to 0.15 + 0.18
            c.chat.completions.create(model="gpt", messages=USER, max_tokens=MAX_TOKENS)
        with pytest.raises(openai.RateLimitError) as info:
            c.chat.completions.create(model="gpt", messages=USER, max_tokens=MAX_TOKENS)
    error = info.value
    assert error.code == "budget_exceeded"
    assert f"daily budget {tenant.budget_id}" in error.message and "resets at" in error.message
    assert int(error.response.headers["retry-after"]) >= 1
    gw.flush()
    with api(gw, tenant.owner_key) as own:
        status = own.get(f"/api/budgets/{tenant.budget_id}").json()
    assert status["spent_usd"] == pytest.approx(0.15)
    assert status["used_fraction"] == pytest.approx(0.5) and status["resets_at"]


def test_a_model_with_output_guards_reserves_for_its_reasks_and_samples(
    make_gateway: GatewayFactory,
) -> None:
    checked = '\n[models.checked]\ntargets = ["up/gpt-test"]\n[models.checked.guards.output]\n'
    gw, _ = make_gateway(PRICED + checked + "reask_attempts = 1\nconfidence = { samples = 1 }\n")
    tenant = make_tenant(gw, gw.admin_key(), "careful", limit_usd=0.30, period="daily")
    worst = _worst_case_usd(gw)  # $0.18 for one call: "checked" may make three
    with client(gw.url, tenant.app_key) as c:
        with pytest.raises(openai.RateLimitError) as info:
            c.chat.completions.create(model="checked", messages=USER, max_tokens=MAX_TOKENS)
        assert f"could cost up to ${3 * worst:.4f}" in info.value.message
        c.chat.completions.create(model="gpt", messages=USER, max_tokens=MAX_TOKENS)


async def _hammer(urls: list[str], key: str, count: int) -> tuple[int, int]:
    clients = [openai.AsyncOpenAI(base_url=u + "/v1", api_key=key, max_retries=0) for u in urls]
    codes: set[str] = set()

    async def one(i: int) -> bool:
        try:
            await clients[i % len(clients)].chat.completions.create(
                model="gpt", messages=USER, max_tokens=MAX_TOKENS
            )
            return True
        except openai.RateLimitError as exc:
            codes.add(str(exc.code))
            return False

    try:
        results = await asyncio.gather(*(one(i) for i in range(count)))
    finally:
        for c in clients:
            await c.close()
    assert codes <= {"budget_exceeded"}
    return sum(results), count - sum(results)


def _worst_case_usd(gw: Gateway) -> float:
    from steward.costs import estimate_input_tokens
    from steward.routing.targets import Target
    from steward.wire.openai import ChatRequest

    request = ChatRequest.model_validate({"model": "gpt", "messages": USER})
    tokens = estimate_input_tokens(request)
    return gw.runtime.pricing.worst_case_usd(Target("up", "gpt-test"), tokens, MAX_TOKENS)


def _recorded_spend(gw: Gateway, tenant: Tenant) -> float:
    gw.flush()
    with api(gw, tenant.owner_key) as own:
        report = own.get("/api/costs?group_by=team").json()
    return float(report["totals"]["cost_usd"])


def test_200_concurrent_requests_overshoot_a_budget_by_at_most_one_worst_case(
    priced: tuple[Gateway, str],
) -> None:
    gw, admin = priced
    tenant = make_tenant(gw, admin, "burst", limit_usd=1.0)
    admitted, refused = asyncio.run(_hammer([gw.url], tenant.app_key, 200))
    spent = _recorded_spend(gw, tenant)
    # Reservations at the worst case admit at least floor(limit / worst) at once.
    assert refused > 0 and admitted >= int(1.0 // _worst_case_usd(gw))
    assert spent == pytest.approx(admitted * 0.05)
    assert spent <= 1.0 + _worst_case_usd(gw)


@pytest.fixture
def replica(
    tmp_path: Path, fake: FakeProvider, redis_url: str, redis_prefix: str
) -> Iterator[tuple[str, str]]:
    """A second `steward serve` process on the same database and Redis (url, storage url)."""
    database = f"sqlite:///{tmp_path}/shared.db"
    redis = f'\n[redis]\nurl = "{redis_url}"\nkey_prefix = "{redis_prefix}"\ntimeout_s = 2.0\n'
    port = free_port()
    storage = f'[storage]\nurl = "{database}"\nflush_interval_s = 0.05\n\n'
    path = write_config(
        tmp_path / "replica", storage + fake_providers_toml(fake) + PRICED + redis, port=port
    )
    proc = subprocess.Popen(
        [*STEWARD, "serve", "--config", str(path)],
        cwd=path.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc)
        yield url, database
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.redis
def test_two_replicas_sharing_redis_hold_one_budget(
    make_gateway: GatewayFactory,
    replica: tuple[str, str],
    redis_url: str,
    redis_prefix: str,
) -> None:
    url_b, database = replica
    redis = f'\n[redis]\nurl = "{redis_url}"\nkey_prefix = "{redis_prefix}"\ntimeout_s = 2.0\n'
    gw, _ = make_gateway(PRICED + redis, storage_url=database)
    tenant = make_tenant(gw, gw.admin_key(), "fleet", limit_usd=1.0)
    _wait_until_known(url_b, tenant.app_key)
    admitted, refused = asyncio.run(_hammer([gw.url, url_b], tenant.app_key, 200))
    assert gw.runtime.limiter.outages == 0  # type: ignore[attr-defined]  # counted on Redis
    time.sleep(0.5)  # the other process's writer flushes every 50 ms
    spent = _recorded_spend(gw, tenant)
    # Reservations at the worst case admit at least floor(limit / worst) at once.
    assert refused > 0 and admitted >= int(1.0 // _worst_case_usd(gw))
    assert spent == pytest.approx(admitted * 0.05)
    assert spent <= 1.0 + _worst_case_usd(gw)


def _wait_until_known(url: str, key: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    with client(url, key) as c:
        while True:
            try:
                c.models.list()
                return
            except openai.AuthenticationError:
                assert time.monotonic() < deadline, "the replica never loaded the new key"
                time.sleep(0.1)


def test_a_streamed_call_costs_what_the_same_call_costs_unstreamed(
    priced: tuple[Gateway, str],
) -> None:
    gw, admin = priced
    tenant = make_tenant(gw, admin, "stream")
    with client(gw.url, tenant.app_key) as c:
        c.chat.completions.create(model="gpt", messages=USER)
        chunks = list(c.chat.completions.create(model="gpt", messages=USER, stream=True))
    assert chunks and all(chunk.usage is None for chunk in chunks)  # the client did not ask
    gw.flush()
    with api(gw, tenant.owner_key) as own:
        rows = own.get("/api/costs?group_by=key").json()["rows"]
    assert rows[0]["requests"] == 2 and rows[0]["unpriced_requests"] == 0
    from steward.storage.requests import list_records

    costs = {r.stream: r.cost_usd for r in list_records(gw.runtime.engine)}
    assert costs[True] == costs[False] == pytest.approx(0.05)


def test_costs_are_scoped_to_the_callers_team(priced: tuple[Gateway, str]) -> None:
    gw, admin = priced
    mine, theirs = make_tenant(gw, admin, "mine"), make_tenant(gw, admin, "theirs")
    for tenant, calls in ((mine, 1), (theirs, 3)):
        with client(gw.url, tenant.app_key) as c:
            for _ in range(calls):
                c.chat.completions.create(model="gpt", messages=USER)
    gw.flush()
    with api(gw, mine.owner_key) as own:
        report = own.get("/api/costs?group_by=team,model").json()
    assert [row["team"] for row in report["rows"]] == [mine.team_id]
    assert report["totals"]["cost_usd"] == pytest.approx(0.05)
    with api(gw, admin) as org:
        whole = org.get("/api/costs?group_by=team").json()
    assert whole["totals"]["cost_usd"] == pytest.approx(0.20)
    assert created is not None


def test_a_soft_threshold_fires_one_alert_per_period(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    from tests.fakes.webhook_receiver import WebhookReceiver

    from steward.storage.alerts import list_alerts

    with WebhookReceiver() as receiver:
        hook = f'\n[alerts]\nwebhooks = [{{url = "{receiver.url("/budget")}"}}]\n'
        gw, _ = make_gateway(PRICED + hook)
        tenant = make_tenant(gw, gw.admin_key(), "soft", limit_usd=1.0, thresholds=[0.1, 0.9])
        with client(gw.url, tenant.app_key) as c:
            for _ in range(3):  # $0.15: past 10 %, far from 90 %
                c.chat.completions.create(model="gpt", messages=USER, max_tokens=MAX_TOKENS)
        gw.flush()
        for _ in range(3):  # the refresher (every 0.5 s) reads the spend and checks thresholds
            gw.runtime.refresher.refresh()
        receiver.wait_for(1)
        (body,) = receiver.bodies("/budget")
    assert body["status"] == "firing" and tenant.budget_id in body["rule"]
    assert body["rule"].endswith("10%") and body["value"] == pytest.approx(0.15)
    (row,) = list_alerts(gw.runtime.engine)
    assert row.labels["budget"] == tenant.budget_id and row.state == "firing"
