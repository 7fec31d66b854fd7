"""Two teams set up through the admin API, each with an owner, an app, an app key and a budget."""

from __future__ import annotations

import http.client
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from tests.rawhttp import RawResponse
from tests.servers import Gateway

HELLO = [{"role": "user", "content": "hello"}]


@dataclass
class Tenant:
    team_id: str
    owner_key: str
    owner_key_id: str
    app_id: str
    app_key: str
    app_key_id: str
    budget_id: str
    request_id: str = ""
    """A call made with the app key and already recorded (`make_tenant(..., call=True)`)."""


class Api:
    """A JSON client for the admin API over one keep-alive connection."""

    def __init__(self, gw: Gateway, key: str | None) -> None:
        parts = urlsplit(gw.url)
        self._conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        self._headers = {"Content-Type": "application/json"}
        if key:
            self._headers["Authorization"] = f"Bearer {key}"

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self._conn.close()

    def request(self, method: str, path: str, json: Any = None) -> RawResponse:
        body = None if json is None else orjson.dumps(json)
        self._conn.request(method, path, body=body, headers=self._headers)
        response = self._conn.getresponse()
        data = response.read()
        return RawResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, data)

    def get(self, path: str) -> RawResponse:
        return self.request("GET", path)

    def post(self, path: str, json: Any = None) -> RawResponse:
        return self.request("POST", path, json if json is not None else {})


def api(gw: Gateway, key: str | None) -> Api:
    return Api(gw, key)


def created(response: RawResponse) -> dict[str, Any]:
    assert response.status == 201, response.body
    body: dict[str, Any] = response.json()
    return body


def make_tenant(
    gw: Gateway, admin_key: str, name: str, *, call: bool = False, **budget: Any
) -> Tenant:
    with api(gw, admin_key) as admin:
        team = created(admin.post("/api/teams", json={"name": name}))
        owner = created(
            admin.post(
                "/api/keys", json={"name": f"{name}-owner", "role": "owner", "team_id": team["id"]}
            )
        )
    with api(gw, owner["secret"]) as own:
        app = created(own.post("/api/apps", json={"name": f"{name}-app"}))
        key = created(own.post("/api/keys", json={"name": f"{name}-key", "app_id": app["id"]}))
        spec = {"scope": "team", "scope_id": team["id"], "period": "monthly", "limit_usd": 100.0}
        bud = created(own.post("/api/budgets", json={**spec, **budget}))
    gw.runtime.refresher.refresh()
    request_id = _recorded_call(gw, key["secret"]) if call else ""
    return Tenant(
        team_id=team["id"],
        owner_key=owner["secret"],
        owner_key_id=owner["id"],
        app_id=app["id"],
        app_key=key["secret"],
        app_key_id=key["id"],
        budget_id=bud["id"],
        request_id=request_id,
    )


def _recorded_call(gw: Gateway, app_key: str) -> str:
    """One chat call with `app_key` (model `gpt`), its record written: the record's id."""
    with api(gw, app_key) as app:
        reply = app.post("/v1/chat/completions", json={"model": "gpt", "messages": HELLO})
    assert reply.status == 200, reply.body
    gw.flush()
    return reply.headers["x-request-id"]
