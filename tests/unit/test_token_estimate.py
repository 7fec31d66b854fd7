"""The prompt-token estimate: its arithmetic, and that it is at least the real OpenAI count."""

from __future__ import annotations

import math
import string

import orjson
import pytest

from steward.costs import estimate_input_tokens, max_output_tokens
from steward.types import JSONObject
from steward.wire.openai import ChatRequest, EmbeddingRequest

FRAME = 3 + 4
"""Reply priming plus one message's overhead."""
DENSE = set(string.punctuation + string.digits)


def chat(*messages: JSONObject, **extra: object) -> ChatRequest:
    return ChatRequest.model_validate({"model": "m", "messages": list(messages), **extra})


def user(content: object) -> JSONObject:
    return {"role": "user", "content": content}


def tokens(text: str) -> int:
    """The rule written out slowly: 4 bytes a token, punctuation and digits 3 bytes each,
    each non-ASCII UTF-8 byte 1.5, rounded up."""
    data = text.encode()
    dense = sum(chr(b) in DENSE for b in data)
    high = sum(b >= 0x80 for b in data)
    return math.ceil((len(data) + 2 * dense + 0.5 * high) / 4)


def test_a_plain_message() -> None:
    assert estimate_input_tokens(chat(user("Hello world"))) == FRAME + 3  # ceil(11 / 4)
    assert estimate_input_tokens(chat(user("Hi, you!"))) == FRAME + 3  # ceil((8 + 2 * 2) / 4)


def test_every_message_adds_its_overhead() -> None:
    request = chat({"role": "system", "content": "abcd"}, user("abcd"), user(None))
    assert estimate_input_tokens(request) == 3 + 3 * 4 + 1 + 1


def test_non_ascii_text_counts_its_utf8_bytes() -> None:
    assert estimate_input_tokens(chat(user("é"))) == FRAME + 1  # (2 + 0.5 * 2) / 4
    assert estimate_input_tokens(chat(user("日本語"))) == FRAME + 4  # (9 + 0.5 * 9) / 4


def test_text_parts_count_as_text_and_other_parts_a_fixed_765() -> None:
    parts = [
        {"type": "text", "text": "abcd" * 10},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        {"type": "input_audio", "input_audio": {"data": "UklGR" * 1000, "format": "wav"}},
        {"type": "text", "text": "Thanks!"},
    ]
    assert estimate_input_tokens(chat(user(parts))) == FRAME + 10 + 765 + 765 + 3


def test_tool_definitions_count_their_json() -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
    plain = estimate_input_tokens(chat(user("Weather in Oslo?")))
    with_tools = estimate_input_tokens(chat(user("Weather in Oslo?"), tools=[tool]))
    assert with_tools - plain == tokens(orjson.dumps([tool]).decode())


def test_tool_calls_and_their_results_count_too() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    assistant = {"role": "assistant", "content": None, "tool_calls": [call]}
    result = {"role": "tool", "tool_call_id": "call_1", "content": "18 C, clear"}
    request = chat(user("hi"), assistant, result)
    calls = tokens(orjson.dumps([call]).decode())
    expected = 3 + 3 * 4 + 1 + calls + tokens("call_1") + tokens("18 C, clear")
    assert estimate_input_tokens(request) == expected


def test_a_response_schema_counts_its_json() -> None:
    schema = {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}}
    plain = estimate_input_tokens(chat(user("x")))
    assert estimate_input_tokens(chat(user("x"), response_format=schema)) - plain == tokens(
        orjson.dumps(schema).decode()
    )


def test_embedding_inputs() -> None:
    def embed(data: object) -> int:
        return estimate_input_tokens(EmbeddingRequest.model_validate({"model": "e", "input": data}))

    assert embed("Hello world") == 3
    assert embed(["Hello world", "abcd"]) == 4
    assert embed([101, 7592, 2088]) == 3
    assert embed([[1, 2], [3, 4, 5]]) == 5


# Real counts from OpenAI's tokenizers (cl100k_base for gpt-4 and gpt-3.5, o200k_base for
# gpt-4o and later), counted with a tiktoken-compatible BPE; not installed here, so stated.
KNOWN_COUNTS = [
    ("The quick brown fox jumps over the lazy dog.", 10, 10),
    (
        "Four score and seven years ago our fathers brought forth on this continent, a new "
        "nation, conceived in Liberty, and dedicated to the proposition that all men are "
        "created equal.",
        34,
        34,
    ),
    (
        "It was the best of times, it was the worst of times, it was the age of wisdom, it was "
        "the age of foolishness, it was the epoch of belief, it was the epoch of incredulity.",
        45,
        45,
    ),
    (
        "Please summarise the attached quarterly report and list the three largest risks, "
        "with one sentence on each.",
        20,
        20,
    ),
    ("| model | input | output |\n|---|---|---|\n| gpt-4o | $2.50 | $10.00 |", 31, 31),
    ("我们今天下午三点在会议室讨论新产品的发布计划。", 23, 15),
]


@pytest.mark.parametrize(("text", "cl100k", "o200k"), KNOWN_COUNTS)
def test_the_estimate_covers_the_real_count_without_wild_excess(
    text: str, cl100k: int, o200k: int
) -> None:
    # OpenAI's recipe: 3 to prime the reply, 3 per message, plus the role ("user", 1 token).
    real = 3 + 3 + 1 + max(cl100k, o200k)
    estimate = estimate_input_tokens(chat(user(text)))
    assert real <= estimate <= 1.5 * real


def test_the_openai_cookbook_conversation() -> None:
    """The example in OpenAI's "How to count tokens with tiktoken": 129 prompt tokens for
    gpt-4-0613 (cl100k), 124 for gpt-4o (o200k)."""
    request = chat(
        {
            "role": "system",
            "content": "You are a helpful, pattern-following assistant that translates "
            "corporate jargon into plain English.",
        },
        {
            "role": "system",
            "name": "example_user",
            "content": "New synergies will help drive top-line growth.",
        },
        {
            "role": "system",
            "name": "example_assistant",
            "content": "Things working well together will increase revenue.",
        },
        {
            "role": "system",
            "name": "example_user",
            "content": "Let's circle back when we have more bandwidth to touch base on "
            "opportunities for increased leverage.",
        },
        {
            "role": "system",
            "name": "example_assistant",
            "content": "Let's talk later when we're less busy about how to do better.",
        },
        user(
            "This late pivot means we don't have time to boil the ocean for the client deliverable."
        ),
    )
    assert 129 <= estimate_input_tokens(request) <= 1.5 * 129


def test_max_output_tokens_prefers_max_completion_tokens() -> None:
    both = chat(user("x"), max_tokens=100, max_completion_tokens=50)
    assert max_output_tokens(both, 1024) == 50
    assert max_output_tokens(chat(user("x"), max_tokens=100), 1024) == 100
    assert max_output_tokens(chat(user("x")), 1024) == 1024
    embedding = EmbeddingRequest.model_validate({"model": "e", "input": "x"})
    assert max_output_tokens(embedding, 1024) == 0
