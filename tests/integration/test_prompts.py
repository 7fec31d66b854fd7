"""Prompts through the gateway: `prompt:NAME[@LABEL|@VERSION]` models with the official SDKs,
the record's prompt version, label moves reaching the gateway, and `GET /v1/prompts/{name}`."""

from __future__ import annotations

import anthropic
import openai
import pytest
from tests.conftest import GatewayFactory
from tests.fakes import FakeProvider
from tests.integration.records import record_for
from tests.integration.tenancy import api
from tests.servers import Gateway

from steward.client import PromptClient
from steward.errors import NotFoundError
from steward.prompts.definition import PromptDefinition
from steward.prompts.registry import PromptRegistry
from steward.storage import audit


def greet(version_text: str = "Hello") -> PromptDefinition:
    return PromptDefinition.model_validate(
        {
            "name": "greet",
            "model": "gpt",
            "params": {"temperature": 0.2, "max_tokens": 50},
            "variables": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string", "maxLength": 40}},
            },
            "messages": [
                {"role": "system", "content": "You greet people for {{ shop | default('us') }}."},
                {"role": "user", "content": version_text + ", {{ name }}!"},
            ],
        }
    )


def registry(gw: Gateway) -> PromptRegistry:
    return PromptRegistry(gw.runtime.engine, actor_id="test:owner", actor="test owner")


def publish(gw: Gateway, *definitions: PromptDefinition, label: str | None = None) -> None:
    registry(gw).push(list(definitions), label=label)
    gw.runtime.refresher.refresh()


def client(gw: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0, timeout=10)


