"""The official `anthropic` and `openai` SDKs read what the translators write.

Each test puts a translator between an SDK client and a scripted upstream, joined by
`httpx2.MockTransport`, so the SDKs' own request building and SSE accumulation are exercised
without a socket.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import anthropic
import httpx2
import openai
import orjson
import pytest

from steward.types import JSONObject
from steward.wire.anthropic import (
    AnthropicStreamDecoder,
    MessagesRequest,
    MessagesStreamEncoder,
    chat_to_messages_response,
    error_event,
    from_anthropic_response,
    messages_to_chat,
    to_anthropic_request,
)
from steward.wire.openai import ChatRequest
from steward.wire.sse import DONE, SSEDecoder, encode_event

Handler = Callable[[httpx2.Request], httpx2.Response]
SSE_HEADERS = {"content-type": "text/event-stream"}

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def openai_chunks() -> list[JSONObject]:
    """What an OpenAI upstream streams for text followed by two tool calls."""

    def chunk(delta: JSONObject | None, finish: str | None = None, **extra: object) -> JSONObject:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
        return {
            "id": "chatcmpl-9",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-x",
            "choices": choices,
            **extra,
        }

    def call(index: int, arguments: str, call_id: str | None = None) -> JSONObject:
        tool: JSONObject = {"index": index, "function": {"arguments": arguments}}
        if call_id:
            tool.update(id=call_id, type="function")
            tool["function"]["name"] = "get_weather"
        return {"tool_calls": [tool]}

    return [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Let me "}),
        chunk({"content": "check."}),
        chunk(call(0, "", "call_1")),
        chunk(call(0, '{"city": ')),
        chunk(call(0, '"Paris"}')),
        chunk(call(1, '{"city": "Rome"}', "call_2")),
        chunk({}, "tool_calls"),
        chunk(None, usage={"prompt_tokens": 50, "completion_tokens": 12, "total_tokens": 62}),
    ]


def anthropic_upstream_events(model: str) -> list[tuple[str, JSONObject]]:
    """What Anthropic streams for the same answer."""

    def block_delta(index: int, delta: JSONObject) -> tuple[str, JSONObject]:
        return "content_block_delta", {
            "type": "content_block_delta",
            "index": index,
            "delta": delta,
        }

    def tool_start(index: int, tool_id: str) -> tuple[str, JSONObject]:
        block = {"type": "tool_use", "id": tool_id, "name": "get_weather", "input": {}}
        return "content_block_start", {
            "type": "content_block_start",
            "index": index,
            "content_block": block,
        }

    message: JSONObject = {
        "id": "msg_up",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 40, "cache_read_input_tokens": 10, "output_tokens": 1},
    }
    text_start = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    return [
        ("message_start", {"type": "message_start", "message": message}),
        ("content_block_start", text_start),
        ("ping", {"type": "ping"}),
        block_delta(0, {"type": "text_delta", "text": "Let me "}),
        block_delta(0, {"type": "text_delta", "text": "check."}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        tool_start(1, "toolu_1"),
        block_delta(1, {"type": "input_json_delta", "partial_json": '{"city": '}),
        block_delta(1, {"type": "input_json_delta", "partial_json": '"Paris"}'}),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        tool_start(2, "toolu_2"),
        block_delta(2, {"type": "input_json_delta", "partial_json": '{"city": "Rome"}'}),
        ("content_block_stop", {"type": "content_block_stop", "index": 2}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 12},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


def anthropic_client(handler: Handler) -> anthropic.Anthropic:
    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    return anthropic.Anthropic(
        api_key="test", base_url="http://steward.test", http_client=http, max_retries=0
    )


def openai_client(handler: Handler) -> openai.OpenAI:
    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    return openai.OpenAI(
        api_key="test", base_url="http://steward.test/v1", http_client=http, max_retries=0
    )


def sse_bytes(events: list[tuple[str, JSONObject]]) -> bytes:
    return b"".join(encode_event(data, name) for name, data in events)


def rechunk(raw: bytes, size: int) -> Iterator[bytes]:
    return (raw[i : i + size] for i in range(0, len(raw), size))


# -- Anthropic client -> /v1/messages -> OpenAI-shaped upstream -------------------------------


class MessagesGateway:
    """Steward's /v1/messages translation around a scripted OpenAI upstream."""

    def __init__(self, *, fail_midway: bool = False) -> None:
        self.seen: list[ChatRequest] = []
        self.fail_midway = fail_midway

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        req = MessagesRequest.model_validate(orjson.loads(request.content))
        self.seen.append(messages_to_chat(req))
        if not req.stream:
            completion = {
                "id": "chatcmpl-9",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "Sunny."},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 8, "completion_tokens": 2, "total_tokens": 10},
            }
            return httpx2.Response(200, json=chat_to_messages_response(completion, model=req.model))
        encoder = MessagesStreamEncoder(req.model, "msg_gw")
        chunks = openai_chunks()
        if self.fail_midway:
            events = [e for c in chunks[:3] for e in encoder.feed(c)]
            events.append(error_event("overloaded_error", "Upstream overloaded; retry shortly."))
        else:
            events = [e for c in chunks for e in encoder.feed(c)] + encoder.finish(None)
        return httpx2.Response(200, headers=SSE_HEADERS, content=sse_bytes(events))


