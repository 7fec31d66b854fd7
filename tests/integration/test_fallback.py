"""Fallbacks, retries, deadlines, hedging and breakers through the gateway, over real HTTP.

Two fake upstreams: the session's `fake` (provider `up`) is the primary, `backup` (provider
`backup`) the secondary. Faults are scripted on each separately.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import openai
import pytest
from tests import rawhttp
from tests.conftest import FAKE_KEY_ENV, GatewayFactory
from tests.fakes import FakeProvider, Fault
from tests.integration.records import latest, record_for
from tests.servers import Gateway

USER = [{"role": "user", "content": "what is the capital of France"}]
PRIMARY = "up/gpt-test"
SECONDARY = "backup/gpt-backup"


def routing_toml(backup: FakeProvider, models: str, extra: str = "") -> str:
    return f"""
[providers.backup]
type = "openai"
base_url = "{backup.url}/v1"
api_key = "env:{FAKE_KEY_ENV}"
timeout_s = 3
connect_timeout_s = 1
stream_idle_timeout_s = 0.5
{models}
{extra}
"""


PAIR = f"""
[models.pair]
targets = ["{PRIMARY}", "{SECONDARY}"]
retries = 0
"""


@pytest.fixture
def pair(make_gateway: GatewayFactory, backup: FakeProvider) -> tuple[Gateway, str]:
    return make_gateway(routing_toml(backup, PAIR))


def client(gw: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0, timeout=15)


def ask(gw: Gateway, key: str, model: str = "pair", **kwargs: Any) -> Any:
    """A raw response: headers, status and `.parse()`."""
    with client(gw, key) as c:
        return c.chat.completions.with_raw_response.create(model=model, messages=USER, **kwargs)


def attempts_of(gw: Gateway, request_id: str) -> list[dict[str, Any]]:
    record = record_for(gw, request_id)
    assert record.attempts is not None
    attempts: list[dict[str, Any]] = json.loads(record.attempts)
    assert record.attempt_count == len(attempts)
    return attempts


FAULTS = [
    pytest.param(Fault(status=500), 500, id="500"),
    pytest.param(Fault(status=503), 503, id="503"),
    pytest.param(Fault(status=429, retry_after=30), 429, id="429"),
    pytest.param(Fault(delay_s=4), 504, id="timeout"),
    pytest.param(Fault(reset=True), 502, id="reset"),
    pytest.param(Fault(malformed=True), 502, id="malformed-json"),
    pytest.param(Fault(stall_after_chunks=0), 504, id="stalled"),
]


@pytest.mark.parametrize(("fault", "status"), FAULTS)
def test_a_failing_primary_is_served_by_the_secondary(
    pair: tuple[Gateway, str], fake: FakeProvider, backup: FakeProvider, fault: Fault, status: int
) -> None:
    gw, key = pair
    fake.script(fault)
    raw = ask(gw, key)
    reply = raw.parse()
    assert reply.choices[0].message.content == "echo: what is the capital of France"
    assert raw.headers["x-steward-target"] == SECONDARY
    attempts = attempts_of(gw, raw.headers["x-request-id"])
    assert [a["target"] for a in attempts] == [PRIMARY, SECONDARY]
    assert attempts[0]["status"] == status and attempts[0]["error_type"] is not None
    assert attempts[1]["status"] == 200 and attempts[1]["error_type"] is None
    assert len(backup.requests) == 1
    assert record_for(gw, raw.headers["x-request-id"]).target == SECONDARY


# The fake's malformed stream breaks an event after the first: that is past failover.
STREAM_FAULTS = [f for f in FAULTS if f.id != "malformed-json"]


@pytest.mark.parametrize(("fault", "status"), STREAM_FAULTS)
def test_a_failing_primary_stream_fails_over_before_the_first_byte(
    pair: tuple[Gateway, str], fake: FakeProvider, backup: FakeProvider, fault: Fault, status: int
) -> None:
    gw, key = pair
    fake.script(fault)
    with client(gw, key) as c:
        with c.chat.completions.with_streaming_response.create(
            model="pair", messages=USER, stream=True
        ) as response:
            assert response.headers["x-steward-target"] == SECONDARY
            text = "".join(
                chunk.choices[0].delta.content or "" for chunk in response.parse() if chunk.choices
            )
            request_id = response.headers["x-request-id"]
    assert text == "echo: what is the capital of France"
    attempts = attempts_of(gw, request_id)
    assert [(a["target"], a["status"]) for a in attempts] == [(PRIMARY, status), (SECONDARY, 200)]


def test_after_the_first_byte_a_failure_ends_the_stream_with_an_error_event(
    pair: tuple[Gateway, str], fake: FakeProvider, backup: FakeProvider
) -> None:
    gw, key = pair
    fake.script(Fault(stall_after_chunks=2))
    with client(gw, key) as c, pytest.raises(openai.APIError) as info:
        list(c.chat.completions.create(model="pair", messages=USER, stream=True))
    assert "sent nothing for 0.5 s" in info.value.message
    assert backup.requests == []
    record = latest(gw)
    assert record.status == 504 and record.target == PRIMARY
    assert health(gw, key)[PRIMARY]["errors"] == 1  # a stream that broke mid-way counts


def test_a_client_leaving_a_stream_is_no_verdict_on_the_target(
    pair: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = pair
    fake.script(Fault(chunk_delay_s=0.2))
    with client(gw, key) as c:
        stream = c.chat.completions.create(model="pair", messages=USER, stream=True)
        next(iter(stream))
        stream.close()
    assert fake.wait_for_disconnects(1, timeout_s=3.0)
    assert latest(gw).status == 499
    view = health(gw, key)[PRIMARY]
    assert view["requests"] == 0 and view["in_flight"] == 0


def test_retries_the_same_target_before_moving_on(
    make_gateway: GatewayFactory, fake: FakeProvider, backup: FakeProvider
) -> None:
    models = f"""
