"""Tests of the fake provider itself, driven by the official openai and anthropic SDKs."""

from __future__ import annotations

import base64
import http.client
import json
import struct
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from . import FakeProvider, Fault, fake_embedding
from .provider import fake_provider, fake_provider_server  # noqa: F401  (pytest fixtures)

USER: list[Any] = [{"role": "user", "content": "hello there world"}]
SEARCH_TOOL = {
    "type": "function",
    "function": {"name": "search", "parameters": {"type": "object", "properties": {}}},
}
LOOKUP_TOOL = {
    "type": "function",
    "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
}
CLAUDE_TOOL = {"name": "search", "input_schema": {"type": "object", "properties": {}}}


@pytest.fixture
def fake(fake_provider: FakeProvider) -> FakeProvider:  # noqa: F811
    return fake_provider


@pytest.fixture
def gpt(fake: FakeProvider) -> Iterator[openai.OpenAI]:
    base_url = fake.url + "/v1"
    with openai.OpenAI(base_url=base_url, api_key=fake.api_key, max_retries=0, timeout=5) as client:
        yield client


@pytest.fixture
def claude(fake: FakeProvider) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=fake.url, api_key=fake.api_key, max_retries=0, timeout=5
    ) as client:
        yield client


def raw_post(
    fake: FakeProvider, path: str, body: object, headers: dict[str, str]
) -> tuple[int, bytes]:
    """POST with the standard library, for requests the SDKs will not send."""
    host, port = fake.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request(
            "POST", path, json.dumps(body), {"content-type": "application/json", **headers}
        )
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def chat(client: openai.OpenAI, **kwargs: Any) -> Any:
    return client.chat.completions.create(model="fake-gpt", messages=USER, **kwargs)


def message(client: anthropic.Anthropic, text: str = "hi you", **kwargs: Any) -> Any:
    messages: list[Any] = [{"role": "user", "content": text}]
    return client.messages.create(model="fake-claude", max_tokens=64, messages=messages, **kwargs)


# OpenAI chat completions


def test_chat_echoes_the_last_user_message_and_counts_words(gpt: openai.OpenAI) -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": [{"type": "text", "text": "second question"}]},
    ]
    reply = gpt.chat.completions.create(model="some-model", messages=messages)  # type: ignore[arg-type]
    assert reply.object == "chat.completion"
    assert reply.model == "some-model"
    assert reply.choices[0].message.content == "echo: second question"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (8, 3)
    assert reply.usage.total_tokens == 11


def test_requests_are_recorded_with_headers_and_body(
    fake: FakeProvider, gpt: openai.OpenAI
) -> None:
    chat(gpt, temperature=0)
    [seen] = fake.requests
    assert (seen.method, seen.path) == ("POST", "/v1/chat/completions")
    assert seen.headers["authorization"] == "Bearer fake-key"
    assert seen.json == {"model": "fake-gpt", "messages": USER, "temperature": 0}
    assert seen.fault is None


