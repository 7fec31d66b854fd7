"""LocalProvider on the real bundled models (SmolLM2 via llama.cpp, MiniLM), and its runner."""

from __future__ import annotations

import asyncio
import base64
import math
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import numpy as np
import pytest

from steward.errors import (
    InvalidRequestError,
    OverloadedError,
    ProviderError,
    UnknownModelError,
    UpstreamProtocolError,
)
from steward.providers.local import LocalProvider
from steward.providers.local_runner import Emit, ModelRunner
from steward.types import JSONObject
from steward.wire.openai import ChatRequest, EmbeddingRequest

QUESTION = "What is the capital of France?"
LONG_TASK = "Count from 1 to 1000, separated by commas, and do not stop early."

needs_models = pytest.mark.skipif(
    LocalProvider("probe").available() is not None,
    reason=f"local models unavailable: {LocalProvider('probe').available()}",
)


def chat_request(content: Any = QUESTION, **fields: Any) -> ChatRequest:
    body = {"model": "smollm2", "messages": [{"role": "user", "content": content}], **fields}
    return ChatRequest.model_validate(body)


def long_request() -> ChatRequest:
    """Deterministic and long: finishing it would take many seconds, so a test can tell a
    stopped generation from a completed one."""
    return chat_request(LONG_TASK, max_tokens=1000, temperature=0)


def embedding_request(inputs: Any, **fields: Any) -> EmbeddingRequest:
    return EmbeddingRequest.model_validate({"model": "minilm", "input": inputs, **fields})


async def collect(stream: AsyncIterator[JSONObject]) -> list[JSONObject]:
    return [chunk async for chunk in stream]


async def first_content(stream: AsyncIterator[JSONObject]) -> JSONObject:
    async for chunk in stream:
        if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
            return chunk
    raise AssertionError("the stream ended without content")


@pytest.fixture(scope="module")
def provider() -> Iterator[LocalProvider]:
    local = LocalProvider("local")
    yield local
    asyncio.run(local.aclose())


# --- requests refused before any model loads --------------------------------------------------


def test_available_and_supports() -> None:
    chat_only = LocalProvider("local", embedding_models=())
    assert chat_only.supports("chat")
    assert not chat_only.supports("embeddings")
    missing = LocalProvider("local", model_path="/nonexistent/model.gguf", embedding_models=())
    assert "/nonexistent/model.gguf" in (missing.available() or "")


def test_unknown_model_lists_the_valid_names(provider: LocalProvider) -> None:
    with pytest.raises(UnknownModelError, match="smollm2") as chat_error:
        asyncio.run(provider.chat(chat_request(), "gpt-4o"))
    with pytest.raises(UnknownModelError, match="minilm, all-minilm-l6-v2"):
        asyncio.run(provider.embed(embedding_request("hi"), "text-embedding-3-small"))
    assert chat_error.value.param == "model"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"logprobs": True, "stream": True}, "logprobs"),
        ({"n": 2}, "n"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        ({"response_format": {"type": "json_schema", "json_schema": {}}}, "response_format"),
    ],
)
def test_unsupported_options_are_refused(
    provider: LocalProvider, fields: dict[str, Any], param: str
) -> None:
    with pytest.raises(InvalidRequestError) as error:
        asyncio.run(provider.chat(chat_request(**fields), "smollm2"))
    assert error.value.param == param


def test_image_parts_are_refused(provider: LocalProvider) -> None:
    parts = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {}}]
    with pytest.raises(InvalidRequestError, match="text only"):
        asyncio.run(provider.chat(chat_request(parts), "smollm2"))


# --- chat with the bundled SmolLM2 ------------------------------------------------------------


@pytest.mark.slow
@needs_models
def test_chat_generates_text_with_usage(provider: LocalProvider) -> None:
    parts = [
        {"type": "text", "text": "What is the capital"},
        {"type": "text", "text": "of France?"},
    ]
    response = asyncio.run(
        provider.chat(chat_request(parts, max_tokens=16, temperature=0), "smollm2")
    )

    assert response["object"] == "chat.completion"
    assert response["model"] == "smollm2"
    choice = response["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"].strip()
    usage = response["usage"]
    assert usage["prompt_tokens"] > 0
    assert 0 < usage["completion_tokens"] <= 16
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


@pytest.mark.slow
@needs_models
def test_logprobs_cover_every_token_with_the_top_alternatives(provider: LocalProvider) -> None:
    request = chat_request(max_tokens=6, temperature=0, logprobs=True, top_logprobs=3)
    response = asyncio.run(provider.chat(request, "smollm2"))
    choice = response["choices"][0]
    content = choice["logprobs"]["content"]
    text = choice["message"]["content"]
    assert choice["finish_reason"] == "length"
    # Every token, the last one sampled included (it is never evaluated), spells the answer.
    assert "".join(c["token"] for c in content) == text
    assert len(content) == response["usage"]["completion_tokens"] == 6
    for entry in content:
        tops = entry["top_logprobs"]
        assert len(tops) == 3
        assert [t["logprob"] for t in tops] == sorted((t["logprob"] for t in tops), reverse=True)
        assert all(t["logprob"] <= 0 for t in tops)
        # Near-greedy decoding (temperature 0, llama.cpp's repeat penalty applied after the
        # raw distribution is read): the chosen token is among the most likely ones.
        chosen = {t["token"]: t["logprob"] for t in tops}
        assert entry["token"] in chosen
        assert entry["logprob"] == pytest.approx(chosen[entry["token"]])
    total = sum(math.exp(t["logprob"]) for t in content[0]["top_logprobs"])
    assert 0 < total <= 1.0 + 1e-9


