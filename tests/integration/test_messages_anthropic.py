"""The Anthropic Messages API through the gateway with the official anthropic SDK, both directions."""

from __future__ import annotations

import anthropic
import openai
from tests.fakes import FakeProvider
from tests.integration.records import latest
from tests.servers import Gateway

TOOL = {
    "name": "search",
    "description": "Search the docs",
    "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}},
}


def client(gw: Gateway, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0, timeout=10)


def test_messages_to_an_anthropic_upstream(
    gateway: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = gateway
    with client(gw, key) as c:
        message = c.messages.create(
            model="claude",
            max_tokens=64,
            system="Be brief.",
            messages=[{"role": "user", "content": "hi claude"}],
        )
    assert message.content[0].type == "text"
    assert message.content[0].text == "echo: hi claude"
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens > 0
    sent = fake.requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.json["system"] == "Be brief." and sent.json["model"] == "claude-test"
    assert sent.headers["x-api-key"] == "fake-key"
    assert latest(gw).target == "claude/claude-test"


def test_messages_to_an_openai_upstream(gateway: tuple[Gateway, str], fake: FakeProvider) -> None:
    gw, key = gateway
    with client(gw, key) as c:
        message = c.messages.create(
            model="gpt", max_tokens=64, messages=[{"role": "user", "content": "hi gpt"}]
        )
    assert message.content[0].text == "echo: hi gpt"  # type: ignore[union-attr]
    assert fake.requests[-1].path == "/v1/chat/completions"


def test_streamed_messages_both_ways(gateway: tuple[Gateway, str]) -> None:
    gw, key = gateway
    with client(gw, key) as c:
        for model in ("claude", "gpt"):
            with c.messages.stream(
                model=model, max_tokens=64, messages=[{"role": "user", "content": "stream me"}]
            ) as stream:
                text = "".join(stream.text_stream)
                final = stream.get_final_message()
            assert text == "echo: stream me", model
            assert final.stop_reason == "end_turn"
            assert final.usage.output_tokens > 0
            record = latest(gw)
            assert record.stream and record.endpoint == "messages" and record.output_tokens


def test_tool_use_both_ways(gateway: tuple[Gateway, str]) -> None:
    gw, key = gateway
    with client(gw, key) as c:
        for model in ("claude", "gpt"):
            message = c.messages.create(
                model=model,
                max_tokens=64,
                tools=[TOOL],  # type: ignore[list-item]
                messages=[{"role": "user", "content": "use the tool"}],
            )
            blocks = [b for b in message.content if b.type == "tool_use"]
            assert message.stop_reason == "tool_use", model
            assert blocks[0].name == "search"  # type: ignore[union-attr]
            assert blocks[0].input == {"query": "use the tool"}  # type: ignore[union-attr]
            with c.messages.stream(
                model=model,
                max_tokens=64,
                tools=[TOOL],  # type: ignore[list-item]
                messages=[{"role": "user", "content": "use the tool"}],
            ) as stream:
                final = stream.get_final_message()
            streamed = [b for b in final.content if b.type == "tool_use"]
            assert streamed[0].input == {"query": "use the tool"}, model  # type: ignore[union-attr]


def test_openai_client_reaches_claude_with_tools(
    gateway: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = gateway
    tools = [
        {"type": "function", "function": {"name": "search", "parameters": TOOL["input_schema"]}}
    ]
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0) as c:
        reply = c.chat.completions.create(
            model="claude",
            messages=[
                {"role": "system", "content": "sys"},
                {"role": "user", "content": "use the tool"},
            ],
            tools=tools,  # type: ignore[arg-type]
        )
        streamed = list(
            c.chat.completions.create(
                model="claude", messages=[{"role": "user", "content": "hey"}], stream=True
            )
        )
    call = reply.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "search"  # type: ignore[union-attr]
    assert fake.requests[-2].json["tools"][0]["input_schema"] == TOOL["input_schema"]
    assert fake.requests[-2].json["system"] == "sys"
    text = "".join(ch.choices[0].delta.content or "" for ch in streamed if ch.choices)
    assert text == "echo: hey"