def test_chat_stream_joins_to_the_reply_and_ends_with_usage(gpt: openai.OpenAI) -> None:
    chunks = list(chat(gpt, stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    words = [c.choices[0].delta.content for c in chunks[1:-2]]
    assert words == ["echo: ", "hello ", "there ", "world"]
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 3 + 4


def test_chat_stream_without_include_usage_has_no_usage(gpt: openai.OpenAI) -> None:
    chunks = list(chat(gpt, stream=True))
    assert all(chunk.usage is None for chunk in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_chat_calls_the_first_tool_when_asked_to(gpt: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "please use the tool"}]
    reply = gpt.chat.completions.create(
        model="fake-gpt",
        messages=messages,  # type: ignore[arg-type]
        tools=[SEARCH_TOOL, LOOKUP_TOOL],  # type: ignore[list-item]
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls or []
    assert call.id.startswith("call_")
    assert call.function.name == "search"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"query": "please use the tool"}  # type: ignore[union-attr]


def test_chat_streams_the_tool_named_by_tool_choice(gpt: openai.OpenAI) -> None:
    choice = {"type": "function", "function": {"name": "lookup"}}
    chunks = list(chat(gpt, stream=True, tools=[SEARCH_TOOL, LOOKUP_TOOL], tool_choice=choice))
    first = chunks[0].choices[0].delta.tool_calls[0]
    assert (first.index, first.type, first.function.name) == (0, "function", "lookup")
    assert first.id.startswith("call_")
    assert first.function.arguments == ""
    pieces = [c.choices[0].delta.tool_calls[0].function.arguments for c in chunks[1:3]]
    assert len(pieces) == 2
    assert json.loads("".join(pieces)) == {"query": "hello there world"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_tool_call_fault_forces_a_tool_call_and_content_fault_replaces_text(
    fake: FakeProvider, gpt: openai.OpenAI
) -> None:
    fake.script(Fault(tool_call=True), Fault(content="scripted reply"))
    forced = chat(gpt, tools=[SEARCH_TOOL], tool_choice="auto")
    assert forced.choices[0].message.tool_calls[0].function.name == "search"
    assert chat(gpt).choices[0].message.content == "scripted reply"
    assert chat(gpt, tools=[SEARCH_TOOL]).choices[0].message.content == "echo: hello there world"


def test_wrong_key_is_an_openai_authentication_error(fake: FakeProvider) -> None:
    with (
        openai.OpenAI(base_url=fake.url + "/v1", api_key="nope", max_retries=0) as client,
        pytest.raises(openai.AuthenticationError) as caught,
    ):
        chat(client)
    assert caught.value.body == {
        "message": "Incorrect API key provided.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }


def test_unknown_path_is_an_openai_shaped_404(gpt: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        gpt.completions.create(model="fake-gpt", prompt="legacy")
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["type"] == "invalid_request_error"


# OpenAI embeddings and models


def test_embeddings_decode_from_the_sdk_default_base64(
    fake: FakeProvider, gpt: openai.OpenAI
) -> None:
    result = gpt.embeddings.create(model="fake-embedding", input=["alpha beta", "gamma"])
    assert fake.requests[0].json["encoding_format"] == "base64"
    assert [item.index for item in result.data] == [0, 1]
    for item, text in zip(result.data, ["alpha beta", "gamma"], strict=True):
        assert item.embedding == pytest.approx(fake_embedding(text), abs=1e-6)
        assert sum(v * v for v in item.embedding) == pytest.approx(1.0, abs=1e-5)
    assert (result.usage.prompt_tokens, result.usage.total_tokens) == (3, 3)


@pytest.mark.parametrize("encoding", ["float", "base64"])
def test_embeddings_wire_encodings_and_dimensions(fake: FakeProvider, encoding: str) -> None:
    body = {"model": "m", "input": "alpha", "encoding_format": encoding, "dimensions": 16}
    status, raw = raw_post(fake, "/v1/embeddings", body, {"authorization": "Bearer fake-key"})
    assert status == 200
    [item] = json.loads(raw)["data"]
    vector = item["embedding"]
    if encoding == "base64":
        vector = struct.unpack("<16f", base64.b64decode(vector))
    assert vector == pytest.approx(fake_embedding("alpha", 16), abs=1e-6)


def test_models_lists_the_fake_models(gpt: openai.OpenAI) -> None:
    ids = [model.id for model in gpt.models.list()]
    assert "fake-gpt" in ids
    assert len(ids) >= 2


# Anthropic messages


def test_message_echoes_the_last_user_text(claude: anthropic.Anthropic) -> None:
    reply = claude.messages.create(
        model="fake-claude",
        max_tokens=64,
        system="be brief",
        messages=[
            {"role": "user", "content": "earlier"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "hi you"}]},
        ],
    )
    assert reply.id.startswith("msg_")
    assert (reply.type, reply.role, reply.model) == ("message", "assistant", "fake-claude")
    assert reply.content[0].type == "text"
    assert reply.content[0].text == "echo: hi you"
    assert (reply.stop_reason, reply.stop_sequence) == ("end_turn", None)
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (6, 3)


def test_message_stream_follows_the_real_event_sequence(claude: anthropic.Anthropic) -> None:
    events = list(message(claude, stream=True))
    kinds = [event.type for event in events]
    assert kinds == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * 3,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    assert text == "echo: hi you"
    assert events[0].message.usage.input_tokens == 2
    assert events[-2].delta.stop_reason == "end_turn"
    assert events[-2].usage.output_tokens == 3


def test_message_stream_sends_ping_events(fake: FakeProvider) -> None:
    body = {"model": "m", "max_tokens": 8, "stream": True, "messages": USER}
    headers = {"x-api-key": "fake-key", "anthropic-version": "2023-06-01"}
    status, raw = raw_post(fake, "/v1/messages", body, headers)
    assert status == 200
    names = [
        line.removeprefix(b"event: ") for line in raw.splitlines() if line.startswith(b"event:")
    ]
    assert names[:3] == [b"message_start", b"content_block_start", b"ping"]


def test_message_uses_the_tool_when_tool_choice_is_any(claude: anthropic.Anthropic) -> None:
    reply = message(claude, tools=[CLAUDE_TOOL], tool_choice={"type": "any"})
    [block] = reply.content
    assert block.type == "tool_use"
    assert block.id.startswith("toolu_")
    assert (block.name, block.input) == ("search", {"query": "hi you"})
    assert reply.stop_reason == "tool_use"


def test_message_streams_tool_use_as_input_json_deltas(claude: anthropic.Anthropic) -> None:
    messages = [{"role": "user", "content": "please use the tool"}]
    with claude.messages.stream(
        model="fake-claude",
        max_tokens=64,
        messages=messages,  # type: ignore[arg-type]
        tools=[CLAUDE_TOOL],  # type: ignore[list-item]
    ) as stream:
        deltas = [e.delta for e in stream if e.type == "content_block_delta"]
        final = stream.get_final_message()
    assert [delta.type for delta in deltas] == ["input_json_delta"] * 2
    assert final.content[0].type == "tool_use"
    assert final.content[0].input == {"query": "please use the tool"}
    assert final.stop_reason == "tool_use"


def test_message_accepts_x_api_key_and_requires_version_and_max_tokens(
    fake: FakeProvider,
) -> None:
    body = {"model": "m", "max_tokens": 8, "messages": USER}
    ok = raw_post(fake, "/v1/messages", body, {"x-api-key": "fake-key", "anthropic-version": "1"})
    no_version = raw_post(fake, "/v1/messages", body, {"x-api-key": "fake-key"})
    no_max = raw_post(
        fake,
        "/v1/messages",
        {"model": "m", "messages": USER},
        {"x-api-key": "fake-key", "anthropic-version": "1"},
    )
    assert ok[0] == 200
    for status, raw in (no_version, no_max):
        assert status == 400
        assert json.loads(raw)["type"] == "error"
        assert json.loads(raw)["error"]["type"] == "invalid_request_error"


def test_wrong_key_is_an_anthropic_authentication_error(fake: FakeProvider) -> None:
    with (
        anthropic.Anthropic(base_url=fake.url, api_key="nope", max_retries=0) as client,
        pytest.raises(anthropic.AuthenticationError) as caught,
    ):
        message(client)
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
    }


# Faults


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, openai.BadRequestError),
        (404, openai.NotFoundError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_status_fault_raises_the_matching_openai_error(
    fake: FakeProvider, gpt: openai.OpenAI, status: int, error: type[openai.APIStatusError]
) -> None:
    fake.script(Fault(status=status))
    with pytest.raises(error) as caught:
        chat(gpt)
    assert caught.value.status_code == status
    assert isinstance(caught.value.body, dict)
    assert set(caught.value.body) == {"message", "type", "param", "code"}


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
    ],
)
def test_status_fault_raises_the_matching_anthropic_error(
    fake: FakeProvider,
    claude: anthropic.Anthropic,
    status: int,
    error: type[anthropic.APIStatusError],
    kind: str,
) -> None:
    fake.script(Fault(status=status))
    with pytest.raises(error) as caught:
        message(claude, stream=True)
    assert caught.value.status_code == status
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] == kind


