"""The response cache's parts without I/O: keys, stores, the semantic index, stream assembly."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from steward.cache.keys import Scope, probe_for, prompt_text
from steward.cache.responses import Entry, storable
from steward.cache.semantic import Embedder, MemoryVectorIndex, Vector
from steward.cache.store import MemoryStore
from steward.cache.streams import StreamAssembler, replay_chunks
from steward.pipeline.stages.cache import cache_directives, deterministic
from steward.types import JSONObject
from steward.wire.openai import ChatRequest

SCOPE = Scope(key_id="k1", public_model="gpt")
BODY: JSONObject = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-test",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello there.", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
}
TOOL_BODY: JSONObject = {
    **BODY,
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "search", "arguments": '{"q": "x"}'},
                    }
                ],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
}


def chat(**fields: Any) -> ChatRequest:
    data = {"model": "gpt", "messages": [{"role": "user", "content": "hi"}], **fields}
    return ChatRequest.model_validate(data)


def test_the_key_covers_what_changes_the_answer_and_nothing_else() -> None:
    base = probe_for(SCOPE, chat(temperature=0)).key
    assert probe_for(SCOPE, chat(temperature=0, stream=True, user="u1")).key == base
    assert probe_for(SCOPE, chat(temperature=0, max_tokens=5)).key != base
    assert probe_for(SCOPE, chat(temperature=0, custom_knob=1)).key != base
    assert probe_for(Scope("k2", "gpt"), chat(temperature=0)).key != base
    assert probe_for(Scope("k1", "other"), chat(temperature=0)).key != base


def test_the_semantic_scope_is_everything_but_the_last_user_message() -> None:
    one = probe_for(SCOPE, chat(messages=[{"role": "user", "content": "reset password"}]))
    two = probe_for(SCOPE, chat(messages=[{"role": "user", "content": "password reset?"}]))
    assert one.key != two.key and one.semantic_scope == two.semantic_scope
    system = [{"role": "system", "content": "be terse"}, {"role": "user", "content": "hi"}]
    assert probe_for(SCOPE, chat(messages=system)).semantic_scope != one.semantic_scope
    assert probe_for(SCOPE, chat(seed=3)).semantic_scope != probe_for(SCOPE, chat()).semantic_scope


def test_only_a_textual_last_user_message_is_a_prompt() -> None:
    assert prompt_text(chat()) == "hi"
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    assert prompt_text(chat(messages=[{"role": "user", "content": parts}])) == "a\nb"
    image = [{"type": "image_url", "image_url": {"url": "data:,"}}]
    assert prompt_text(chat(messages=[{"role": "user", "content": image}])) is None
    tool = [{"role": "user", "content": "x"}, {"role": "tool", "content": "y", "tool_call_id": "1"}]
    assert probe_for(SCOPE, chat(messages=tool)).semantic_scope is None


def test_deterministic_requests_and_cache_control() -> None:
    assert deterministic(chat(temperature=0)) and deterministic(chat(temperature=0, n=1))
    assert not deterministic(chat()) and not deterministic(chat(temperature=0, n=2))
    assert cache_directives("No-Cache, max-age=0") == {"no-cache", "max-age=0"}
    assert cache_directives(None) == frozenset()


def test_only_whole_answers_are_stored() -> None:
    assert storable(BODY) and storable(TOOL_BODY)
    cut = copy.deepcopy(BODY)
    cut["choices"][0]["finish_reason"] = "length"
    assert not storable(cut)
    assert not storable({"choices": []}) and not storable({"error": {}, "choices": []})


def test_entries_round_trip_and_refuse_garbage() -> None:
    entry = Entry(BODY, scope="s", vector=b"\x00\x00\x80?")
    assert Entry.decode(entry.encode()) == entry
    assert Entry.decode(b"not json") is None
    assert Entry.decode(b'{"v": 2, "body": {}, "vec": null, "scope": null}') is None


def test_memory_store_evicts_the_least_recently_used() -> None:
    async def scenario() -> None:
        store = MemoryStore(max_entries=2)
        await store.put("a", b"1", 60)
        await store.put("b", b"2", 60)
        assert await store.get("a") == b"1"  # a is now the most recent
        await store.put("c", b"3", 60)
        assert await store.get("b") is None
        assert await store.get("a") == b"1" and await store.get("c") == b"3"
        assert len(store) == 2

    asyncio.run(scenario())


def unit(*values: float) -> Vector:
    vector = np.asarray(values, dtype=np.float32)
    result: Vector = vector / np.linalg.norm(vector)
    return result


def test_the_memory_index_searches_one_scope_only() -> None:
    async def scenario() -> None:
        index = MemoryVectorIndex(max_entries=3)
        await index.add("s1", "k1", unit(1, 0, 0), 60)
        await index.add("s1", "k2", unit(0, 1, 0), 60)
        await index.add("s2", "k3", unit(0.9, 0.1, 0), 60)
        found = await index.nearest("s1", unit(1, 0.05, 0))
        assert found is not None and found[0] == "k1" and found[1] > 0.99
        assert await index.nearest("s3", unit(1, 0, 0)) is None
        await index.add("s2", "k4", unit(0, 0, 1), 60)  # over the cap: s1 loses its oldest
        found = await index.nearest("s1", unit(1, 0, 0))
        assert found is not None and found[0] == "k2"
        await index.forget("s1", "k2")
        assert await index.nearest("s1", unit(1, 0, 0)) is None

    asyncio.run(scenario())


class Counting:
    def __init__(self) -> None:
        self.texts: list[str] = []

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> Vector:
        self.texts += texts
        return np.ones((len(texts), 3), dtype=np.float32)


def test_the_embedder_runs_off_the_loop_and_gives_up_when_the_model_is_missing() -> None:
    encoder = Counting()

    def missing() -> Counting:
        raise FileNotFoundError("no weights")

    async def scenario() -> None:
        working = Embedder(lambda: encoder)
        vector = await working.embed("hello")
        assert vector is not None and vector.shape == (3,)
        working.close()
        broken = Embedder(missing)
        assert await broken.embed("hello") is None
        assert await broken.embed("again") is None
        broken.close()

    asyncio.run(scenario())
    assert encoder.texts == ["hello"]


@pytest.mark.parametrize("body", [BODY, TOOL_BODY], ids=["text", "tool call"])
def test_a_replayed_completion_assembles_back_to_itself(body: JSONObject) -> None:
    chunks = replay_chunks(body)
    assert chunks[-1] == {
        "id": "chatcmpl-1",
        "created": 1700000000,
        "model": "gpt-test",
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": body["usage"],
    }
    assembler = StreamAssembler()
    for chunk in chunks:
        assembler(chunk)
    assert assembler.completion() == body


def test_an_unfinished_or_odd_stream_is_not_assembled() -> None:
    unfinished = StreamAssembler()
    for chunk in replay_chunks(BODY)[:-2]:
        unfinished(chunk)
    assert unfinished.completion() is None
    odd = StreamAssembler()
    odd({"choices": ["not a dict"]})
    for chunk in replay_chunks(BODY):
        odd(chunk)
    assert odd.completion() is None
