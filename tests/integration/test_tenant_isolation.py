"""Every admin endpoint, generated from the endpoint table, tried with the wrong team's key."""

from __future__ import annotations

import re
from typing import Any

import pytest
from tests.conftest import GatewayFactory
from tests.integration.tenancy import Tenant, api, make_tenant
from tests.servers import Gateway

from steward.server.admin.endpoints import ENDPOINTS, Endpoint


@pytest.fixture
def org(make_gateway: GatewayFactory) -> tuple[Gateway, str, Tenant, Tenant]:
    gw, _ = make_gateway()
    admin = gw.admin_key()
    alpha, beta = (make_tenant(gw, admin, name, call=True) for name in ("alpha", "beta"))
    return gw, admin, alpha, beta


def _ids(tenant: Tenant) -> dict[str, str]:
    return {
        "team_id": tenant.team_id,
        "app_id": tenant.app_id,
        "key_id": tenant.app_key_id,
        "budget_id": tenant.budget_id,
        "request_id": tenant.request_id,
    }


def _body_aimed_at(endpoint: Endpoint, victim: Tenant) -> dict[str, Any] | None:
    """A valid body whose references point into the victim's team."""
    if endpoint.body is None:
        return None
    fields = endpoint.body.model_fields
    body: dict[str, Any] = {}
    if "name" in fields:
        body["name"] = "intruder"
    if "team_id" in fields:
        body["team_id"] = victim.team_id
    if endpoint.path == "/api/keys":
        body["app_id"] = victim.app_id
    if endpoint.path == "/api/budgets":
        body.update(scope="app", scope_id=victim.app_id, period="daily", limit_usd=1.0)
    return body


def _path(endpoint: Endpoint, victim: Tenant) -> str:
    ids = _ids(victim)
    return re.sub(r"{(\w+)}", lambda m: ids[m.group(1)], endpoint.path)


def _secrets(tenant: Tenant) -> set[str]:
    return set(_ids(tenant).values())


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
def test_a_team_cannot_reach_another_teams_resources(
    org: tuple[Gateway, str, Tenant, Tenant], endpoint: Endpoint
) -> None:
    gw, _, alpha, beta = org
    path, body = _path(endpoint, beta), _body_aimed_at(endpoint, beta)
    with api(gw, alpha.owner_key) as client:
        response = client.request(endpoint.method, path, json=body)
    text = response.body.decode()
    sent = path + repr(body)  # an error may repeat what was asked for, nothing more
    leaked = [ident for ident in _secrets(beta) if ident in text and ident not in sent]
    if "{" in endpoint.path or (endpoint.body is not None and endpoint.path != "/api/teams"):
        # Aimed at the other team: refused without confirming that the resource exists.
        assert response.status in (403, 404), (response.status, text)
    elif endpoint.path == "/api/teams" and endpoint.method == "POST":
        assert response.status == 403  # only admins create teams
    else:
        assert response.status == 200, text  # a listing: only the caller's own team
    assert not leaked, f"{endpoint.method} {endpoint.path} showed team beta's {leaked}"
    assert "error" in response.json() or response.status == 200


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
def test_app_keys_and_missing_keys_are_refused_on_every_endpoint(
    org: tuple[Gateway, str, Tenant, Tenant], endpoint: Endpoint
) -> None:
    gw, _, alpha, _ = org
    path = _path(endpoint, alpha)
    with api(gw, alpha.app_key) as client:
        as_app = client.request(endpoint.method, path, json=_body_aimed_at(endpoint, alpha))
    assert as_app.status == 403, as_app.body
    assert "/v1" in as_app.json()["error"]["message"]
    with api(gw, None) as client:
        anonymous = client.request(endpoint.method, path, json=_body_aimed_at(endpoint, alpha))
    assert anonymous.status == 401
    assert anonymous.json()["error"]["type"] == "authentication_error"


def test_the_owner_sees_their_own_team_in_listings(
    org: tuple[Gateway, str, Tenant, Tenant],
) -> None:
    gw, admin, alpha, beta = org
    with api(gw, alpha.owner_key) as client:
        for path in ("/api/teams", "/api/apps", "/api/keys", "/api/budgets"):
            data = client.get(path).json()["data"]
            assert data and all(row.get("team_id", row.get("id")) == alpha.team_id for row in data)
    with api(gw, admin) as client:
        teams = {row["id"] for row in client.get("/api/teams").json()["data"]}
    assert {alpha.team_id, beta.team_id} <= teams
