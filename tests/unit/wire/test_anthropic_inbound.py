"""Tests for the Messages API served by Steward: requests, responses, stream encoding, errors."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest
from anthropic.types import Message

from steward.errors import InvalidRequestError, UpstreamProtocolError
from steward.types import JSONObject
from steward.wire.anthropic import (
    ANTHROPIC_ERROR_TYPES,
    MessagesRequest,
    MessagesStreamEncoder,
    anthropic_error_type,
    chat_to_messages_response,
    error_body,
    error_event,
    message_id,
    messages_to_chat,
    to_anthropic_request,
)
from steward.wire.openai import TokenUsage

WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def request(messages: list[JSONObject], **fields: Any) -> MessagesRequest:
    return MessagesRequest.model_validate(
        {"model": "claude-x", "max_tokens": 256, "messages": messages, **fields}
    )


def to_chat(messages: list[JSONObject], **fields: Any) -> JSONObject:
    chat = messages_to_chat(request(messages, **fields))
    return chat.to_upstream(chat.model, stream=chat.stream)


# -- request model ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        {"model": "m", "max_tokens": 0, "messages": [{"role": "user", "content": "hi"}]},
        {"model": "", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
        {"model": "m", "max_tokens": 5, "messages": []},
        {"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "hi"}]},
        {
            "model": "m",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "hi"}],
            "temperature": 1.5,
        },
        {
            "model": "m",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "x"}],
            "tools": [{"name": "t"}],
        },
    ],
)
def test_invalid_requests_are_rejected(body: JSONObject) -> None:
    with pytest.raises(pydantic.ValidationError):
        MessagesRequest.model_validate(body)


def test_unknown_parameters_are_accepted() -> None:
    req = request([{"role": "user", "content": "hi"}], thinking={"type": "disabled"})
    assert req.model_extra == {"thinking": {"type": "disabled"}}


# -- requests to chat -------------------------------------------------------------------------


def test_minimal_request() -> None:
    assert to_chat([{"role": "user", "content": "hi"}]) == {
        "model": "claude-x",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 256,
    }


def test_system_string_and_blocks() -> None:
    assert to_chat([{"role": "user", "content": "hi"}], system="Be brief.")["messages"][0] == {
        "role": "system",
        "content": "Be brief.",
    }
    blocks = [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}]
    assert to_chat([{"role": "user", "content": "hi"}], system=blocks)["messages"][0] == {
        "role": "system",
        "content": "A\n\nB",
    }


def test_cache_control_keeps_parts() -> None:
    # Kept on the canonical request (for Anthropic upstreams); OpenAI upstream bodies drop it.
    cached = {"type": "text", "text": "A", "cache_control": {"type": "ephemeral"}}
    chat = messages_to_chat(request([{"role": "user", "content": [cached]}], system=[cached]))
    assert chat.messages[0].content == [cached]
    assert chat.messages[1].content == [cached]
    body = chat.to_upstream(chat.model, stream=False)
    assert body["messages"][1]["content"] == [{"type": "text", "text": "A"}]


def test_text_and_image_blocks() -> None:
    content = [
        {"type": "text", "text": "What is"},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4A=="},
        },
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
    ]
    assert to_chat([{"role": "user", "content": content}])["messages"][0]["content"] == [
        {"type": "text", "text": "What is"},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4A=="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
    ]


def test_all_text_blocks_become_a_string() -> None:
    content = [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]
    assert to_chat([{"role": "user", "content": content}])["messages"][0]["content"] == "one\ntwo"


TOOL_TURNS: list[JSONObject] = [
    {"role": "user", "content": "Weather in Paris?"},
    {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "call the tool", "signature": "sig"},
            {"type": "text", "text": "Checking."},
            {
                "type": "tool_use",
                "id": "toolu_1",
                "name": "get_weather",
                "input": {"city": "Paris"},
            },
        ],
    },
    {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
            {"type": "text", "text": "And tomorrow?"},
        ],
    },
]


def test_tool_use_and_results() -> None:
    assert to_chat(TOOL_TURNS)["messages"][1:] == [
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "content": "18C", "tool_call_id": "toolu_1"},
        {"role": "user", "content": "And tomorrow?"},
    ]


def test_tool_result_content_forms() -> None:
    results = [
        {"type": "tool_result", "tool_use_id": "a", "content": [{"type": "text", "text": "x"}]},
        {"type": "tool_result", "tool_use_id": "b"},
        {"type": "tool_result", "tool_use_id": "c", "is_error": True, "content": "boom"},
    ]
    messages = to_chat([{"role": "user", "content": results}])["messages"]
    assert messages == [
        {"role": "tool", "content": "x", "tool_call_id": "a"},
        {"role": "tool", "content": "", "tool_call_id": "b"},
        {"role": "tool", "content": "boom", "tool_call_id": "c"},
    ]


def test_assistant_with_only_tool_use_has_no_content() -> None:
    turn = {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}],
    }
    message = to_chat([{"role": "user", "content": "go"}, turn])["messages"][1]
    assert "content" not in message
    assert message["tool_calls"][0]["function"]["arguments"] == "{}"


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ([{"type": "document", "source": {}}], "'document'"),
        ([{"text": "no type"}], "needs a type"),
        ([{"type": "image", "source": {"type": "file", "file_id": "f"}}], "base64 or url"),
        ([{"type": "tool_result"}], "tool_use_id"),
    ],
)
def test_unsupported_blocks_are_refused(content: list[JSONObject], match: str) -> None:
    with pytest.raises(InvalidRequestError, match=match):
        messages_to_chat(request([{"role": "user", "content": content}]))


def test_tool_use_needs_id_and_name() -> None:
    turn = {"role": "assistant", "content": [{"type": "tool_use", "input": {}}]}
    with pytest.raises(InvalidRequestError, match="id and a name"):
        messages_to_chat(request([{"role": "user", "content": "go"}, turn]))


def test_parameters_map_across() -> None:
    body = to_chat(
        [{"role": "user", "content": "hi"}],
        stop_sequences=["END"],
        temperature=0.2,
        top_p=0.8,
        top_k=20,
        stream=True,
        metadata={"user_id": "u-7"},
    )
    assert body["stop"] == ["END"]
    assert (body["temperature"], body["top_p"], body["top_k"]) == (0.2, 0.8, 20)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["user"] == "u-7"


def test_stream_request_wants_usage() -> None:
    chat = messages_to_chat(request([{"role": "user", "content": "hi"}], stream=True))
    assert chat.stream
    assert chat.wants_usage_in_stream()


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
        (
            {"type": "tool", "name": "get_weather"},
            {"type": "function", "function": {"name": "get_weather"}},
        ),
    ],
)
def test_tools_and_tool_choice(choice: JSONObject, expected: Any) -> None:
    body = to_chat([{"role": "user", "content": "hi"}], tools=[WEATHER], tool_choice=choice)
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": WEATHER["input_schema"],
                "description": "Weather for a city",
            },
        }
    ]
    assert body["tool_choice"] == expected
    assert "parallel_tool_calls" not in body


def test_disable_parallel_tool_use() -> None:
    choice = {"type": "auto", "disable_parallel_tool_use": True}
    body = to_chat([{"role": "user", "content": "hi"}], tools=[WEATHER], tool_choice=choice)
    assert body["parallel_tool_calls"] is False


def test_bad_tool_choice_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="tool_choice"):
        messages_to_chat(
            request(
                [{"role": "user", "content": "hi"}], tools=[WEATHER], tool_choice={"type": "tool"}
            )
        )


# -- round trip -------------------------------------------------------------------------------


def test_round_trip_to_anthropic_preserves_the_conversation() -> None:
    cached_tool = {**WEATHER, "cache_control": {"type": "ephemeral"}}
    original = request(
        [
            *TOOL_TURNS[:2],
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                    {
                        "type": "text",
                        "text": "And tomorrow?",
                        "cache_control": {"type": "ephemeral"},
                    },
                ],
            },
            {"role": "assistant", "content": "Let me see"},
        ],
        system="You are a weather bot.",
        tools=[cached_tool],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
        stop_sequences=["END"],
        temperature=0.5,
        top_k=10,
        metadata={"user_id": "u-1"},
        stream=True,
    )
    body = to_anthropic_request(messages_to_chat(original), "claude-x", stream=True)
    expected = original.model_dump(exclude_none=True)
    expected["messages"][1]["content"] = expected["messages"][1]["content"][1:]  # thinking dropped
    assert body == expected


# -- responses --------------------------------------------------------------------------------

COMPLETION: JSONObject = {
    "id": "chatcmpl-abc123",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-x",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {
        "prompt_tokens": 120,
        "completion_tokens": 30,
        "total_tokens": 150,
        "prompt_tokens_details": {"cached_tokens": 100},
    },
}


def test_completion_becomes_message() -> None:
    body = chat_to_messages_response(COMPLETION, model="claude-alias")
    Message.model_validate(body)
    assert body == {
        "id": "msg_abc123",
        "type": "message",
        "role": "assistant",
        "model": "claude-alias",
        "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 20, "output_tokens": 30, "cache_read_input_tokens": 100},
    }


def completion(message: JSONObject, finish_reason: Any, usage: Any = None) -> JSONObject:
    body = {
        "id": "x",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
    }
    return {**body, "usage": usage} if usage else body


@pytest.mark.parametrize(
    ("finish_reason", "stop_reason"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("content_filter", "refusal"),
        ("tool_calls", "tool_use"),
        (None, "end_turn"),
        ("weird", "end_turn"),
    ],
)
def test_stop_reason_mapping(finish_reason: Any, stop_reason: str) -> None:
    message = {"role": "assistant", "content": "hi"}
    body = chat_to_messages_response(completion(message, finish_reason), model="m")
    assert body["stop_reason"] == stop_reason
    assert body["usage"] == {"input_tokens": 0, "output_tokens": 0}


def test_tool_calls_with_stop_reason_stop_still_read_as_tool_use() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": COMPLETION["choices"][0]["message"]["tool_calls"],
    }
    body = chat_to_messages_response(completion(message, "stop"), model="m")
    assert body["stop_reason"] == "tool_use"
    assert [block["type"] for block in body["content"]] == ["tool_use"]


def test_refusal_and_empty_content() -> None:
    refused = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
    body = chat_to_messages_response(completion(refused, "content_filter"), model="m")
    assert body["content"] == [{"type": "text", "text": "I can't help with that."}]
    empty = chat_to_messages_response(
        completion({"role": "assistant", "content": ""}, "stop"), model="m"
    )
    assert empty["content"] == []


def test_usage_without_cache() -> None:
    usage = {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}
    body = chat_to_messages_response(completion({"content": "x"}, "stop", usage), model="m")
    assert body["usage"] == {"input_tokens": 9, "output_tokens": 4}


@pytest.mark.parametrize(
    "bad",
    [
        {"id": "x", "choices": []},
        {"id": "x"},
        completion(
            {"tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{oops"}}]},
            "tool_calls",
        ),
        completion({"tool_calls": [{"id": "c", "function": {}}]}, "tool_calls"),
    ],
)
def test_malformed_completions_are_protocol_errors(bad: JSONObject) -> None:
    with pytest.raises(UpstreamProtocolError):
        chat_to_messages_response(bad, model="m")


def test_message_id() -> None:
    assert message_id("chatcmpl-xyz") == "msg_xyz"
    assert message_id("other") == "msg_other"
    assert message_id(None).startswith("msg_")
    assert message_id() != message_id()


# -- stream encoding --------------------------------------------------------------------------


def chunk(
    delta: JSONObject | None = None, finish_reason: str | None = None, **extra: Any
) -> JSONObject:
    choices = (
        [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    )
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": choices, **extra}


def tool_delta(
    index: int, arguments: str, call_id: str | None = None, name: str | None = None
) -> JSONObject:
    call: JSONObject = {"index": index, "function": {"arguments": arguments}}
    if call_id:
        call["id"] = call_id
        call["type"] = "function"
        call["function"]["name"] = name
    return {"tool_calls": [call]}


OPENAI_CHUNKS = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Let me "}),
    chunk({"content": "check."}),
    chunk(tool_delta(0, "", "call_1", "get_weather")),
    chunk(tool_delta(0, '{"city":')),
    chunk(tool_delta(0, '"Paris"}')),
    chunk(tool_delta(1, '{"city":"Rome"}', "call_2", "get_weather")),
    chunk({}, "tool_calls"),
    chunk(usage={"prompt_tokens": 50, "completion_tokens": 12, "total_tokens": 62}),
]


def encode(
    chunks: list[JSONObject], usage: TokenUsage | None = None
) -> list[tuple[str, JSONObject]]:
    encoder = MessagesStreamEncoder("claude-alias", "msg_1")
    events = [event for c in chunks for event in encoder.feed(c)]
    return events + encoder.finish(usage)


def test_stream_event_sequence() -> None:
    events = encode(OPENAI_CHUNKS)
    assert [(name, data.get("index")) for name, data in events] == [
        ("message_start", None),
        ("content_block_start", 0),
        ("content_block_delta", 0),
        ("content_block_delta", 0),
        ("content_block_stop", 0),
        ("content_block_start", 1),
        ("content_block_delta", 1),
        ("content_block_delta", 1),
        ("content_block_stop", 1),
        ("content_block_start", 2),
        ("content_block_delta", 2),
        ("content_block_stop", 2),
        ("message_delta", None),
        ("message_stop", None),
    ]
    assert all(data["type"] == name for name, data in events)
    assert events[0][1]["message"]["id"] == "msg_1"
    assert events[0][1]["message"]["model"] == "claude-alias"
    assert events[5][1]["content_block"] == {
        "type": "tool_use",
        "id": "call_1",
        "name": "get_weather",
        "input": {},
    }
    assert events[7][1]["delta"] == {"type": "input_json_delta", "partial_json": '"Paris"}'}
    assert events[-2][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"output_tokens": 12, "input_tokens": 50},
    }


def test_finish_usage_overrides_chunk_usage() -> None:
    usage = TokenUsage(input_tokens=500, output_tokens=7, cached_input_tokens=400)
    events = encode(OPENAI_CHUNKS, usage)
    assert events[-2][1]["usage"] == {
        "output_tokens": 7,
        "input_tokens": 100,
        "cache_read_input_tokens": 400,
    }


def test_repeated_tool_ids_make_one_block() -> None:
    chunks = [
        chunk(tool_delta(0, '{"a":', "call_1", "f")),
        chunk(tool_delta(0, "1}", "call_1", "f")),
        chunk({}, "tool_calls"),
    ]
    names = [name for name, _ in encode(chunks)]
    assert names.count("content_block_start") == 1


def test_text_after_tool_opens_a_new_block() -> None:
    chunks = [chunk(tool_delta(0, "{}", "c", "f")), chunk({"content": "done"}), chunk({}, "stop")]
    events = encode(chunks)
    starts = [
        data["content_block"]["type"] for name, data in events if name == "content_block_start"
    ]
    assert starts == ["tool_use", "text"]
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_interleaved_tool_arguments_are_a_protocol_error() -> None:
    encoder = MessagesStreamEncoder("m", "msg_1")
    encoder.feed(chunk(tool_delta(0, "", "c1", "f")))
    encoder.feed(chunk(tool_delta(1, "", "c2", "g")))
    with pytest.raises(UpstreamProtocolError, match="interleaved"):
        encoder.feed(chunk(tool_delta(0, "{}")))


@pytest.mark.parametrize(
    ("finish_reason", "stop_reason"), [("length", "max_tokens"), (None, "end_turn")]
)
def test_text_stream_stop_reasons(finish_reason: str | None, stop_reason: str) -> None:
    events = encode([chunk({"content": "hi"}, finish_reason)])
    assert events[-2][1]["delta"]["stop_reason"] == stop_reason


def test_empty_stream_still_makes_a_message() -> None:
    assert [name for name, _ in encode([])] == ["message_start", "message_delta", "message_stop"]


def test_finish_is_idempotent_and_later_chunks_are_ignored() -> None:
    encoder = MessagesStreamEncoder("m", "msg_1")
    assert encoder.finish(None)
    assert encoder.finish(None) == []
    assert encoder.feed(chunk({"content": "late"})) == []


def test_other_choices_are_ignored() -> None:
    other = {
        "id": "x",
        "choices": [{"index": 1, "delta": {"content": "no"}, "finish_reason": None}],
    }
    assert [name for name, _ in encode([other])] == [
        "message_start",
        "message_delta",
        "message_stop",
    ]


# -- errors -----------------------------------------------------------------------------------


def test_error_shapes() -> None:
    expected = {"type": "error", "error": {"type": "overloaded_error", "message": "Busy"}}
    assert error_body("overloaded_error", "Busy") == expected
    assert error_event("overloaded_error", "Busy") == ("error", expected)
    assert MessagesStreamEncoder.error_event("overloaded_error", "Busy") == ("error", expected)


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (503, "overloaded_error"),
        (504, "timeout_error"),
        (529, "overloaded_error"),
        (422, "invalid_request_error"),
        (499, "invalid_request_error"),
        (501, "api_error"),
    ],
)
def test_error_types(status: int, error_type: str) -> None:
    assert anthropic_error_type(status) == error_type
    if status in ANTHROPIC_ERROR_TYPES:
        assert ANTHROPIC_ERROR_TYPES[status] == error_type