@pytest.mark.slow
@needs_models
def test_stream_yields_chunks_then_usage(provider: LocalProvider) -> None:
    request = chat_request(max_tokens=24, temperature=0)
    chunks = asyncio.run(collect(provider.chat_stream(request, "smollm2")))
    whole = asyncio.run(provider.chat(request, "smollm2"))

    content = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]
    assert len(content) >= 3
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "smollm2" for c in chunks)
    assert chunks[-2]["choices"][0]["finish_reason"] in ("stop", "length")
    text = "".join(c["choices"][0]["delta"]["content"] for c in content)
    assert text == whole["choices"][0]["message"]["content"]  # temperature 0: same tokens
    final = chunks[-1]
    assert final["choices"] == []
    assert final["usage"]["prompt_tokens"] == whole["usage"]["prompt_tokens"]
    assert final["usage"]["completion_tokens"] == whole["usage"]["completion_tokens"]


@pytest.mark.slow
@needs_models
def test_prompt_and_max_tokens_beyond_the_context_are_refused(provider: LocalProvider) -> None:
    with pytest.raises(InvalidRequestError, match="context of 2048 tokens") as error:
        asyncio.run(provider.chat(chat_request(max_tokens=2048), "smollm2"))
    assert error.value.code == "context_length_exceeded"


@pytest.mark.slow
@needs_models
def test_closing_a_stream_stops_generation_and_frees_the_model(provider: LocalProvider) -> None:
    async def scenario() -> int:
        before = provider.generated_tokens.value
        stream = provider.chat_stream(long_request(), "smollm2")
        await first_content(stream)
        await stream.aclose()
        # The next request waits for the slot, so it runs only after the worker stopped.
        await provider.chat(chat_request(max_tokens=1), "smollm2")
        return provider.generated_tokens.value - before

    # The long request asks for 1000 tokens; a stopped worker produced only a few.
    assert asyncio.run(scenario()) < 300


@pytest.mark.slow
@needs_models
def test_cancelling_a_chat_stops_generation(provider: LocalProvider) -> None:
    async def scenario() -> int:
        before = provider.generated_tokens.value
        task = asyncio.create_task(provider.chat(long_request(), "smollm2"))
        while provider.generated_tokens.value == before:  # noqa: ASYNC110 (set by a thread)
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await provider.chat(chat_request(max_tokens=1), "smollm2")
        return provider.generated_tokens.value - before

    assert asyncio.run(scenario()) < 300


@pytest.mark.slow
@needs_models
def test_overloaded_when_the_queue_is_full() -> None:
    local = LocalProvider("local", max_queue=1, embedding_models=())

    async def scenario() -> None:
        stream = local.chat_stream(long_request(), "smollm2")
        await first_content(stream)  # holds the only model
        queued = asyncio.create_task(local.chat(chat_request(max_tokens=1), "smollm2"))
        await asyncio.sleep(0)  # lets the task run up to its wait for the model
        assert local._chat.waiting == 1
        with pytest.raises(OverloadedError, match=r"busy \(1 requests queued\)"):
            await local.chat(chat_request(max_tokens=1), "smollm2")
        await stream.aclose()
        assert (await queued)["usage"]["completion_tokens"] == 1

    try:
        asyncio.run(scenario())
    finally:
        asyncio.run(local.aclose())


# --- embeddings ---------------------------------------------------------------------------


@needs_models
def test_embeddings_response_shape(provider: LocalProvider) -> None:
    texts = ["The cat sat on the mat.", "Ein Hund läuft.", "routing"]
    response = asyncio.run(provider.embed(embedding_request(texts), "all-MiniLM-L6-v2"))

    assert response["object"] == "list"
    assert response["model"] == "all-MiniLM-L6-v2"
    assert [d["index"] for d in response["data"]] == [0, 1, 2]
    for item in response["data"]:
        assert item["object"] == "embedding"
        assert len(item["embedding"]) == 384
        assert abs(np.linalg.norm(item["embedding"]) - 1.0) < 1e-5
    assert response["usage"]["prompt_tokens"] == response["usage"]["total_tokens"] > 3


