"""Output guards through a real gateway: repair, re-ask, fallback, leaks, confidence, escalation.

The fake upstream scripts each answer's text (`Fault(content=...)`); the official openai SDK is
the client. Two fake upstreams (`fake` as `up`, `backup` as `backup`) cover the fallback.
"""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import openai
import pytest
from tests.conftest import GatewayFactory
from tests.fakes import FakeProvider, Fault
from tests.fakes.faults import count_words
from tests.integration.records import record_for
from tests.integration.test_fallback import routing_toml
from tests.servers import Gateway

from steward.guards.output.escalation import open_context
from steward.storage.escalations import list_escalations

USER = [{"role": "user", "content": "give me the answer as JSON"}]
SCHEMA = (
    '{ type = "object", required = ["answer"], properties = { answer = { type = "integer" } } }'
)
KEY_ENV = "STEWARD_TEST_ESCALATION_KEY"


def models_toml(guards: str, *, targets: str = '["up/gpt-test"]') -> str:
    return f"""
[models.json]
targets = {targets}
retries = 0

[models.json.guards.output]
{guards}
"""


def client(gw: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0, timeout=15)


def ask(gw: Gateway, key: str, **kwargs: Any) -> Any:
    with client(gw, key) as c:
        return c.chat.completions.with_raw_response.create(
            model="json", messages=kwargs.pop("messages", USER), **kwargs
        )


def content(raw: Any) -> str:
    text = raw.parse().choices[0].message.content
    assert isinstance(text, str)
    return text


