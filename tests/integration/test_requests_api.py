"""`GET /api/requests` and `GET /api/requests/{id}` over HTTP: real calls through the gateway
(a success, a failure, a fallback, a stream), then listing, filtering, paging and one record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam
from tests.conftest import FAKE_KEY_ENV, GatewayFactory
from tests.fakes import FakeProvider, Fault
from tests.integration.records import record_for
from tests.integration.tenancy import Tenant, api, created, make_tenant
from tests.servers import Gateway

from steward.storage.tables import payloads

USER: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "what is the capital of France"}
]


def pair_toml(backup: FakeProvider) -> str:
    return f"""
[providers.backup]
type = "openai"
base_url = "{backup.url}/v1"
api_key = "env:{FAKE_KEY_ENV}"
timeout_s = 3

[models.pair]
targets = ["up/gpt-test", "backup/gpt-backup"]
retries = 0
"""


@dataclass
class Calls:
    gw: Gateway
    admin: str
    alpha: Tenant
    beta: Tenant
    ok: str
    failed: str
    fallback: str
    streamed: str

    def alpha_ids(self) -> list[str]:
        """Alpha's records, newest first."""
        return [self.streamed, self.fallback, self.failed, self.ok]


def request_id(gw: Gateway, key: str, model: str, **kw: Any) -> str:
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0) as client:
        try:
            raw = client.chat.completions.with_raw_response.create(model=model, messages=USER, **kw)
        except openai.APIStatusError as exc:
            return exc.response.headers["x-request-id"]
        if kw.get("stream"):
            list(raw.parse())
        return raw.headers["x-request-id"]


@pytest.fixture
def calls(make_gateway: GatewayFactory, fake: FakeProvider, backup: FakeProvider) -> Calls:
    gw, _ = make_gateway(pair_toml(backup))
    admin = gw.admin_key()
    alpha, beta = make_tenant(gw, admin, "alpha"), make_tenant(gw, admin, "beta", call=True)
    ok = request_id(gw, alpha.app_key, "gpt")
    fake.script(Fault(status=500, message="upstream broke"))
    failed = request_id(gw, alpha.app_key, "gpt")
    fake.script(Fault(status=503))
    fallback = request_id(gw, alpha.app_key, "pair")
    streamed = request_id(gw, alpha.app_key, "gpt", stream=True, user="carol")
    for ident in (ok, failed, fallback, streamed):
        record_for(gw, ident)  # written (a stream's record lands when the stream ends)
    return Calls(gw, admin, alpha, beta, ok, failed, fallback, streamed)


def listing(calls: Calls, key: str | None = None, **params: Any) -> dict[str, Any]:
    with api(calls.gw, key or calls.alpha.owner_key) as client:
        response = client.get("/api/requests?" + urlencode(params))
    assert response.status == 200, response.body
    body: dict[str, Any] = response.json()
    return body


def ids(body: dict[str, Any]) -> list[str]:
    return [row["id"] for row in body["data"]]


def test_a_team_lists_its_own_records_newest_first(calls: Calls) -> None:
    body = listing(calls)
    assert body["object"] == "list" and body["next_cursor"] is None
    assert ids(body) == calls.alpha_ids()
    assert {row["team_id"] for row in body["data"]} == {calls.alpha.team_id}
    assert all("attempts" not in row for row in body["data"])  # pages stay light
    everyone = ids(listing(calls, calls.admin))
    assert set(calls.alpha_ids()) | {calls.beta.request_id} <= set(everyone)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "5xx"}, ["failed"]),
        ({"status": "200"}, ["streamed", "fallback", "ok"]),
        ({"error_type": "upstream_error"}, ["failed"]),
        ({"model": "pair"}, ["fallback"]),
        ({"stream": "true"}, ["streamed"]),
        ({"stream": "false", "model": "gpt"}, ["failed", "ok"]),
        ({"user": "carol"}, ["streamed"]),
        ({"cache": "hit"}, []),
    ],
)
def test_filters(calls: Calls, params: dict[str, str], expected: list[str]) -> None:
    assert ids(listing(calls, **params)) == [getattr(calls, name) for name in expected]