@needs_models
def test_embeddings_base64_round_trip(provider: LocalProvider) -> None:
    floats = asyncio.run(provider.embed(embedding_request("hello world"), "minilm"))
    encoded = asyncio.run(
        provider.embed(embedding_request("hello world", encoding_format="base64"), "minilm")
    )

    vector = np.frombuffer(base64.b64decode(encoded["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_array_equal(vector, np.array(floats["data"][0]["embedding"], np.float32))


@pytest.mark.parametrize(
    ("inputs", "fields", "match"),
    [
        ([[1, 2, 3]], {}, "send text"),
        ([1, 2, 3], {}, "send text"),
        ([], {}, "between 1 and"),
        ("hi", {"dimensions": 128}, "384 dimensions"),
    ],
)
def test_bad_embedding_requests_are_refused(
    provider: LocalProvider, inputs: Any, fields: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidRequestError, match=match):
        asyncio.run(provider.embed(embedding_request(inputs, **fields), "minilm"))


# --- the runner, with a stand-in model ---------------------------------------------------------


class Gate:
    """A 'model' whose jobs block until released, recording whether they were cancelled."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.loads = 0
        self.closed = False

    def close(self) -> None:
        self.closed = True


def gated_runner(gate: Gate, **limits: int) -> ModelRunner[Gate]:
    def load() -> Gate:
        gate.loads += 1
        return gate

    return ModelRunner(load, label="gate", **limits)


def noop(model: Gate, cancel: threading.Event) -> None:
    return None


def wait(model: Gate, cancel: threading.Event) -> str:
    model.started.set()
    while not (model.release.is_set() or cancel.is_set()):
        time.sleep(0.001)
    return "cancelled" if cancel.is_set() else "done"


def test_runner_queues_then_refuses_and_loads_once() -> None:
    gate = Gate()
    runner = gated_runner(gate, max_concurrency=1, max_queue=1)

    async def scenario() -> list[str]:
        first = asyncio.create_task(runner.call(wait))
        second = asyncio.create_task(runner.call(wait))
        await asyncio.to_thread(gate.started.wait)
        await asyncio.sleep(0.01)
        assert runner.waiting == 1
        with pytest.raises(OverloadedError, match=r"busy \(1 requests queued\)"):
            await runner.call(wait)
        gate.release.set()
        return [await first, await second]

    assert asyncio.run(scenario()) == ["done", "done"]
    assert gate.loads == 1
    asyncio.run(runner.aclose())
    assert gate.closed


def test_runner_keeps_the_slot_until_a_cancelled_job_returns() -> None:
    gate = Gate()
    runner = gated_runner(gate, max_queue=0)
    seen: list[str] = []

    def slow_to_stop(model: Gate, cancel: threading.Event) -> None:
        seen.append(wait(model, cancel))
        time.sleep(0.3)  # like finishing the token in flight

    async def scenario() -> None:
        task = asyncio.create_task(runner.call(slow_to_stop))
        await asyncio.to_thread(gate.started.wait)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(OverloadedError):  # the job has not returned yet
            await runner.call(noop)
        for _ in range(500):
            try:
                await runner.call(noop)
                return
            except OverloadedError:
                await asyncio.sleep(0.01)
        raise AssertionError("the slot was never released")

    asyncio.run(scenario())
    assert seen == ["cancelled"]
    asyncio.run(runner.aclose())


def test_runner_stream_stops_the_job_when_closed() -> None:
    gate = Gate()
    runner = gated_runner(gate)
    produced: list[int] = []

    def count(model: Gate, emit: Emit[int], cancel: threading.Event) -> None:
        for i in range(10_000):
            if cancel.is_set():
                return
            produced.append(i)
            emit(i)
            time.sleep(0.001)

    async def scenario() -> None:
        stream = runner.stream(count)
        assert await anext(stream) == 0
        await stream.aclose()
        await runner.call(noop)

    asyncio.run(scenario())
    assert len(produced) < 1000
    asyncio.run(runner.aclose())


def test_runner_translates_unexpected_errors_and_passes_its_own() -> None:
    runner = gated_runner(Gate())

    def broken(model: Gate, cancel: threading.Event) -> None:
        raise ValueError("llama exploded")

    def refused(model: Gate, emit: Emit[int], cancel: threading.Event) -> None:
        raise InvalidRequestError("too long")

    with pytest.raises(UpstreamProtocolError, match="'gate' failed") as error:
        asyncio.run(runner.call(broken))
    assert isinstance(error.value.__cause__, ValueError)
    with pytest.raises(InvalidRequestError, match="too long"):
        asyncio.run(collect_ints(runner.stream(refused)))
    asyncio.run(runner.aclose())
    with pytest.raises(ProviderError, match="shut down"):
        asyncio.run(runner.call(broken))


def test_runner_reports_a_failed_load() -> None:
    def load() -> Gate:
        raise OSError("no such file")

    runner: ModelRunner[Gate] = ModelRunner(load, label="missing")
    with pytest.raises(UpstreamProtocolError, match="could not be loaded"):
        asyncio.run(runner.call(noop))
    asyncio.run(runner.aclose())


async def collect_ints(stream: AsyncIterator[int]) -> list[int]:
    return [item async for item in stream]