def test_retry_after_is_sent_as_a_header(fake: FakeProvider, gpt: openai.OpenAI) -> None:
    fake.script(Fault(status=429, retry_after=1.5))
    with pytest.raises(openai.RateLimitError) as caught:
        chat(gpt)
    assert caught.value.response.headers["retry-after"] == "1.5"


def test_faults_are_consumed_in_order_then_the_default_applies(
    fake: FakeProvider, gpt: openai.OpenAI
) -> None:
    fake.script(Fault(status=500), Fault(status=429))
    fake.set_default(Fault(status=503))
    with pytest.raises(openai.InternalServerError):
        chat(gpt)
    with pytest.raises(openai.RateLimitError):
        chat(gpt)
    with pytest.raises(openai.InternalServerError) as caught:
        chat(gpt)
    assert caught.value.status_code == 503
    fake.set_default(None)
    assert chat(gpt).choices[0].message.content == "echo: hello there world"
    assert [r.fault.status if r.fault else None for r in fake.requests] == [500, 429, 503, None]


def test_faults_apply_to_embeddings_too(fake: FakeProvider, gpt: openai.OpenAI) -> None:
    fake.script(Fault(status=429))
    with pytest.raises(openai.RateLimitError):
        gpt.embeddings.create(model="fake-embedding", input="x")