def test_filters_by_key_app_and_time(calls: Calls) -> None:
    assert ids(listing(calls, key_id=calls.alpha.app_key_id)) == calls.alpha_ids()
    assert ids(listing(calls, app_id=calls.alpha.app_id)) == calls.alpha_ids()
    assert ids(listing(calls, app_id=calls.beta.app_id)) == []  # theirs: nothing to see
    failed = record_for(calls.gw, calls.failed).created_at
    since = failed.isoformat().replace("+00:00", "Z")
    assert ids(listing(calls, since=since)) == calls.alpha_ids()[:3]
    assert ids(listing(calls, until=since)) == [calls.ok]


def test_pages_of_one_cover_everything_once(calls: Calls) -> None:
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 1}
    for _ in range(10):
        body = listing(calls, **params)
        seen += ids(body)
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    assert seen == calls.alpha_ids()


def test_one_record_with_its_attempts(calls: Calls) -> None:
    with api(calls.gw, calls.alpha.owner_key) as client:
        fallback = client.get(f"/api/requests/{calls.fallback}").json()
        failed = client.get(f"/api/requests/{calls.failed}").json()
    assert fallback["id"] == calls.fallback and fallback["status"] == 200
    assert fallback["target"] == "backup/gpt-backup" and fallback["attempt_count"] == 2
    assert [(a["target"], a["status"]) for a in fallback["attempts"]] == [
        ("up/gpt-test", 503),
        ("backup/gpt-backup", 200),
    ]
    assert fallback["payload"] is None
    assert failed["status"] == 502 and failed["error_type"] == "upstream_error"
    assert "upstream broke" in failed["attempts"][0]["message"]


def test_a_stored_payload_is_noted_not_shown(calls: Calls) -> None:
    record = record_for(calls.gw, calls.ok)
    with calls.gw.runtime.engine.begin() as connection:
        connection.execute(
            payloads.insert().values(
                request_id=record.id,
                created_at=record.created_at,
                team_id=record.team_id,
                policy="full",
                key_id="k1",
                nonce=b"0" * 12,
                body=b"sealed secret payload",
            )
        )
    with api(calls.gw, calls.alpha.owner_key) as client:
        response = client.get(f"/api/requests/{calls.ok}")
    assert response.json()["payload"] == {"policy": "full", "stored": True}
    assert b"sealed" not in response.body


def test_another_teams_record_is_a_404_like_a_missing_one(calls: Calls) -> None:
    with api(calls.gw, calls.alpha.owner_key) as client:
        theirs = client.get(f"/api/requests/{calls.beta.request_id}")
        missing = client.get("/api/requests/no-such-request")
    assert theirs.status == missing.status == 404
    assert theirs.json()["error"]["type"] == missing.json()["error"]["type"] == "not_found_error"
    assert calls.beta.team_id not in theirs.body.decode()
    with api(calls.gw, calls.admin) as client:
        assert client.get(f"/api/requests/{calls.beta.request_id}").status == 200


def test_every_person_role_may_read_and_app_keys_may_not(calls: Calls) -> None:
    with api(calls.gw, calls.alpha.owner_key) as owner:
        for role in ("developer", "reviewer", "viewer"):
            key = created(owner.post("/api/keys", json={"name": role, "role": role}))["secret"]
            assert ids(listing(calls, key)) == calls.alpha_ids(), role
    with api(calls.gw, calls.alpha.app_key) as app:
        assert app.get("/api/requests").status == 403


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("cursor=garbage", "cursor"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=many", "limit"),
        ("status=5x", "status"),
        ("stream=maybe", "stream"),
        ("since=last-tuesday", "since"),
        ("cache=warm", "cache"),
        ("stauts=500", "stauts"),
        ("prompt_version=three", "prompt_version"),
    ],
)
def test_bad_parameters_are_400s_that_name_them(calls: Calls, query: str, param: str) -> None:
    with api(calls.gw, calls.alpha.owner_key) as client:
        response = client.get(f"/api/requests?{query}")
    assert response.status == 400, response.body
    error = response.json()["error"]
    assert error["param"] == param and f"`{param}`" in error["message"]


def test_a_record_carries_the_trace_id_of_its_call(make_gateway: GatewayFactory) -> None:
    gw, key = make_gateway()
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    traceparent = f"00-{trace_id}-00f067aa0ba902b7-01"
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt", messages=USER, extra_headers={"traceparent": traceparent}
        )
    gw.flush()
    with api(gw, gw.admin_key()) as admin:
        record = admin.get(f"/api/requests/{raw.headers['x-request-id']}").json()
    assert record["trace_id"] == trace_id