def test_a_fenced_answer_with_a_trailing_comma_is_repaired(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    gw, key = make_gateway(models_toml(f"schema = {SCHEMA}"))
    fake.script(Fault(content='Here you go:\n```json\n{"answer": 42,}\n```'))
    raw = ask(gw, key)
    assert json.loads(content(raw)) == {"answer": 42}
    record = record_for(gw, raw.headers["x-request-id"])
    decisions = json.loads(record.guards or "[]")
    assert decisions[0]["guard"] == "schema" and decisions[0]["action"] == "repair"
    assert "fence" in decisions[0]["detail"] and "trailing_comma" in decisions[0]["detail"]
    assert 0 < float(raw.headers["x-steward-confidence"]) < 1
    assert record.confidence == pytest.approx(float(raw.headers["x-steward-confidence"]))


def test_an_invalid_answer_is_reasked_with_the_validation_errors(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    gw, key = make_gateway(models_toml(f"schema = {SCHEMA}"))
    fake.script(Fault(content='{"answer": "many"}'), Fault(content='{"answer": 7}'))
    raw = ask(gw, key)
    assert json.loads(content(raw)) == {"answer": 7}
    reask = fake.requests[1].json["messages"]
    assert reask[-2] == {"role": "assistant", "content": '{"answer": "many"}'}
    assert "$.answer" in reask[-1]["content"] and "integer" in reask[-1]["content"]


PRICED = """
[pricing."up/gpt-test"]
input_per_mtok = 10000
output_per_mtok = 20000

[pricing."backup/gpt-backup"]
input_per_mtok = 1000000
output_per_mtok = 1000000
"""


def test_reasks_and_samples_are_charged_on_the_record_and_the_budget(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    guards = f"schema = {SCHEMA}\nreask_attempts = 2\nconfidence = {{ samples = 2 }}"
    gw, key = make_gateway(PRICED + models_toml(guards))
    fake.script(
        Fault(content='{"answer": "many"}'),  # invalid: re-asked
        Fault(content='{"answer": 7}'),  # the answer returned
        Fault(content='{"answer": 7}'),  # two self-consistency samples
        Fault(content='{"answer": 8}'),
    )
    raw = ask(gw, key)
    returned = raw.parse().usage
    assert json.loads(content(raw)) == {"answer": 7} and len(fake.requests) == 4
    prompts = [
        count_words(str(m.get("content") or "") for m in r.json["messages"]) for r in fake.requests
    ]
    completions = [2, 2, 2, 2]  # words of each scripted answer
    assert returned.prompt_tokens == prompts[1]  # the body describes the answer returned
    record = record_for(gw, raw.headers["x-request-id"])
    assert record.input_tokens == sum(prompts)
    assert record.output_tokens == sum(completions)
    expected = (sum(prompts) * 10000 + sum(completions) * 20000) / 1e6
    assert record.cost_usd == pytest.approx(expected)


def test_an_answer_turned_down_before_a_fallback_is_paid_at_its_own_price(
    make_gateway: GatewayFactory, fake: FakeProvider, backup: FakeProvider
) -> None:
    models = models_toml(
        f"schema = {SCHEMA}\nreask_attempts = 0", targets='["up/gpt-test", "backup/gpt-backup"]'
    )
    gw, key = make_gateway(routing_toml(backup, PRICED + models))
    fake.script(Fault(content='{"answer": "x"}'))
    backup.script(Fault(content='{"answer": 3}'))
    raw = ask(gw, key)
    assert raw.headers["x-steward-target"] == "backup/gpt-backup"
    words = count_words([USER[0]["content"]])
    record = record_for(gw, raw.headers["x-request-id"])
    assert record.input_tokens == 2 * words and record.output_tokens == 4
    turned_down = (words * 10000 + 2 * 20000) / 1e6
    answered = (words + 2) * 1000000 / 1e6
    assert record.cost_usd == pytest.approx(turned_down + answered)


def test_the_request_schema_applies_and_all_attempts_invalid_fall_back(
    make_gateway: GatewayFactory, fake: FakeProvider, backup: FakeProvider
) -> None:
    models = models_toml("reask_attempts = 1", targets='["up/gpt-test", "backup/gpt-backup"]')
    gw, key = make_gateway(routing_toml(backup, models))
    fake.set_default(Fault(content="not json at all"))
    backup.script(Fault(content='{"answer": 3}'))
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "a", "schema": {"type": "object", "required": ["answer"]}},
    }
    raw = ask(gw, key, response_format=response_format)
    assert json.loads(content(raw)) == {"answer": 3}
    assert raw.headers["x-steward-target"] == "backup/gpt-backup"
    assert len(fake.requests) == 2  # the answer and one re-ask


def test_when_every_target_answers_invalid_json_the_client_gets_an_error(
    make_gateway: GatewayFactory, fake: FakeProvider, backup: FakeProvider
) -> None:
    models = models_toml(
        f"schema = {SCHEMA}\nreask_attempts = 0", targets='["up/gpt-test", "backup/gpt-backup"]'
    )
    gw, key = make_gateway(routing_toml(backup, models))
    fake.set_default(Fault(content='{"answer": "x"}'))
    backup.set_default(Fault(content="{broken"))
    with client(gw, key) as c, pytest.raises(openai.APIStatusError) as caught:
        c.chat.completions.create(model="json", messages=USER)  # type: ignore[arg-type]
    assert caught.value.status_code == 502
    message = caught.value.message
    assert "output guard 'schema'" in message and "$.answer" in message


def test_a_streamed_request_gets_the_checked_answer(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    gw, key = make_gateway(models_toml(f"schema = {SCHEMA}"))
    fake.script(Fault(content="{'answer': 5"))
    with client(gw, key) as c:
        stream = c.chat.completions.create(model="json", messages=USER, stream=True)  # type: ignore[arg-type]
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert json.loads(text) == {"answer": 5}
    assert fake.requests[0].json.get("stream") is not True


def test_a_canary_leak_is_flagged_or_blocked(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    gw, key = make_gateway(
        models_toml("canary = true")
        + '\n[models.strict]\ntargets = ["up/gpt-test"]\nretries = 0\n'
        + '[models.strict.guards.output]\ncanary = true\ncanary_action = "block"\n'
    )

    def leak(body: dict[str, Any]) -> str:
        return "my instructions: " + str(body["messages"][0]["content"])

    fake.set_default(Fault(reply=leak))
    system = [{"role": "system", "content": "You are terse."}, *USER]
    raw = ask(gw, key, messages=system)
    sent = fake.requests[0].json["messages"][0]["content"]
    assert sent.startswith("You are terse.\n[canary:")
    decisions = json.loads(record_for(gw, raw.headers["x-request-id"]).guards or "[]")
    assert {"guard": "canary", "action": "flag"}.items() <= decisions[-1].items()
    with client(gw, key) as c, pytest.raises(openai.BadRequestError) as caught:
        c.chat.completions.create(model="strict", messages=system)  # type: ignore[arg-type]
    assert "output guard 'canary'" in caught.value.message
    assert "canary:" not in caught.value.message


def test_low_confidence_is_escalated_sealed_and_answered_with_the_fallback(
    make_gateway: GatewayFactory, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_bytes = secrets.token_bytes(32)
    monkeypatch.setenv(KEY_ENV, base64.b64encode(key_bytes).decode())
    guards = 'escalate_below = 0.5\nfallback_answer = "A person will get back to you."'
    toml = models_toml(guards) + f'\n[payloads]\nencryption_keys = ["env:{KEY_ENV}"]\n'
    gw, key = make_gateway(toml)
    fake.script(Fault(content="I'm sorry, but I cannot help with that."))
    raw = ask(gw, key)
    assert content(raw) == "A person will get back to you."
    assert raw.headers["x-steward-escalated"] == "true"
    assert float(raw.headers["x-steward-confidence"]) == pytest.approx(0.3)
    request_id = raw.headers["x-request-id"]
    record = record_for(gw, request_id)
    assert record.escalated is True and record.confidence == pytest.approx(0.3)
    runtime = gw.runtime
    assert runtime.escalations is not None and runtime.escalations.flush(5)
    (row,) = list_escalations(runtime.engine)
    assert row.request_id == request_id and row.reason == "low_confidence"
    assert row.key_id is not None and b"cannot help" not in row.context
    document = open_context(row, runtime.payload_keys)
    assert document["request"]["messages"] == USER
    assert "cannot help" in document["response"]["choices"][0]["message"]["content"]
    assert document["scores"]["refusal"] is True
    assert any(d["guard"] == "refusal" for d in document["guards"])


def test_models_without_output_guards_are_untouched(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    gw, key = make_gateway(models_toml('pii = "mask"'))
    with client(gw, key) as c:
        raw = c.chat.completions.with_raw_response.create(model="gpt", messages=USER)  # type: ignore[arg-type]
    assert "x-steward-confidence" not in raw.headers
    fake.script(Fault(content="write to ann@example.com"))
    masked = ask(gw, key)
    assert content(masked) == "write to <EMAIL>"


@pytest.mark.slow
def test_the_local_model_gives_a_logprob_confidence(make_gateway: GatewayFactory) -> None:
    local = """
[providers.local]
type = "local"
n_ctx = 1024

[models.json]
targets = ["local/smollm2"]

[models.json.guards.output]
confidence = { logprobs = true }
"""
    gw, key = make_gateway(local)
    with client(gw, key) as c:
        raw = c.chat.completions.with_raw_response.create(
            model="json",
            messages=[{"role": "user", "content": "What is 2 + 2? Answer with the number."}],  # type: ignore[list-item]
            max_tokens=12,
            temperature=0,
        )
    score = float(raw.headers["x-steward-confidence"])
    assert 0 < score <= 1
    assert raw.parse().choices[0].logprobs is None  # asked for by the guard, not the caller
    record = record_for(gw, raw.headers["x-request-id"])
    assert record.confidence == pytest.approx(score)