[models.retrying]
targets = ["{PRIMARY}", "{SECONDARY}"]
retries = 2
backoff_base_ms = 20
"""
    gw, key = make_gateway(routing_toml(backup, models))
    fake.script(Fault(status=502), Fault(status=503))
    raw = ask(gw, key, model="retrying")
    assert raw.headers["x-steward-target"] == PRIMARY
    attempts = attempts_of(gw, raw.headers["x-request-id"])
    assert [(a["target"], a["status"]) for a in attempts] == [
        (PRIMARY, 502),
        (PRIMARY, 503),
        (PRIMARY, 200),
    ]
    assert backup.requests == []


def test_all_targets_down_is_one_clear_error_listing_every_attempt(
    pair: tuple[Gateway, str], fake: FakeProvider, backup: FakeProvider
) -> None:
    gw, key = pair
    fake.script(Fault(status=500, message="primary is on fire"))
    backup.script(Fault(reset=True))
    with client(gw, key) as c, pytest.raises(openai.InternalServerError) as info:
        c.chat.completions.create(model="pair", messages=USER)
    assert info.value.status_code == 502
    body = info.value.body
    assert isinstance(body, dict) and body["code"] == "all_targets_failed"
    message = body["message"]
    assert "2 attempt(s) failed" in message
    assert PRIMARY in message and "primary is on fire" in message
    assert SECONDARY in message and "/api/health/targets" in message
    assert "Traceback" not in message
    record = latest(gw)
    assert record.status == 502 and record.attempt_count == 2


def test_rate_limited_everywhere_is_a_429_with_retry_after(
    pair: tuple[Gateway, str], fake: FakeProvider, backup: FakeProvider
) -> None:
    gw, key = pair
    fake.script(Fault(status=429, retry_after=7))
    backup.script(Fault(status=429, retry_after=3))
    with client(gw, key) as c, pytest.raises(openai.RateLimitError) as info:
        c.chat.completions.create(model="pair", messages=USER)
    assert info.value.response.headers["retry-after"] == "3"


def test_a_short_retry_after_is_honoured_on_the_same_target(
    make_gateway: GatewayFactory, fake: FakeProvider, backup: FakeProvider
) -> None:
    models = f"""
[models.patient]
targets = ["{PRIMARY}", "{SECONDARY}"]
retries = 1
backoff_base_ms = 1
backoff_max_ms = 2000
"""
    gw, key = make_gateway(routing_toml(backup, models))
    fake.script(Fault(status=429, retry_after=0.3))
    raw = ask(gw, key, model="patient")
    attempts = attempts_of(gw, raw.headers["x-request-id"])
    assert [(a["target"], a["status"]) for a in attempts] == [(PRIMARY, 429), (PRIMARY, 200)]
    # The retry started no sooner than the upstream asked.
    first, second = fake.requests
    assert first.fault is not None and second.fault is None


def test_a_client_error_returns_at_once_without_fallback(
    pair: tuple[Gateway, str], fake: FakeProvider, backup: FakeProvider
) -> None:
    gw, key = pair
    fake.script(Fault(status=400, message="temperature must be at most 2"))
    with client(gw, key) as c, pytest.raises(openai.BadRequestError) as info:
        c.chat.completions.create(model="pair", messages=USER)
    assert "temperature must be at most 2" in info.value.message
    assert backup.requests == []
    assert latest(gw).attempt_count == 1


CONTEXT = f"""
[models.windows]
targets = [
  {{ target = "{PRIMARY}", context_window = 4096 }},
  {{ target = "up/also-small", context_window = 4096 }},
  {{ target = "{SECONDARY}", context_window = 128000 }},
]
retries = 0

