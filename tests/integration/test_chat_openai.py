"""Chat completions through the gateway with the official openai SDK, over real HTTP."""

from __future__ import annotations

import json

import openai
import pytest
from tests.fakes import FakeProvider, Fault
from tests.integration.records import latest, record_for
from tests.servers import Gateway

USER = [{"role": "user", "content": "hello there"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "search",
            "description": "Search the docs",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
        },
    }
]


def client(gateway: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=10)


def test_plain_chat_returns_upstream_answer_and_writes_a_record(
    gateway: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = gateway
    with client(gw, key) as c:
        raw = c.chat.completions.with_raw_response.create(model="gpt", messages=USER)
        reply = raw.parse()
    assert reply.choices[0].message.content == "echo: hello there"
    assert reply.usage is not None and reply.usage.completion_tokens > 0
    assert raw.headers["x-steward-target"] == "up/gpt-test"
    assert fake.requests[-1].json["model"] == "gpt-test"
    record = record_for(gw, raw.headers["x-request-id"])
    assert record.status == 200
    assert record.public_model == "gpt"
    assert record.target == "up/gpt-test"
    assert record.input_tokens == reply.usage.prompt_tokens
    assert record.output_tokens == reply.usage.completion_tokens
    assert record.key_id is not None and record.error_type is None
    assert record.config_hash == gw.runtime.config_hash
    assert record.latency_ms > 0 and not record.stream


def test_stream_with_usage(gateway: tuple[Gateway, str]) -> None:
    gw, key = gateway
    with client(gw, key) as c:
        chunks = list(
            c.chat.completions.create(
                model="gpt",
                messages=USER,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == "echo: hello there"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    record = latest(gw)
    assert record.stream and record.status == 200
    assert record.ttft_ms is not None and record.ttft_ms <= record.latency_ms
    assert record.output_tokens == chunks[-1].usage.completion_tokens


def test_stream_without_usage_hides_the_usage_chunk_but_records_tokens(
    gateway: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = gateway
    with client(gw, key) as c:
        chunks = list(c.chat.completions.create(model="gpt", messages=USER, stream=True))
    assert all(ch.usage is None for ch in chunks)
    assert all(ch.choices for ch in chunks)
    # Steward always asks upstream for usage, so the record has it even when the client did not.
    assert fake.requests[-1].json["stream_options"] == {"include_usage": True}
    assert latest(gw).output_tokens == 3


def test_tool_calls_pass_through(gateway: tuple[Gateway, str], fake: FakeProvider) -> None:
    gw, key = gateway
    with client(gw, key) as c:
        reply = c.chat.completions.create(
            model="gpt",
            messages=[{"role": "user", "content": "use the tool"}],
            tools=TOOLS,  # type: ignore[arg-type]
            tool_choice="auto",
        )
    call = reply.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert reply.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "search"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"query": "use the tool"}  # type: ignore[union-attr]
    assert fake.requests[-1].json["tools"] == TOOLS


def test_streamed_tool_call(gateway: tuple[Gateway, str]) -> None:
    gw, key = gateway
    with client(gw, key) as c:
        stream = c.chat.completions.create(
            model="gpt",
            messages=[{"role": "user", "content": "use the tool"}],
            tools=TOOLS,  # type: ignore[arg-type]
            stream=True,
        )
        arguments = ""
        name = None
        for chunk in stream:
            for delta_call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                if delta_call.function and delta_call.function.name:
                    name = delta_call.function.name
                arguments += (delta_call.function.arguments or "") if delta_call.function else ""
    assert name == "search"
    assert json.loads(arguments) == {"query": "use the tool"}


def test_response_format_and_unknown_parameters_pass_through(
    gateway: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = gateway
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    with client(gw, key) as c:
        c.chat.completions.create(
            model="gpt",
            messages=USER,
            response_format=schema,  # type: ignore[arg-type]
            extra_body={"logit_bias": {"42": -100}},
        )
    sent = fake.requests[-1].json
    assert sent["response_format"] == schema
    assert sent["logit_bias"] == {"42": -100}


def test_models_are_listed(gateway: tuple[Gateway, str]) -> None:
    gw, key = gateway
    with client(gw, key) as c:
        names = {m.id for m in c.models.list()}
    assert names == {"gpt", "claude", "embed"}


def test_embeddings_through_the_sdk(gateway: tuple[Gateway, str], fake: FakeProvider) -> None:
    gw, key = gateway
    with client(gw, key) as c:
        result = c.embeddings.create(model="embed", input=["one", "two"])
    assert len(result.data) == 2
    assert len(result.data[0].embedding) == 8
    assert fake.requests[-1].json["model"] == "embed-test"
    record = latest(gw)
    assert record.endpoint == "embeddings" and record.status == 200


@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [
        (Fault(status=500), openai.InternalServerError, 502),
        (Fault(status=400), openai.BadRequestError, 400),
        (Fault(reset=True), openai.InternalServerError, 502),
        (Fault(malformed=True), openai.InternalServerError, 502),
        (Fault(delay_s=4), openai.InternalServerError, 504),
    ],
)
def test_upstream_failures_become_clear_errors(
    gateway: tuple[Gateway, str],
    fake: FakeProvider,
    fault: Fault,
    error: type[openai.APIStatusError],
    status: int,
) -> None:
    gw, key = gateway
    fake.script(fault)
    with client(gw, key) as c, pytest.raises(error) as info:
        c.chat.completions.create(model="gpt", messages=USER)
    assert info.value.status_code == status
    body = info.value.body
    assert isinstance(body, dict) and "up" in body["message"]
    assert "Traceback" not in body["message"]
    record = latest(gw)
    assert record.status == status and record.error_type is not None
