"""The admin API: teams, apps, keys and budgets through HTTP, every action audited; rotation,
and revocation seen by a second gateway within seconds."""

from __future__ import annotations

import subprocess
import sys
import time

import openai
import pytest
from tests.conftest import GatewayFactory
from tests.integration.tenancy import api, created, make_tenant
from tests.servers import Gateway

from steward.server.admin.endpoints import ENDPOINTS

USER = [{"role": "user", "content": "hi"}]
FAST = "\n[auth]\nrefresh_interval_s = 0.5\n"


@pytest.fixture
def admin(make_gateway: GatewayFactory) -> tuple[Gateway, str]:
    gw, _ = make_gateway(FAST)
    return gw, gw.admin_key()


def test_the_openapi_document_describes_every_endpoint(admin: tuple[Gateway, str]) -> None:
    gw, _ = admin
    with api(gw, None) as client:
        doc = client.get("/api/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    for endpoint in ENDPOINTS:
        operation = doc["paths"][endpoint.path][endpoint.method.lower()]
        assert operation["summary"] == endpoint.summary
        assert operation["x-permission"] == endpoint.permission
        if endpoint.body is not None:
            ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert ref.rsplit("/", 1)[-1] in doc["components"]["schemas"]


def test_bad_bodies_get_errors_that_name_the_field(admin: tuple[Gateway, str]) -> None:
    gw, key = admin
    with api(gw, key) as client:
        unknown = client.post("/api/teams", json={"name": "x", "colour": "red"})
        missing = client.post("/api/budgets", json={"scope": "team"})
        duplicate = [client.post("/api/teams", json={"name": "dup"}) for _ in range(2)][1]
    assert unknown.status == 400 and "colour" in unknown.json()["error"]["message"]
    assert missing.status == 400 and "scope_id" in missing.json()["error"]["message"]
    assert duplicate.status == 400 and "already exists" in duplicate.json()["error"]["message"]


def test_roles_limit_what_a_person_may_do(admin: tuple[Gateway, str]) -> None:
    gw, key = admin
    tenant = make_tenant(gw, key, "core")
    with api(gw, tenant.owner_key) as owner:
        dev = created(owner.post("/api/keys", json={"name": "d", "role": "developer"}))
        viewer = created(owner.post("/api/keys", json={"name": "v", "role": "viewer"}))
        assert owner.post("/api/keys", json={"name": "a", "role": "admin"}).status == 403
    with api(gw, dev["secret"]) as developer:
        assert developer.post("/api/keys", json={"name": "o", "role": "owner"}).status == 403
        assert created(developer.post("/api/keys", json={"name": "k", "app_id": tenant.app_id}))
        spec = {"scope": "team", "scope_id": tenant.team_id, "period": "daily", "limit_usd": 1}
        assert developer.post("/api/budgets", json=spec).status == 403
    with api(gw, viewer["secret"]) as view:
        assert view.get("/api/apps").status == 200
        refused = view.post("/api/apps", json={"name": "nope"})
    assert refused.status == 403 and "apps:write" in refused.json()["error"]["message"]
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=viewer["secret"], max_retries=0) as c:
        with pytest.raises(openai.PermissionDeniedError):
            c.chat.completions.create(model="gpt", messages=USER)


def test_a_rotated_key_overlaps_then_expires(admin: tuple[Gateway, str]) -> None:
    gw, key = admin
    tenant = make_tenant(gw, key, "rot")
    with api(gw, tenant.owner_key) as owner:
        rotated = created(
            owner.post(f"/api/keys/{tenant.app_key_id}/rotate", json={"overlap_s": 1.5})
        )
    new = rotated["new"]["secret"]
    assert rotated["old"]["rotated_to"] == rotated["new"]["id"]
    for secret in (tenant.app_key, new):
        with openai.OpenAI(base_url=gw.url + "/v1", api_key=secret, max_retries=0) as c:
            c.chat.completions.create(model="gpt", messages=USER)
    deadline = time.monotonic() + 5
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=tenant.app_key, max_retries=0) as c:
        while True:
            try:
                c.chat.completions.create(model="gpt", messages=USER)
            except openai.AuthenticationError:
                break
            assert time.monotonic() < deadline, "the old key outlived its overlap"
            time.sleep(0.1)
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=new, max_retries=0) as c:
        c.chat.completions.create(model="gpt", messages=USER)


def test_a_key_revoked_on_one_gateway_is_refused_by_another_within_5_s(
    make_gateway: GatewayFactory, tmp_path: object
) -> None:
    database = f"sqlite:///{tmp_path}/shared.db"
    one, _ = make_gateway(FAST.replace("0.5", "2"), storage_url=database)
    two, _ = make_gateway(FAST.replace("0.5", "2"), storage_url=database)
    tenant = make_tenant(one, one.admin_key(), "gone")
    two.runtime.refresher.refresh()
    with openai.OpenAI(base_url=two.url + "/v1", api_key=tenant.app_key, max_retries=0) as c:
        c.chat.completions.create(model="gpt", messages=USER)
        with api(one, tenant.owner_key) as owner:
            assert owner.request("DELETE", f"/api/keys/{tenant.app_key_id}").status == 200
        revoked_at = time.monotonic()
        while True:
            try:
                c.chat.completions.create(model="gpt", messages=USER)
            except openai.AuthenticationError:
                break
            assert time.monotonic() - revoked_at < 5, "gateway two still accepts a revoked key"
            time.sleep(0.05)


def test_every_admin_action_is_audited_and_the_chain_verifies(admin: tuple[Gateway, str]) -> None:
    gw, key = admin
    tenant = make_tenant(gw, key, "audited")
    with api(gw, tenant.owner_key) as owner:
        owner.request("DELETE", f"/api/keys/{tenant.app_key_id}")
        own_log = owner.get("/api/audit").json()["data"]
    actions = [entry["action"] for entry in reversed(own_log)]
    assert actions == [
        "team.create",
        "key.create",
        "app.create",
        "key.create",
        "budget.create",
        "key.revoke",
    ]
    revoke = own_log[0]
    assert revoke["before"]["revoked_at"] is None and revoke["after"]["revoked_at"]
    assert "key_hash" not in revoke["after"] and revoke["actor_id"] == tenant.owner_key_id
    other = make_tenant(gw, key, "elsewhere")
    with api(gw, tenant.owner_key) as owner:
        teams = {entry["team_id"] for entry in owner.get("/api/audit").json()["data"]}
    assert teams == {tenant.team_id} and other.team_id not in teams
    result = subprocess.run(
        [sys.executable, "-m", "steward", "audit", "verify", "--config", str(gw.loaded.path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "intact" in result.stdout
