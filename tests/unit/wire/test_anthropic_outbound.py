"""Tests for canonical chat to Anthropic upstream requests, responses and streams."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from steward.errors import InvalidRequestError, UpstreamProtocolError
from steward.types import JSONObject
from steward.wire.anthropic_outbound import (
    AnthropicStreamDecoder,
    error_message,
    from_anthropic_response,
    to_anthropic_request,
    usage_from_anthropic,
)
from steward.wire.openai import ChatRequest, TokenUsage
from steward.wire.sse import SSEDecoder, encode_event

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def chat(messages: list[JSONObject], **fields: Any) -> ChatRequest:
    return ChatRequest.model_validate({"model": "m", "messages": messages, **fields})


def convert(messages: list[JSONObject], **fields: Any) -> JSONObject:
    return to_anthropic_request(chat(messages, **fields), "claude-x", stream=False)


# -- requests ---------------------------------------------------------------------------------


def test_minimal_request() -> None:
    assert convert([{"role": "user", "content": "hi"}]) == {
        "model": "claude-x",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": "hi"}],
    }


def test_system_and_developer_messages_are_hoisted_and_joined() -> None:
    body = convert(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi"},
            {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
        ]
    )
    assert body["system"] == "Be brief.\n\nUse French."
    assert body["messages"] == [{"role": "user", "content": "hi"}]


def test_system_with_cache_control_stays_blocks() -> None:
    part = {"type": "text", "text": "Long prompt", "cache_control": {"type": "ephemeral"}}
    body = convert([{"role": "system", "content": [part]}, {"role": "user", "content": "hi"}])
    assert body["system"] == [part]


def test_system_message_with_image_is_refused() -> None:
    image = {"type": "image_url", "image_url": {"url": "https://x/y.png"}}
    with pytest.raises(InvalidRequestError, match="system messages may only contain text"):
        convert([{"role": "system", "content": [image]}, {"role": "user", "content": "hi"}])


def test_user_parts_become_blocks() -> None:
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}},
        {"type": "text", "text": "   "},
    ]
    body = convert([{"role": "user", "content": content}])
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
        },
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("data:image/png,rawbytes", "base64"),
        ("ftp://example.com/a.png", "http"),
    ],
)
def test_bad_image_urls_are_refused(url: str, match: str) -> None:
    content = [{"type": "image_url", "image_url": {"url": url}}]
    with pytest.raises(InvalidRequestError, match=match) as caught:
        convert([{"role": "user", "content": content}])
    assert caught.value.param == "messages[0].content[0]"


def test_unsupported_part_type_is_refused() -> None:
    content = [{"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}]
    with pytest.raises(InvalidRequestError, match="'input_audio'"):
        convert([{"role": "user", "content": content}])


def test_function_role_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="role 'function'"):
        convert([{"role": "function", "name": "f", "content": "x"}])


def tool_conversation() -> list[JSONObject]:
    return [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "25C"}]},
        {"role": "user", "content": "Thanks!"},
    ]


def test_tool_calls_and_results_pair_up_and_merge() -> None:
    body = convert(tool_conversation())
    assert body["messages"] == [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "call_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {
                    "type": "tool_use",
                    "id": "call_2",
                    "name": "get_weather",
                    "input": {"city": "Rome"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "call_2",
                    "content": [{"type": "text", "text": "25C"}],
                },
                {"type": "text", "text": "Thanks!"},
            ],
        },
    ]


def test_tool_results_lead_their_user_turn() -> None:
    body = convert(
        [
            {"role": "user", "content": "a"},
            {"role": "assistant", "tool_calls": [call("c1", "{}")]},
            {"role": "user", "content": "note first"},
            {"role": "tool", "tool_call_id": "c1", "content": "done"},
        ]
    )
    assert [block["type"] for block in body["messages"][-1]["content"]] == ["tool_result", "text"]


def call(call_id: str, arguments: Any) -> JSONObject:
    return {"id": call_id, "type": "function", "function": {"name": "f", "arguments": arguments}}


@pytest.mark.parametrize("arguments", ["", "  ", None, {}])
def test_empty_arguments_become_empty_input(arguments: Any) -> None:
    body = convert(
        [
            {"role": "user", "content": "a"},
            {"role": "assistant", "tool_calls": [call("c", arguments)]},
        ]
    )
    assert body["messages"][1]["content"][0]["input"] == {}


@pytest.mark.parametrize("arguments", ["{not json", "[1, 2]", "3"])
def test_invalid_arguments_name_the_tool_call(arguments: str) -> None:
    messages: list[JSONObject] = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "tool_calls": [call("c", arguments)]},
    ]
    with pytest.raises(InvalidRequestError, match=r"messages\[1\]\.tool_calls\[0\]") as caught:
        convert(messages)
    assert caught.value.param == "messages[1].tool_calls[0].function.arguments"


def test_tool_message_needs_call_id() -> None:
    with pytest.raises(InvalidRequestError, match="tool_call_id"):
        convert([{"role": "tool", "content": "x"}])


def test_same_role_neighbours_merge_and_empty_turns_vanish() -> None:
    body = convert(
        [
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": ""},
            {"role": "user", "content": "two"},
            {"role": "assistant", "content": "three  \n"},
        ]
    )
    assert body["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}],
        },
        {"role": "assistant", "content": "three"},
    ]


def test_tools_and_tool_choice() -> None:
    body = convert(
        [{"role": "user", "content": "hi"}],
        tools=[WEATHER_TOOL, {"type": "function", "function": {"name": "noop"}}],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False,
    )
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
        {"name": "noop", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert body["tool_choice"] == {
        "type": "tool",
        "name": "get_weather",
        "disable_parallel_tool_use": True,
    }


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("required", None, {"type": "any"}),
        ("none", False, {"type": "none"}),
        (None, None, None),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
    ],
)
def test_tool_choice_mapping(choice: Any, parallel: Any, expected: Any) -> None:
    body = convert(
        [{"role": "user", "content": "hi"}],
        tools=[WEATHER_TOOL],
        tool_choice=choice,
        parallel_tool_calls=parallel,
    )
    assert body.get("tool_choice") == expected


def test_tool_choice_without_tools_is_dropped() -> None:
    assert "tool_choice" not in convert([{"role": "user", "content": "hi"}], tool_choice="none")


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"tools": [{"type": "web_search"}]}, "only function tools"),
        ({"tools": [WEATHER_TOOL], "tool_choice": "sometimes"}, "tool_choice"),
        ({"tools": [WEATHER_TOOL], "tool_choice": {"type": "function"}}, "tool_choice"),
        ({"n": 2}, "one choice"),
    ],
)
def test_unsupported_options_are_refused(fields: JSONObject, match: str) -> None:
    with pytest.raises(InvalidRequestError, match=match):
        convert([{"role": "user", "content": "hi"}], **fields)


def test_sampling_limits_and_metadata() -> None:
    req = chat(
        [{"role": "user", "content": "hi"}],
        max_completion_tokens=100,
        max_tokens=50,
        stop="END",
        temperature=1.7,
        top_p=0.9,
        top_k=40,
        user="u-1",
        seed=3,
    )
    body = to_anthropic_request(req, "claude-x", stream=True)
    assert body["max_tokens"] == 100
    assert body["stop_sequences"] == ["END"]
    assert body["temperature"] == 1.0
    assert body["top_p"] == 0.9
    assert body["top_k"] == 40
    assert body["metadata"] == {"user_id": "u-1"}
    assert body["stream"] is True
    assert "seed" not in body


def test_max_tokens_default_and_stop_list() -> None:
    req = chat([{"role": "user", "content": "hi"}], stop=["a", "b"], temperature=0.3)
    body = to_anthropic_request(req, "claude-x", stream=False, default_max_tokens=77)
    assert (body["max_tokens"], body["stop_sequences"], body["temperature"]) == (
        77,
        ["a", "b"],
        0.3,
    )
    assert "stream" not in body


# -- responses --------------------------------------------------------------------------------

RESPONSE: JSONObject = {
    "id": "msg_01ABC",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        {"type": "text", "text": "Let me check "},
        {"type": "text", "text": "the weather."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 10,
        "output_tokens": 20,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 5,
    },
}


def test_response_becomes_chat_completion() -> None:
    completion = from_anthropic_response(RESPONSE, model="my-alias")
    ChatCompletion.model_validate(completion)
    assert completion["id"] == "msg_01ABC"
    assert completion["object"] == "chat.completion"
    assert completion["model"] == "my-alias"
    choice = completion["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": "Let me check the weather.",
        "tool_calls": [
            {
                "id": "toolu_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    }
    assert completion["usage"] == {
        "prompt_tokens": 115,
        "completion_tokens": 20,
        "total_tokens": 135,
        "prompt_tokens_details": {"cached_tokens": 100},
    }


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("something_new", "stop"),
        (None, "stop"),
    ],
)
def test_finish_reason_mapping(stop_reason: Any, finish_reason: str) -> None:
    body = {"id": "msg_1", "content": [], "stop_reason": stop_reason}
    completion = from_anthropic_response(body, model="m")
    assert completion["choices"][0]["finish_reason"] == finish_reason
    assert completion["choices"][0]["message"] == {"role": "assistant", "content": None}
    assert "usage" not in completion


def test_malformed_response_is_a_protocol_error() -> None:
    with pytest.raises(UpstreamProtocolError):
        from_anthropic_response({"id": "x"}, model="m")
    with pytest.raises(UpstreamProtocolError):
        from_anthropic_response({"content": ["text"]}, model="m")
    with pytest.raises(UpstreamProtocolError):
        from_anthropic_response({"content": [{"type": "tool_use", "input": {}}]}, model="m")


def test_usage_from_anthropic() -> None:
    assert usage_from_anthropic({"input_tokens": 3, "output_tokens": 4}) == TokenUsage(3, 4)
    assert usage_from_anthropic(None) is None
    assert usage_from_anthropic({"output_tokens": 4}) is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            "Overloaded",
        ),
        (
            {"error": {"message": "Incorrect API key", "type": "invalid_request_error"}},
            "Incorrect API key",
        ),
        ({"error": "plain text error"}, "plain text error"),
        ({"message": "top-level message"}, "top-level message"),
        ("  upstream said no \n", "upstream said no"),
        (b"bytes body", "bytes body"),
        ({"error": {"message": ""}}, "the upstream reported an error without a message"),
        (None, "the upstream reported an error without a message"),
        ([1, 2], "the upstream reported an error without a message"),
    ],
)
def test_error_message(body: Any, message: str) -> None:
    assert error_message(body) == message


# -- streams ----------------------------------------------------------------------------------

# A realistic Messages API stream (shapes as documented), with text then two tool calls.
ANTHROPIC_EVENTS: list[tuple[str, JSONObject]] = [
    (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_stream",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": 472,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 1000,
                    "output_tokens": 2,
                },
            },
        },
    ),
    (
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ),
    ("ping", {"type": "ping"}),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "Okay, "},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "checking."},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {
                "type": "tool_use",
                "id": "toolu_A",
                "name": "get_weather",
                "input": {},
            },
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": ""},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"city": "Pa'},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": 'ris"}'},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {
                "type": "tool_use",
                "id": "toolu_B",
                "name": "get_weather",
                "input": {},
            },
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": '{"city": "Rome"}'},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 2}),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 89, "input_tokens": None},
        },
    ),
    ("message_stop", {"type": "message_stop"}),
]


def decode_stream(
    events: list[tuple[str, JSONObject]],
) -> tuple[list[JSONObject], AnthropicStreamDecoder]:
    decoder = AnthropicStreamDecoder("my-alias")
    return [chunk for name, data in events for chunk in decoder.feed(name, data)], decoder


def test_stream_chunks_are_valid_openai_chunks() -> None:
    chunks, _ = decode_stream(ANTHROPIC_EVENTS)
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)
        assert chunk["id"] == "msg_stream"
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["model"] == "my-alias"
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[-1]["choices"] == []


def test_stream_accumulates_to_the_full_answer() -> None:
    chunks, decoder = decode_stream(ANTHROPIC_EVENTS)
    state = ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    completion = state.get_final_completion()
    message = completion.choices[0].message
    assert message.content == "Okay, checking."
    assert [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or []] == [
        ("toolu_A", "get_weather", '{"city": "Paris"}'),
        ("toolu_B", "get_weather", '{"city": "Rome"}'),
    ]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 1472
    assert completion.usage.completion_tokens == 89
    assert decoder.usage == TokenUsage(
        input_tokens=1472, output_tokens=89, cached_input_tokens=1000
    )


def test_stream_from_split_sse_bytes() -> None:
    raw = b"".join(encode_event(data, name) for name, data in ANTHROPIC_EVENTS)
    sse = SSEDecoder()
    decoder = AnthropicStreamDecoder("m")
    chunks = []
    for i in range(0, len(raw), 13):
        for event in sse.feed(raw[i : i + 13]):
            chunks.extend(decoder.feed(event.event or "", orjson.loads(event.data)))
    expected, _ = decode_stream(ANTHROPIC_EVENTS)
    assert [c["choices"] for c in chunks] == [c["choices"] for c in expected]


def test_text_only_stream() -> None:
    events = [e for e in ANTHROPIC_EVENTS if e[1].get("index", 0) == 0]
    events[-2] = (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 5},
        },
    )
    chunks, _ = decode_stream(events)
    deltas = [c["choices"][0] for c in chunks if c["choices"]]
    assert [d["delta"].get("content") for d in deltas] == ["", "Okay, ", "checking.", None]
    assert deltas[-1]["finish_reason"] == "stop"


def test_thinking_blocks_are_skipped() -> None:
    decoder = AnthropicStreamDecoder("m")
    start = {"index": 0, "content_block": {"type": "thinking", "thinking": ""}}
    assert decoder.feed("content_block_start", start) == []
    delta = {"index": 0, "delta": {"type": "thinking_delta", "thinking": "hmm"}}
    assert decoder.feed("content_block_delta", delta) == []


def test_error_event_raises_with_its_type() -> None:
    decoder = AnthropicStreamDecoder("m")
    data = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(UpstreamProtocolError, match="Overloaded") as caught:
        decoder.feed("error", data)
    assert caught.value.code == "overloaded_error"


@pytest.mark.parametrize(
    ("event", "data"),
    [
        ("message_start", {}),
        ("content_block_delta", {"index": 0}),
        (
            "content_block_delta",
            {"index": 5, "delta": {"type": "input_json_delta", "partial_json": "{"}},
        ),
        ("content_block_start", {"index": 0, "content_block": {"type": "tool_use"}}),
    ],
)
def test_malformed_events_are_protocol_errors(event: str, data: JSONObject) -> None:
    with pytest.raises(UpstreamProtocolError):
        AnthropicStreamDecoder("m").feed(event, data)


def test_unknown_events_are_ignored() -> None:
    assert AnthropicStreamDecoder("m").feed("something_new", {"type": "something_new"}) == []