def test_reset_is_a_connection_error_with_no_status(
    fake: FakeProvider, gpt: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    fake.script(Fault(reset=True), Fault(reset=True), Fault(reset=True))
    with pytest.raises(openai.APIConnectionError) as from_openai:
        chat(gpt, stream=True)
    with pytest.raises(anthropic.APIConnectionError) as from_anthropic:
        message(claude)
    assert not isinstance(from_openai.value, openai.APITimeoutError)
    assert not isinstance(from_anthropic.value, anthropic.APITimeoutError)
    with pytest.raises(ConnectionResetError):
        raw_post(fake, "/v1/chat/completions", {"messages": USER}, {})
    assert chat(gpt).choices[0].message.content == "echo: hello there world"


def test_delay_longer_than_the_client_timeout_is_a_timeout(
    fake: FakeProvider, gpt: openai.OpenAI
) -> None:
    fake.script(Fault(delay_s=0.05), Fault(delay_s=2.0))
    started = time.monotonic()
    assert chat(gpt).choices[0].message.content == "echo: hello there world"
    assert time.monotonic() - started >= 0.05
    with pytest.raises(openai.APITimeoutError):
        chat(gpt, timeout=0.1)
    assert fake.wait_for_disconnects(1)


def test_malformed_fault_breaks_json_bodies_and_stream_events(
    fake: FakeProvider, gpt: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    fake.script(Fault(malformed=True), Fault(malformed=True), Fault(malformed=True))
    with pytest.raises(ValueError, match="Expecting"):
        chat(gpt)
    with pytest.raises(ValueError, match="Expecting"):
        list(chat(gpt, stream=True))
    with pytest.raises(ValueError, match="Expecting"):
        list(message(claude, stream=True))


def test_stalled_stream_hits_the_client_read_timeout(
    fake: FakeProvider, gpt: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    fake.script(
        Fault(stall_after_chunks=2), Fault(stall_after_chunks=1), Fault(stall_after_chunks=0)
    )
    received: list[Any] = []
    with pytest.raises(openai.APITimeoutError):
        received.extend(chat(gpt, stream=True, timeout=0.15))
    assert len(received) == 2
    # The anthropic SDK lets a read timeout inside stream iteration escape untranslated.
    with pytest.raises((anthropic.APITimeoutError, httpx2.ReadTimeout)):
        list(message(claude, stream=True, timeout=0.15))
    with pytest.raises(openai.APITimeoutError):
        chat(gpt, timeout=0.15)


def test_chunk_delay_spaces_out_stream_chunks(fake: FakeProvider, gpt: openai.OpenAI) -> None:
    fake.script(Fault(chunk_delay_s=0.02))
    started = time.monotonic()
    chunks = list(chat(gpt, stream=True))
    assert time.monotonic() - started >= 0.02 * (len(chunks) - 1)


def test_client_leaving_mid_stream_counts_as_a_disconnect(
    fake: FakeProvider, gpt: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    list(chat(gpt, stream=True))
    fake.script(Fault(chunk_delay_s=0.05), Fault(stall_after_chunks=1))
    with chat(gpt, stream=True) as stream:
        next(iter(stream))
    assert fake.wait_for_disconnects(1)
    with message(claude, stream=True) as events:
        next(iter(events))
    assert fake.wait_for_disconnects(2)
    assert fake.disconnects == 2


def test_reset_clears_queue_default_requests_and_disconnects(
    fake: FakeProvider, gpt: openai.OpenAI
) -> None:
    fake.script(Fault(stall_after_chunks=1), Fault(status=500))
    fake.set_default(Fault(status=503))
    with chat(gpt, stream=True) as stream:
        next(iter(stream))
    fake.wait_for_disconnects(1)
    fake.reset()
    assert (fake.requests, fake.disconnects) == ([], 0)
    assert chat(gpt).choices[0].message.content == "echo: hello there world"


def test_provider_starts_and_stops_on_its_own() -> None:
    with FakeProvider(api_key="own-key") as fake:
        url = fake.url
        with openai.OpenAI(base_url=url + "/v1", api_key="own-key", max_retries=0) as client:
            assert chat(client).choices[0].message.content == "echo: hello there world"
    with pytest.raises(RuntimeError):
        _ = fake.url


def test_public_api_is_pinned() -> None:
    from . import __all__ as exported

    assert sorted(exported) == [
        "FakeProvider",
        "Fault",
        "ReceivedRequest",
        "fake_embedding",
        "fake_provider",
        "fake_provider_server",
    ]