[models.small]
targets = [{{ target = "{PRIMARY}", context_window = 4096 }}, "up/unknown-window"]
retries = 0
"""
TOO_LONG = "This model's maximum context length is 4096 tokens; your messages resulted in 9000."


def test_a_context_length_error_moves_to_a_larger_window(
    make_gateway: GatewayFactory, fake: FakeProvider, backup: FakeProvider
) -> None:
    gw, key = make_gateway(routing_toml(backup, CONTEXT))
    fake.script(Fault(status=400, message=TOO_LONG))
    raw = ask(gw, key, model="windows")
    assert raw.headers["x-steward-target"] == SECONDARY
    attempts = attempts_of(gw, raw.headers["x-request-id"])
    assert [a["target"] for a in attempts] == [PRIMARY, SECONDARY]  # also-small skipped


def test_a_context_length_error_without_a_larger_window_is_the_callers(
    make_gateway: GatewayFactory, fake: FakeProvider, backup: FakeProvider
) -> None:
    gw, key = make_gateway(routing_toml(backup, CONTEXT))
    fake.script(Fault(status=400, message=TOO_LONG))
    with client(gw, key) as c, pytest.raises(openai.BadRequestError) as info:
        c.chat.completions.create(model="small", messages=USER)
    assert "maximum context length" in info.value.message
    assert len(fake.requests) == 1


def test_the_attempt_limit_header_moves_on_and_the_deadline_header_ends_the_call(
    pair: tuple[Gateway, str], fake: FakeProvider, backup: FakeProvider
) -> None:
    gw, key = pair
    fake.script(Fault(delay_s=2))
    raw = ask(gw, key, extra_headers={"x-steward-attempt-timeout-ms": "200"})
    assert raw.headers["x-steward-target"] == SECONDARY
    attempts = attempts_of(gw, raw.headers["x-request-id"])
    assert attempts[0]["status"] == 504 and "attempt limit" in attempts[0]["message"]

    fake.script(Fault(delay_s=2))
    with client(gw, key) as c, pytest.raises(openai.APIStatusError) as info:
        c.chat.completions.create(
            model="pair", messages=USER, extra_headers={"x-steward-deadline-ms": "200"}
        )
    assert info.value.status_code == 504
    assert "deadline" in info.value.message
    assert backup.requests[-1:] == backup.requests[:1]  # only the first call reached it


def test_a_bad_limit_header_is_a_clear_400(pair: tuple[Gateway, str]) -> None:
    gw, key = pair
    with client(gw, key) as c, pytest.raises(openai.BadRequestError) as info:
        c.chat.completions.create(
            model="pair", messages=USER, extra_headers={"x-steward-deadline-ms": "soon"}
        )
    assert "x-steward-deadline-ms" in info.value.message


def hedged(*, min_delay_ms: int) -> str:
    return f"""
[models.hedged]
targets = ["{PRIMARY}", "{SECONDARY}"]
hedge = true
hedge_min_delay_ms = {min_delay_ms}
"""


def test_a_hedge_takes_the_faster_target_and_cancels_the_slow_one(
    make_gateway: GatewayFactory, fake: FakeProvider, backup: FakeProvider
) -> None:
    gw, key = make_gateway(routing_toml(backup, hedged(min_delay_ms=100)))
    fake.script(Fault(delay_s=2.5))
    raw = ask(gw, key, model="hedged")
    assert raw.headers["x-steward-target"] == SECONDARY
    attempts = attempts_of(gw, raw.headers["x-request-id"])
    by_target = {a["target"]: a for a in attempts}
    assert by_target[SECONDARY]["status"] == 200 and by_target[SECONDARY]["hedged"] is True
    assert by_target[PRIMARY]["status"] == 499 and by_target[PRIMARY]["error_type"] == "cancelled"
    assert fake.wait_for_disconnects(1, timeout_s=2.0)  # the loser's upstream call was dropped


def test_a_fast_primary_is_never_hedged(
    make_gateway: GatewayFactory, fake: FakeProvider, backup: FakeProvider
) -> None:
    gw, key = make_gateway(routing_toml(backup, hedged(min_delay_ms=2000)))
    raw = ask(gw, key, model="hedged")
    assert raw.headers["x-steward-target"] == PRIMARY
    assert backup.requests == []


def test_weighted_split_over_2000_requests(
    make_gateway: GatewayFactory, fake: FakeProvider, backup: FakeProvider
) -> None:
    models = f"""
