"""The canonical request's upstream body: usage always requested in streams, hints stripped."""

from __future__ import annotations

from steward.wire.openai import ChatRequest, usage_from_openai


def test_stream_always_asks_for_usage_and_keeps_client_options() -> None:
    request = ChatRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True, "seed": 3}
    )
    body = request.to_upstream("upstream-model", stream=True)
    assert body["model"] == "upstream-model"
    assert body["stream_options"] == {"include_usage": True}
    assert body["seed"] == 3
    plain = request.to_upstream("upstream-model", stream=False)
    assert "stream" not in plain and "stream_options" not in plain


def test_unknown_parameters_pass_through_and_cache_control_is_dropped() -> None:
    request = ChatRequest.model_validate(
        {
            "model": "m",
            "logit_bias": {"1": 2},
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}
                    ],
                }
            ],
            "tools": [
                {
                    "type": "function",
                    "function": {"name": "f"},
                    "cache_control": {"type": "ephemeral"},
                }
            ],
        }
    )
    body = request.to_upstream("u", stream=False)
    assert body["logit_bias"] == {"1": 2}
    assert body["messages"][0]["content"] == [{"type": "text", "text": "hi"}]
    assert body["tools"] == [{"type": "function", "function": {"name": "f"}}]
    # The canonical request keeps them, for Anthropic upstreams.
    assert request.messages[0].content[0]["cache_control"] == {"type": "ephemeral"}  # type: ignore[index]


def test_usage_reading() -> None:
    usage = usage_from_openai(
        {
            "prompt_tokens": 10,
            "completion_tokens": 4,
            "prompt_tokens_details": {"cached_tokens": 6},
            "completion_tokens_details": {"reasoning_tokens": 2},
        }
    )
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens) == (10, 4)
    assert (usage.cached_input_tokens, usage.reasoning_tokens) == (6, 2)
    assert usage_from_openai(None) is None
    assert usage_from_openai({"completion_tokens": 1}) is None
