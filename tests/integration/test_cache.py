"""The response cache through the gateway with the official SDKs, over real HTTP."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import anthropic
import openai
import pytest
from tests import rawhttp
from tests.conftest import GatewayFactory
from tests.fakes import FakeProvider
from tests.integration.records import record_for
from tests.integration.test_chat_openai import TOOLS
from tests.servers import Gateway, free_port

from steward.storage import keys

CACHED = """
[pricing."up/gpt-test"]
input_per_mtok = 10000
output_per_mtok = 20000

[models.cached]
targets = ["up/gpt-test"]
cache = { exact = true }

[models.loose]
targets = ["up/gpt-test"]
cache = { exact = true, deterministic_only = false }

[models.similar]
targets = ["up/gpt-test"]
cache = { exact = true, semantic = true, similarity = 0.92 }
"""
SYSTEM = {"role": "system", "content": "You are the help desk of an online shop."}


def client(gw: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0, timeout=10)


def ask(gw: Gateway, key: str, text: str, model: str = "cached", **params: Any) -> Any:
    """A deterministic chat call; returns the raw response (headers, bytes, parse())."""
    params.setdefault("temperature", 0)
    messages = [SYSTEM, {"role": "user", "content": text}]
    extra_headers = params.pop("headers", None)
    with client(gw, key) as c:
        return c.chat.completions.with_raw_response.create(
            model=model, messages=messages, extra_headers=extra_headers, **params
        )


def stream(gw: Gateway, key: str, text: str, model: str = "cached") -> tuple[Any, str]:
    """A streamed deterministic call: (headers, the text it streamed)."""
    messages = [SYSTEM, {"role": "user", "content": text}]
    with client(gw, key) as c:
        raw = c.chat.completions.with_raw_response.create(
            model=model,
            messages=messages,  # type: ignore[arg-type]
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(raw.parse())
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    text_out = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert chunks[-2].choices[0].finish_reason == "stop"
    return raw.headers, text_out


def settle(gw: Gateway) -> None:
    """Wait until the gateway has finished every request: a stream's answer is stored by its
    finaliser, which may run a moment after the client has read the last event."""
    deadline = time.monotonic() + 5
    while gw.in_flight() and time.monotonic() < deadline:
        time.sleep(0.01)


def another_key(gw: Gateway) -> str:
    _, secret = keys.create_key(gw.runtime.engine, name="other")
    gw.runtime.refresher.refresh()
    return secret


@pytest.fixture
def cached(make_gateway: GatewayFactory) -> tuple[Gateway, str]:
    return make_gateway(CACHED)


def test_exact_hit_is_byte_identical_and_upstream_is_called_once(
    cached: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = cached
    first = ask(gw, key, "What are your opening hours?")
    second = ask(gw, key, "What are your opening hours?")
    assert first.headers["x-steward-cache"] == "miss"
    assert second.headers["x-steward-cache"] == "hit"
    assert second.http_response.content == first.http_response.content
    assert second.headers["x-steward-target"] == "cache"
    assert first.headers["x-steward-target"] == "up/gpt-test"
    assert len(fake.requests) == 1
    miss, hit = (record_for(gw, r.headers["x-request-id"]) for r in (first, second))
    assert (miss.cache, hit.cache) == ("miss", "hit")
    assert hit.target is None and hit.status == 200 and hit.cache_similarity is None
    assert hit.output_tokens == miss.output_tokens


def test_other_parameters_tools_or_keys_miss(
    cached: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = cached
    ask(gw, key, "Where is my parcel?")
    assert ask(gw, key, "Where is my parcel?", max_tokens=50).headers["x-steward-cache"] == "miss"
    assert ask(gw, key, "Where is my parcel?", seed=7).headers["x-steward-cache"] == "miss"
    with_tools = ask(gw, key, "Where is my parcel?", tools=TOOLS)
    assert with_tools.headers["x-steward-cache"] == "miss"
    other = another_key(gw)
    assert ask(gw, other, "Where is my parcel?").headers["x-steward-cache"] == "miss"
    assert len(fake.requests) == 5
    assert ask(gw, other, "Where is my parcel?").headers["x-steward-cache"] == "hit"
    assert ask(gw, key, "Where is my parcel?", seed=7).headers["x-steward-cache"] == "hit"
    assert len(fake.requests) == 5


def test_no_cache_bypasses_but_stores_and_no_store_does_neither(
    cached: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = cached
    ask(gw, key, "Do you ship abroad?")
    fresh = ask(gw, key, "Do you ship abroad?", headers={"Cache-Control": "no-cache"})
    assert fresh.headers["x-steward-cache"] == "bypass"
    assert fresh.headers["x-steward-target"] == "up/gpt-test"
    assert len(fake.requests) == 2
    assert record_for(gw, fresh.headers["x-request-id"]).cache == "bypass"
    # The fresh answer replaced the old one.
    fake.reset()
    bypassed = ask(gw, key, "Do you take cards?", headers={"Cache-Control": "no-cache"})
    assert (
        ask(gw, key, "Do you take cards?").http_response.content == bypassed.http_response.content
    )
    unstored = ask(gw, key, "Do you sell gift cards?", headers={"cache-control": "no-store"})
    assert unstored.headers["x-steward-cache"] == "bypass"
    assert ask(gw, key, "Do you sell gift cards?").headers["x-steward-cache"] == "miss"
    assert len(fake.requests) == 3


def test_non_deterministic_requests_are_not_cached_by_default(
    cached: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = cached
    for temperature in (None, None, 0.7, 0.7):
        params = {} if temperature is None else {"temperature": temperature}
        messages = [{"role": "user", "content": "Tell me a joke"}]
        with client(gw, key) as c:
            raw = c.chat.completions.with_raw_response.create(
                model="cached",
                messages=messages,  # type: ignore[arg-type]
                **params,  # type: ignore[arg-type]
            )
        assert raw.headers["x-steward-cache"] == "skip"
    assert ask(gw, key, "Tell me a joke", n=2).headers["x-steward-cache"] == "skip"
    # Counted by content: the session's fake may also see a late call from an earlier test.
    jokes = [r for r in fake.requests if "Tell me a joke" in str(r.json.get("messages"))]
    assert len(jokes) == 5, [r.json for r in fake.requests]
    loose = [ask(gw, key, "Tell me a joke", model="loose", temperature=0.7) for _ in range(2)]
    assert [r.headers["x-steward-cache"] for r in loose] == ["miss", "hit"]


def test_a_streamed_request_that_hits_is_served_as_a_stream(
    cached: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = cached
    answer = ask(gw, key, "How long does delivery take?").parse()
    headers, text = stream(gw, key, "How long does delivery take?")
    assert headers["x-steward-cache"] == "hit"
    assert headers["content-type"].startswith("text/event-stream")
    assert text == answer.choices[0].message.content == "echo: How long does delivery take?"
    assert len(fake.requests) == 1
    record = record_for(gw, headers["x-request-id"])
    assert record.stream and record.cache == "hit" and record.output_tokens is not None


def test_a_streamed_miss_is_stored_then_hits(
    cached: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = cached
    headers, text = stream(gw, key, "Can I return shoes?")
    assert headers["x-steward-cache"] == "miss"
    settle(gw)
    again, text_again = stream(gw, key, "Can I return shoes?")
    assert again["x-steward-cache"] == "hit" and text_again == text
    whole = ask(gw, key, "Can I return shoes?")
    assert whole.headers["x-steward-cache"] == "hit"
    reply = whole.parse()
    assert reply.choices[0].message.content == text and reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.completion_tokens > 0
    assert len(fake.requests) == 1


def test_tool_calls_are_cached_and_replayed_in_a_stream(
    cached: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = cached
    first = ask(gw, key, "use the tool: refund policy", tools=TOOLS).parse()
    call = first.choices[0].message.tool_calls[0]
    with client(gw, key) as c:
        chunks = list(
            c.chat.completions.create(
                model="cached",
                messages=[SYSTEM, {"role": "user", "content": "use the tool: refund policy"}],  # type: ignore[list-item]
                tools=TOOLS,  # type: ignore[arg-type]
                temperature=0,
                stream=True,
            )
        )
    deltas = [d for ch in chunks for d in (ch.choices[0].delta.tool_calls or [])]
    assert deltas[0].id == call.id and deltas[0].function.name == "search"  # type: ignore[union-attr]
    arguments = "".join(d.function.arguments or "" for d in deltas if d.function)
    assert json.loads(arguments) == {"query": "use the tool: refund policy"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert len(fake.requests) == 1


def test_anthropic_stream_is_served_from_the_cache(
    cached: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = cached
    request: dict[str, Any] = {
        "model": "cached",
        "max_tokens": 64,
        "extra_body": {"temperature": 0},
        "messages": [{"role": "user", "content": "hello from claude code"}],
    }
    with anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0, timeout=10) as c:
        whole = c.messages.create(**request)
        with c.messages.stream(**request) as events:
            text = "".join(events.text_stream)
            final = events.get_final_message()
    assert whole.content[0].type == "text" and text == whole.content[0].text
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0
    assert len(fake.requests) == 1


PARAPHRASE = ("How do I reset my password?", "What's the way to reset my password?")
NEAR_MISS = ("How do I cancel my order?", "How do I cancel my subscription?")


def test_semantic_hit_on_a_paraphrase_only_within_the_same_key(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    gw, key = make_gateway(CACHED)
    original = ask(gw, key, PARAPHRASE[0], model="similar")
    paraphrase = ask(gw, key, PARAPHRASE[1], model="similar")
    assert paraphrase.headers["x-steward-cache"] == "semantic"
    similarity = float(paraphrase.headers["x-steward-cache-similarity"])
    # 0.966 in float32 (sentence-transformers); the int8 encoder moves it by up to 0.02.
    assert similarity == pytest.approx(0.966, abs=0.02)
    assert paraphrase.http_response.content == original.http_response.content
    record = record_for(gw, paraphrase.headers["x-request-id"])
    assert record.cache == "semantic" and record.cache_similarity == pytest.approx(similarity)
    assert len(fake.requests) == 1
    other = another_key(gw)
    assert ask(gw, other, PARAPHRASE[1], model="similar").headers["x-steward-cache"] == "miss"
    assert len(fake.requests) == 2


def test_semantic_near_misses_and_other_contexts_do_not_hit(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    gw, key = make_gateway(CACHED)
    ask(gw, key, NEAR_MISS[0], model="similar")
    near = ask(gw, key, NEAR_MISS[1], model="similar")
    assert near.headers["x-steward-cache"] == "miss"
    assert near.parse().choices[0].message.content == f"echo: {NEAR_MISS[1]}"
    ask(gw, key, PARAPHRASE[0], model="similar")
    # The same paraphrase after another system prompt, or with other parameters, is another scope.
    with client(gw, key) as c:
        raw = c.chat.completions.with_raw_response.create(
            model="similar",
            messages=[{"role": "user", "content": PARAPHRASE[1]}],
            temperature=0,
        )
    assert raw.headers["x-steward-cache"] == "miss"
    assert ask(gw, key, PARAPHRASE[1], model="similar", seed=1).headers["x-steward-cache"] == "miss"
    assert len(fake.requests) == 5


def test_stats_endpoint_counts_per_model(cached: tuple[Gateway, str]) -> None:
    gw, key = cached
    ask(gw, key, "Is there a sale?")
    ask(gw, key, "Is there a sale?")
    ask(gw, key, "Is there a sale?", headers={"Cache-Control": "no-cache"})
    unauthorised = rawhttp.request("GET", gw.url + "/api/cache/stats")
    assert unauthorised.status == 401
    as_app = rawhttp.request(
        "GET", gw.url + "/api/cache/stats", headers={"Authorization": f"Bearer {key}"}
    )
    assert as_app.status == 403 and "/v1" in as_app.json()["error"]["message"]
    stats = rawhttp.request(
        "GET", gw.url + "/api/cache/stats", headers={"Authorization": f"Bearer {gw.admin_key()}"}
    )
    assert stats.status == 200
    body = stats.json()
    assert body["backend"] == "memory"
    assert set(body["models"]) == {"cached", "loose", "similar"}
    counts = body["models"]["cached"]
    assert counts["hits"] == 1 and counts["misses"] == 1 and counts["bypasses"] == 1
    assert counts["semantic_hits"] == 0 and counts["hit_ratio"] == 0.5
    assert counts["input_tokens_saved"] > 0 and counts["output_tokens_saved"] > 0
    # Priced at $0.01 / $0.02 per input / output token (the [pricing] table above).
    saved = counts["input_tokens_saved"] * 0.01 + counts["output_tokens_saved"] * 0.02
    assert counts["cost_saved_usd"] == pytest.approx(saved)


def test_models_without_a_cache_say_nothing(
    cached: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = cached
    _, second = (ask(gw, key, "hello", model="gpt") for _ in range(2))
    assert "x-steward-cache" not in second.headers
    assert len(fake.requests) == 2
    assert record_for(gw, second.headers["x-request-id"]).cache is None


def test_an_unreachable_redis_is_a_miss_not_an_error(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    down = f'[redis]\nurl = "redis://127.0.0.1:{free_port()}/0"\ntimeout_s = 0.2\n'
    gw, key = make_gateway(CACHED + down)
    replies = [ask(gw, key, PARAPHRASE[0], model="similar") for _ in range(2)]
    assert [r.headers["x-steward-cache"] for r in replies] == ["miss", "miss"]
    assert replies[1].parse().choices[0].message.content == f"echo: {PARAPHRASE[0]}"
    assert len(fake.requests) == 2


class SilentServer:
    """Accepts connections and never answers: a Redis that hangs."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.open: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.open.append(conn)  # held open, never answered

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()
        for conn in self.open:
            conn.close()