[models.split]
strategy = "weighted"
targets = [{{ target = "{PRIMARY}", weight = 3 }}, {{ target = "{SECONDARY}", weight = 1 }}]
"""
    gw, key = make_gateway(routing_toml(backup, models))
    served: Counter[str] = Counter()
    body = json.dumps({"model": "split", "messages": USER}).encode()
    with rawhttp.Connection(gw.url) as conn:
        for _ in range(2000):
            status, headers, _ = conn.post("/v1/chat/completions", body, key)
            assert status == 200
            served[headers["x-steward-target"]] += 1
    # Expected 1500 / 500; one standard deviation is about 19 requests.
    assert 1400 <= served[PRIMARY] <= 1600, served
    assert served[PRIMARY] + served[SECONDARY] == 2000


def test_tiered_routing_sends_a_simple_question_to_the_cheap_target(
    make_gateway: GatewayFactory, fake: FakeProvider, backup: FakeProvider
) -> None:
    models = f"""
[models.tiers]
strategy = "tiered"
targets = [{{ target = "{SECONDARY}", tier = "strong" }}, {{ target = "{PRIMARY}", tier = "cheap" }}]
tiering = {{ max_input_tokens = 50 }}
"""
    gw, key = make_gateway(routing_toml(backup, models))
    assert ask(gw, key, model="tiers").headers["x-steward-target"] == PRIMARY
    long_question = [{"role": "user", "content": "explain " + "the contract clause " * 40}]
    with client(gw, key) as c:
        raw = c.chat.completions.with_raw_response.create(model="tiers", messages=long_question)
    assert raw.headers["x-steward-target"] == SECONDARY


BREAKER = """
[breaker]
window_s = 30
min_requests = 4
failure_ratio = 0.5
open_s = 1
"""


def test_the_breaker_opens_after_the_threshold_and_closes_after_recovery(
    make_gateway: GatewayFactory, fake: FakeProvider, backup: FakeProvider
) -> None:
    gw, key = make_gateway(routing_toml(backup, PAIR, BREAKER))
    fake.set_default(Fault(status=500))
    for _ in range(3):
        assert ask(gw, key).headers["x-steward-target"] == SECONDARY
    assert health(gw, key)[PRIMARY]["state"] == "closed"  # 3 failures: below min_requests
    ask(gw, key)
    view = health(gw, key)[PRIMARY]
    assert view["state"] == "open" and view["breaker"]["failures"] == 4
    for _ in range(5):
        assert ask(gw, key).headers["x-steward-target"] == SECONDARY
    assert len(fake.requests) == 4  # skipped while open

    fake.set_default(None)
    time.sleep(1.1)  # open_s
    raw = ask(gw, key)
    assert raw.headers["x-steward-target"] == PRIMARY  # the half-open probe succeeded
    assert health(gw, key)[PRIMARY]["state"] == "closed"


def test_every_target_open_is_a_503_with_retry_after(
    make_gateway: GatewayFactory, fake: FakeProvider, backup: FakeProvider
) -> None:
    gw, key = make_gateway(routing_toml(backup, PAIR, BREAKER.replace("open_s = 1", "open_s = 20")))
    fake.set_default(Fault(status=500))
    backup.set_default(Fault(status=500))
    for _ in range(4):
        with client(gw, key) as c, pytest.raises(openai.InternalServerError):
            c.chat.completions.create(model="pair", messages=USER)
    with client(gw, key) as c, pytest.raises(openai.InternalServerError) as info:
        c.chat.completions.create(model="pair", messages=USER)
    assert info.value.status_code == 503
    assert "circuit open" in info.value.message
    assert 1 <= int(info.value.response.headers["retry-after"]) <= 20


def health(gw: Gateway, key: str) -> dict[str, Any]:
    with rawhttp.Connection(gw.url) as conn:
        status, _, body = conn.get("/api/health/targets", gw.admin_key("viewer", team_id="t"))
    assert status == 200
    targets: dict[str, Any] = json.loads(body)["targets"]
    return targets


def test_health_endpoint_reports_state_error_rate_and_latency(
    pair: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = pair
    with rawhttp.Connection(gw.url) as conn:
        assert conn.get("/api/health/targets", None)[0] == 401
    fake.script(Fault(status=500))
    for _ in range(4):
        ask(gw, key)
    view = health(gw, key)
    primary, secondary = view[PRIMARY], view[SECONDARY]
    assert primary["state"] == "closed" and primary["requests"] == 4 and primary["errors"] == 1
    assert primary["error_rate"] == 0.25
    assert secondary["requests"] == 1 and secondary["errors"] == 0
    assert 0 < primary["p50_ms"] <= primary["p95_ms"] <= primary["p99_ms"]
    assert primary["in_flight"] == 0