def test_anthropic_sdk_accumulates_the_encoded_stream() -> None:
    gateway = MessagesGateway()
    client = anthropic_client(gateway)
    with client.messages.stream(
        model="claude-alias",
        max_tokens=100,
        system="You are terse.",
        messages=[{"role": "user", "content": "Weather in Paris and Rome?"}],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Let me check."
    assert final.id == "msg_gw"
    assert final.model == "claude-alias"
    assert final.stop_reason == "tool_use"
    assert [block.type for block in final.content] == ["text", "tool_use", "tool_use"]
    tools = [block for block in final.content if block.type == "tool_use"]
    assert [(t.id, t.input) for t in tools] == [
        ("call_1", {"city": "Paris"}),
        ("call_2", {"city": "Rome"}),
    ]
    assert (final.usage.input_tokens, final.usage.output_tokens) == (50, 12)
    chat = gateway.seen[0]
    assert chat.stream
    assert chat.wants_usage_in_stream()
    assert chat.messages[0].role == "system"
    assert chat.tools is not None
    assert chat.tools[0]["function"]["name"] == "get_weather"


def test_anthropic_sdk_reads_a_translated_response() -> None:
    client = anthropic_client(MessagesGateway())
    message = client.messages.create(
        model="claude-alias", max_tokens=10, messages=[{"role": "user", "content": "Weather?"}]
    )
    assert message.content[0].type == "text"
    assert message.content[0].text == "Sunny."
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (8, 2)


def test_anthropic_sdk_raises_on_the_error_event() -> None:
    client = anthropic_client(MessagesGateway(fail_midway=True))
    stream = client.messages.stream(
        model="claude-alias", max_tokens=10, messages=[{"role": "user", "content": "Weather?"}]
    )
    with pytest.raises(anthropic.APIStatusError, match="Upstream overloaded"), stream as events:
        for _ in events:
            pass


# -- OpenAI client -> /v1/chat/completions -> Anthropic upstream -------------------------------


class ChatGateway:
    """Steward's Anthropic provider translation around a scripted Anthropic upstream."""

    def __init__(self) -> None:
        self.upstream_bodies: list[JSONObject] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        req = ChatRequest.model_validate(orjson.loads(request.content))
        body = to_anthropic_request(req, "claude-real", stream=req.stream)
        self.upstream_bodies.append(body)
        if not req.stream:
            upstream = {
                "id": "msg_up",
                "content": [{"type": "text", "text": "Sunny."}],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": 8, "output_tokens": 2},
            }
            return httpx2.Response(200, json=from_anthropic_response(upstream, model=req.model))
        sse, decoder = SSEDecoder(), AnthropicStreamDecoder(req.model)
        out: list[bytes] = []
        for piece in rechunk(sse_bytes(anthropic_upstream_events("claude-real")), 17):
            for event in sse.feed(piece):
                out.extend(
                    encode_event(c)
                    for c in decoder.feed(event.event or "", orjson.loads(event.data))
                )
        return httpx2.Response(200, headers=SSE_HEADERS, content=b"".join(out) + DONE)


def test_openai_sdk_accumulates_the_decoded_stream() -> None:
    gateway = ChatGateway()
    client = openai_client(gateway)
    with client.chat.completions.stream(
        model="claude-alias",
        messages=[
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "Weather?"},
        ],
        stream_options={"include_usage": True},
    ) as stream:
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert message.content == "Let me check."
    assert [(c.id, c.function.arguments) for c in message.tool_calls or []] == [
        ("toolu_1", '{"city": "Paris"}'),
        ("toolu_2", '{"city": "Rome"}'),
    ]
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (50, 12)
    upstream = gateway.upstream_bodies[0]
    assert upstream["system"] == "Be terse."
    assert upstream["stream"] is True


def test_openai_sdk_reads_a_translated_response() -> None:
    client = openai_client(ChatGateway())
    completion = client.chat.completions.create(
        model="claude-alias", messages=[{"role": "user", "content": "Weather?"}]
    )
    assert completion.choices[0].message.content == "Sunny."
    assert completion.usage is not None
    assert completion.usage.total_tokens == 10


# -- Anthropic client -> canonical -> Anthropic upstream -> Anthropic client ------------------


def test_anthropic_through_the_canonical_form_and_back() -> None:
    upstream_bodies: list[JSONObject] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        req = MessagesRequest.model_validate(orjson.loads(request.content))
        body = to_anthropic_request(messages_to_chat(req), "claude-real", stream=True)
        upstream_bodies.append(body)
        decoder = AnthropicStreamDecoder(req.model)
        encoder = MessagesStreamEncoder(req.model, "msg_gw")
        events = []
        for name, data in anthropic_upstream_events("claude-real"):
            for chunk in decoder.feed(name, data):
                events.extend(encoder.feed(chunk))
        events.extend(encoder.finish(decoder.usage))
        return httpx2.Response(200, headers=SSE_HEADERS, content=sse_bytes(events))

    client = anthropic_client(handler)
    conversation: list[anthropic.types.MessageParam] = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_0",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                }
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_0", "content": "18C"}],
        },
    ]
    with client.messages.stream(
        model="claude-alias",
        max_tokens=64,
        system="You are terse.",
        messages=conversation,
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
    ) as stream:
        final = stream.get_final_message()
    sent = upstream_bodies[0]
    assert sent["messages"] == conversation
    assert sent["system"] == "You are terse."
    assert sent["tools"] == [WEATHER_TOOL]
    assert [block.type for block in final.content] == ["text", "tool_use", "tool_use"]
    assert final.stop_reason == "tool_use"
    # input_tokens excludes cache reads again once back in Anthropic's shape.
    assert final.usage.input_tokens == 40
    assert final.usage.cache_read_input_tokens == 10
    assert final.usage.output_tokens == 12