def test_a_hanging_redis_delays_a_miss_by_its_lookup_only(
    make_gateway: GatewayFactory, fake: FakeProvider
) -> None:
    silent = SilentServer()
    try:
        hanging = f'[redis]\nurl = "redis://127.0.0.1:{silent.port}/0"\ntimeout_s = 0.2\n'
        gw, key = make_gateway(CACHED + hanging)
        timings = []
        for question in ("first question", "second question", "third question"):
            started = time.perf_counter()
            reply = ask(gw, key, question)
            timings.append(time.perf_counter() - started)
            assert reply.headers["x-steward-cache"] == "miss"
        # The lookup waits out its timeout (2 x 0.2 s); the store is sent, not waited for.
        assert all(0.35 < t < 0.7 for t in timings[1:]), timings
        assert len(fake.requests) == 3
    finally:
        silent.close()


@pytest.mark.redis
def test_replicas_share_the_cache_through_redis(
    make_gateway: GatewayFactory,
    redis_url: str,
    redis_prefix: str,
    fake: FakeProvider,
    tmp_path: Any,
) -> None:
    # A generous timeout: this test is about sharing; on a loaded machine a 250 ms Redis stall
    # (the default timeout) would turn the second replica's hit into a miss, by design.
    shared = f'[redis]\nurl = "{redis_url}"\nkey_prefix = "{redis_prefix}"\ntimeout_s = 2.0\n'
    database = f"sqlite:///{tmp_path}/shared.db"
    one, key = make_gateway(CACHED + shared, storage_url=database)
    two, _ = make_gateway(CACHED + shared, storage_url=database)
    assert ask(one, key, "Do you deliver on Sundays?").headers["x-steward-cache"] == "miss"
    through_two = ask(two, key, "Do you deliver on Sundays?")
    assert through_two.headers["x-steward-cache"] == "hit"
    ask(one, key, PARAPHRASE[0], model="similar")
    semantic = ask(two, key, PARAPHRASE[1], model="similar")
    assert semantic.headers["x-steward-cache"] == "semantic"
    _, text = stream(one, key, "Can I pay later?")
    settle(one)
    again, text_again = stream(two, key, "Can I pay later?")
    assert again["x-steward-cache"] == "hit" and text_again == text
    assert len(fake.requests) == 3
    stats = rawhttp.request(
        "GET", two.url + "/api/cache/stats", headers={"Authorization": f"Bearer {two.admin_key()}"}
    )
    assert stats.json()["backend"] == "redis"
