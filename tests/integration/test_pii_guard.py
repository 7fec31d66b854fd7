"""The PII guard through a real gateway: the upstream never sees the real values, the caller
gets them back (streams too), blocked types are refused clearly, and the record says what
happened without holding the values."""

from __future__ import annotations

import json
import os

import openai
import pytest
from tests.conftest import GatewayFactory
from tests.fakes import FakeProvider
from tests.integration.records import record_for

from steward.guards.pii.engine import AVAILABLE

pytestmark = pytest.mark.skipif(
    not AVAILABLE and os.environ.get("STEWARD_REQUIRE_SERVICES") != "1",
    reason="Presidio and the spaCy model install on Python 3.12+ (make install picks it)",
)

GUARDED = """
[models.private]
targets = ["up/gpt-test"]
retries = 0

[models.private.guards.pii]
entities = { PERSON = "pseudonymise", EMAIL_ADDRESS = "pseudonymise", PHONE_NUMBER = "mask", CREDIT_CARD = "block" }
"""
TEXT = "I am Maria Gonzalez, write to maria.gonzalez@example.org or call 212-555-0199."


def client(base: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0, timeout=30)


def test_pseudonyms_go_upstream_and_real_values_come_back(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    gw, key = make_gateway(GUARDED)
    with client(gw.url, key) as c:
        raw = c.chat.completions.with_raw_response.create(
            model="private", messages=[{"role": "user", "content": TEXT}]
        )
    sent = fake.requests[-1].json["messages"][0]["content"]
    assert sent == "I am <PERSON_1>, write to <EMAIL_ADDRESS_1> or call <PHONE_NUMBER>."
    answer = raw.parse().choices[0].message.content
    assert (
        answer
        == "echo: I am Maria Gonzalez, write to maria.gonzalez@example.org or call <PHONE_NUMBER>."
    )
    record = record_for(gw, raw.headers["x-request-id"])
    decisions = json.loads(record.guards or "[]")
    (pii,) = [d for d in decisions if d["guard"] == "pii"]
    assert pii["action"] == "pseudonymise"
    assert "EMAIL_ADDRESS x1" in pii["detail"] and "Maria" not in record.guards


def test_streamed_answers_get_the_real_values_back(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    gw, key = make_gateway(GUARDED)
    with client(gw.url, key) as c:
        stream = c.chat.completions.create(
            model="private",
            messages=[{"role": "user", "content": "Dear <x>, this is Maria Gonzalez speaking"}],
            stream=True,
        )
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert "Maria" not in json.dumps(fake.requests[-1].json)
    assert text == "echo: Dear <x>, this is Maria Gonzalez speaking"


def test_blocked_types_are_refused_without_echoing_the_value(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    gw, key = make_gateway(GUARDED)
    before = len(fake.requests)
    with client(gw.url, key) as c, pytest.raises(openai.BadRequestError) as caught:
        c.chat.completions.create(
            model="private", messages=[{"role": "user", "content": "card 4111 1111 1111 1111"}]
        )
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["code"] == "guard_blocked"
    assert "pii guard" in body["message"] and "payment card number" in body["message"]
    assert "4111" not in body["message"]
    assert len(fake.requests) == before  # nothing went upstream