def test_prompt_model_renders_the_version_and_records_it(
    gateway: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = gateway
    publish(gw, greet())
    with client(gw, key) as c:
        raw = c.chat.completions.with_raw_response.create(
            model="prompt:greet", messages=[], extra_body={"variables": {"name": "Ada"}}
        )
    reply = raw.parse()
    assert reply.choices[0].message.content == "echo: Hello, Ada!"
    assert raw.headers["x-steward-prompt"] == "greet@1"
    assert "x-steward-cost-usd" not in raw.headers  # gpt-test has no price
    sent = fake.requests[-1].json
    assert sent["model"] == "gpt-test"
    assert sent["temperature"] == 0.2 and sent["max_tokens"] == 50
    assert "variables" not in sent
    assert sent["messages"][0] == {"role": "system", "content": "You greet people for us."}
    record = record_for(gw, raw.headers["x-request-id"])
    assert (record.prompt_name, record.prompt_version) == ("greet", 1)
    assert record.public_model == "gpt"


def test_request_messages_follow_and_request_parameters_win(
    gateway: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = gateway
    publish(gw, greet())
    history = [{"role": "assistant", "content": "Hi!"}, {"role": "user", "content": "and you?"}]
    with client(gw, key) as c:
        reply = c.chat.completions.create(
            model="prompt:greet@1",
            messages=history,  # type: ignore[arg-type]
            temperature=0.9,
            extra_body={"variables": {"name": "Ada", "shop": "Books & Co"}},
        )
    assert reply.choices[0].message.content == "echo: and you?"
    sent = fake.requests[-1].json
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "user"]
    assert sent["messages"][0]["content"] == "You greet people for Books & Co."
    assert sent["temperature"] == 0.9


def test_labels_pick_versions_and_reach_the_gateway(gateway: tuple[Gateway, str]) -> None:
    gw, key = gateway
    publish(gw, greet("Hello"))
    publish(gw, greet("Howdy"), label="staging")
    variables = {"variables": {"name": "Bo"}}
    with client(gw, key) as c:

        def answer(model: str) -> str | None:
            reply = c.chat.completions.create(model=model, messages=[], extra_body=variables)
            return reply.choices[0].message.content

        assert answer("prompt:greet") == "echo: Howdy, Bo!"  # no production label: the latest
        assert answer("prompt:greet@staging") == "echo: Howdy, Bo!"
        assert answer("prompt:greet@1") == "echo: Hello, Bo!"
        registry(gw).label("greet", "production", 1, force=True)
        gw.runtime.refresher.refresh()
        assert answer("prompt:greet") == "echo: Hello, Bo!"
    gw.flush()
    with api(gw, gw.admin_key()) as admin:
        rows = admin.get("/api/requests?prompt=greet&prompt_version=1").json()["data"]
        everything = admin.get("/api/requests?prompt=greet").json()["data"]
    assert len(rows) == 2 and {r["prompt_version"] for r in rows} == {1}
    assert len(everything) == 4


@pytest.mark.parametrize(
    ("model", "extra", "status", "needle"),
    [
        ("prompt:greet", {}, 400, "'name' is a required property"),
        ("prompt:greet", {"variables": {"name": "x" * 41}}, 400, "variables['name']"),
        ("prompt:greet", {"variables": ["Ada"]}, 400, "must be a JSON object"),
        ("prompt:nope", {"variables": {}}, 404, "no prompt named 'nope'"),
        ("prompt:greet@canary", {"variables": {}}, 404, "no label 'canary'"),
        ("prompt:greet@7", {"variables": {}}, 404, "no usable version 7"),
        ("prompt:Bad Name", {}, 400, "not a prompt reference"),
    ],
)
def test_prompt_errors_are_clear(
    gateway: tuple[Gateway, str], model: str, extra: dict[str, object], status: int, needle: str
) -> None:
    gw, key = gateway
    publish(gw, greet())
    with client(gw, key) as c, pytest.raises(openai.APIStatusError) as caught:
        c.chat.completions.create(model=model, messages=[], extra_body=extra)
    assert caught.value.status_code == status
    body = caught.value.body
    assert isinstance(body, dict)
    assert needle in body["message"], body


def test_sandbox_refuses_template_internals(gateway: tuple[Gateway, str]) -> None:
    gw, key = gateway
    evil = PromptDefinition.model_validate(
        {
            "name": "evil",
            "model": "gpt",
            "messages": [{"role": "user", "content": "{{ name.__class__.__mro__ }}"}],
        }
    )
    publish(gw, evil)
    with client(gw, key) as c, pytest.raises(openai.BadRequestError) as caught:
        c.chat.completions.create(
            model="prompt:evil", messages=[], extra_body={"variables": {"name": "x"}}
        )
    assert "prompt evil@1" in str(caught.value).lower()


def test_anthropic_messages_get_the_system_prompt_as_system(
    gateway: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = gateway
    claude = greet().model_copy(update={"name": "greet-claude", "model": "claude"})
    publish(gw, claude)
    with anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0, timeout=10) as c:
        reply = c.messages.create(
            model="prompt:greet-claude",
            max_tokens=30,
            messages=[],
            extra_body={"variables": {"name": "Cy"}},
        )
    assert reply.content[0].type == "text"
    assert reply.content[0].text == "echo: Hello, Cy!"
    sent = fake.requests[-1].json
    assert sent["system"] == "You greet people for us." or sent["system"][0]["text"] == (
        "You greet people for us."
    )
    assert sent["max_tokens"] == 30  # the request's own parameter wins


def test_promotion_needs_a_gate_unless_forced_and_rollback_is_audited(
    gateway: tuple[Gateway, str],
) -> None:
    gw, _ = gateway
    publish(gw, greet("Hello"))
    publish(gw, greet("Howdy"))
    reg = registry(gw)
    reg.label("greet", "production", 1, force=True)
    from steward.errors import InvalidRequestError

    with pytest.raises(InvalidRequestError, match="no gate run has tested it"):
        reg.label("greet", "production", 2)
    move = reg.label("greet", "production", 2, force=True)
    assert (move.previous, move.version, move.forced) == (1, 2, True)
    back = reg.rollback("greet")
    assert (back.previous, back.version) == (2, 1)
    actions = [
        (row.entry.action, (row.entry.after or {}).get("version"))
        for row in audit.list_entries(gw.runtime.engine, team_id=audit.ALL_TEAMS)
        if row.entry.target_type == "prompt"
    ]
    assert actions[:3] == [("prompt.rollback", 1), ("prompt.label", 2), ("prompt.label", 1)]
    assert audit.verify(gw.runtime.engine).ok


def test_sdk_fetches_renders_and_serves_stale_while_revalidating(
    gateway: tuple[Gateway, str],
) -> None:
    gw, key = gateway
    publish(gw, greet("Hello"))
    prompts = PromptClient(gw.url, key, ttl_s=0.0)
    first = prompts.get("greet")
    assert (first.version, first.model) == (1, "gpt")
    assert first.render(name="Ada")[1] == {"role": "user", "content": "Hello, Ada!"}
    assert first.request(name="Ada")["max_tokens"] == 50
    publish(gw, greet("Howdy"))
    stale = prompts.get("greet")  # past its ttl: answered from cache, refreshed behind
    assert stale.version == 1
    import time

    deadline = time.monotonic() + 5
    while prompts.get("greet").version != 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert prompts.get("greet").version == 2
    assert prompts.get("greet", version=1).version == 1
    with pytest.raises(NotFoundError, match="no prompt named 'missing'"):
        prompts.get("missing")


def test_priced_answers_say_their_cost_in_a_header(make_gateway: GatewayFactory) -> None:
    gw, key = make_gateway('[pricing."up/gpt-test"]\ninput_per_mtok = 1e6\noutput_per_mtok = 2e6\n')
    with client(gw, key) as c:
        raw = c.chat.completions.with_raw_response.create(
            model="gpt", messages=[{"role": "user", "content": "one two three"}]
        )
    usage = raw.parse().usage
    assert usage is not None
    expected = usage.prompt_tokens * 1.0 + usage.completion_tokens * 2.0
    assert float(raw.headers["x-steward-cost-usd"]) == pytest.approx(expected)
    assert record_for(gw, raw.headers["x-request-id"]).cost_usd == pytest.approx(expected)
