"""Traces through a real gateway, exported over OTLP/HTTP to a real receiver on loopback.

Each test reads the trace back from the receiver (`tests/fakes/otlp.py`, protobuf decoded with
`opentelemetry-proto`) and checks its tree, names and GenAI attributes.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from tests.conftest import GatewayFactory, fake_providers_toml
from tests.fakes import FakeProvider, Fault
from tests.fakes.otlp import OTLPReceiver, ReceivedSpan
from tests.integration.test_fallback import PAIR, PRIMARY, SECONDARY, routing_toml
from tests.integration.test_lifecycle import STEWARD, run_cli, wait_ready
from tests.servers import Gateway, free_port, write_config

import steward.trace
from steward.storage import keys, teams

USER = [{"role": "user", "content": "what is the capital of France"}]
ANSWER = "echo: what is the capital of France"
STAGES = ["steward.auth", "steward.limits", "steward.cache", "steward.route"]
PRICES = """
[pricing."up/gpt-test"]
input_per_mtok = 1.0
output_per_mtok = 2.0
"""


def tracing_toml(otlp: OTLPReceiver, extra: str = "") -> str:
    return f"""
[tracing]
enabled = true
otlp_endpoint = "{otlp.endpoint}"
batch_delay_ms = 20
{extra}
"""


@pytest.fixture(scope="module")
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as otlp:
        yield otlp


@pytest.fixture
def otlp(receiver: OTLPReceiver) -> OTLPReceiver:
    receiver.clear()
    return receiver


@pytest.fixture
def traced(
    make_gateway: GatewayFactory, otlp: OTLPReceiver, backup: FakeProvider
) -> tuple[Gateway, str]:
    """A traced gateway whose key belongs to a team; models `gpt` (priced) and `pair`."""
    gw, _ = make_gateway(tracing_toml(otlp) + PRICES + routing_toml(backup, PAIR))
    team = teams.create_team(gw.runtime.engine, name="search")
    _, key = keys.create_key(gw.runtime.engine, name="svc", role="app", team_id=team.id)
    gw.runtime.refresher.refresh()
    return gw, key


def client(gw: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0, timeout=15)


def by_name(spans: list[ReceivedSpan]) -> dict[str, ReceivedSpan]:
    return {span.name: span for span in spans}


def root_of(spans: list[ReceivedSpan]) -> ReceivedSpan:
    (root,) = [s for s in spans if s.kind == "server"]
    return root


def test_a_call_is_a_request_span_with_stage_and_attempt_children(
    traced: tuple[Gateway, str], otlp: OTLPReceiver
) -> None:
    gw, key = traced
    with client(gw, key) as c:
        raw = c.chat.completions.with_raw_response.create(
            model="gpt", messages=USER, max_tokens=20, temperature=0.5
        )
    reply = raw.parse()
    trace_id = raw.headers["x-trace-id"]
    spans = otlp.trace(trace_id, 6)
    assert len(spans) == 6
    named = by_name(spans)
    request = named["chat gpt"]
    assert request.kind == "server" and request.parent_id is None
    assert raw.headers["traceparent"] == f"00-{trace_id}-{request.span_id}-01"
    assert request.resource["service.name"] == "steward"
    assert request.scope == "steward"
    attributes = request.attributes
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "gpt"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.response.model"] == reply.model
    assert attributes["gen_ai.response.id"] == reply.id
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.request.max_tokens"] == 20
    assert attributes["gen_ai.request.temperature"] == 0.5
    assert reply.usage is not None
    assert attributes["gen_ai.usage.input_tokens"] == reply.usage.prompt_tokens
    assert attributes["gen_ai.usage.output_tokens"] == reply.usage.completion_tokens
    assert attributes["http.response.status_code"] == 200
    assert attributes["steward.request_id"] == raw.headers["x-request-id"]
    assert attributes["steward.target"] == "up/gpt-test"
    assert attributes["steward.attempt_count"] == 1
    assert attributes["steward.team_id"].startswith("team_")
    expected_cost = (reply.usage.prompt_tokens * 1.0 + reply.usage.completion_tokens * 2.0) / 1e6
    assert attributes["steward.cost_usd"] == pytest.approx(expected_cost)
    assert "error.type" not in attributes and request.status == "unset"
    for name in STAGES:
        stage = named[name]
        assert stage.parent_id == request.span_id, name
        assert request.start_ns <= stage.start_ns <= stage.end_ns <= request.end_ns
    attempt = named["chat gpt-test"]
    assert attempt.kind == "client"
    assert attempt.parent_id == named["steward.route"].span_id
    assert attempt.attributes["gen_ai.request.model"] == "gpt-test"
    assert attempt.attributes["gen_ai.provider.name"] == "openai"
    assert attempt.attributes["steward.target"] == "up/gpt-test"
    assert attempt.attributes["gen_ai.usage.output_tokens"] == reply.usage.completion_tokens
    assert attempt.attributes["http.response.status_code"] == 200
    # Stage spans cover their own work: they do not nest in one another.
    assert named["steward.auth"].end_ns <= named["steward.limits"].start_ns
    assert all(span.events == [] for span in spans)  # no content unless capture_content


def test_a_stream_s_request_span_ends_when_the_stream_does(
    traced: tuple[Gateway, str], otlp: OTLPReceiver, fake: FakeProvider
) -> None:
    gw, key = traced
    fake.script(Fault(chunk_delay_s=0.05))
    with client(gw, key) as c:
        raw = c.chat.completions.with_raw_response.create(
            model="gpt", messages=USER, stream=True, stream_options={"include_usage": True}
        )
        chunks = list(raw.parse())
    read_all_ns = time.time_ns()
    usage = chunks[-1].usage
    assert usage is not None
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == ANSWER
    spans = otlp.trace(raw.headers["x-trace-id"], 6)
    named = by_name(spans)
    request, attempt, route = named["chat gpt"], named["chat gpt-test"], named["steward.route"]
    assert request.attributes["steward.stream"] is True
    assert request.attributes["gen_ai.usage.output_tokens"] == usage.completion_tokens
    assert request.attributes["gen_ai.usage.input_tokens"] == usage.prompt_tokens
    assert request.attributes["gen_ai.response.model"] == chunks[0].model
    assert request.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert request.attributes["steward.cost_usd"] > 0
    assert request.attributes["steward.ttft_ms"] > 0
    assert attempt.attributes["gen_ai.usage.output_tokens"] == usage.completion_tokens
    # The loop is done at the first chunk; the request and the attempt last the whole stream.
    words = len(ANSWER.split())
    assert request.end_ns - request.start_ns >= words * 0.05e9 * 0.8
    assert attempt.end_ns - attempt.start_ns >= words * 0.05e9 * 0.8
    assert route.end_ns < attempt.end_ns
    assert request.end_ns <= read_all_ns + 1_000_000_000  # ended with it, not at some flush


def test_a_fallback_after_an_upstream_500_shows_both_attempts(
    traced: tuple[Gateway, str], otlp: OTLPReceiver, fake: FakeProvider, backup: FakeProvider
) -> None:
    gw, key = traced
    fake.script(Fault(status=500))
    with client(gw, key) as c:
        raw = c.chat.completions.with_raw_response.create(model="pair", messages=USER)
    assert raw.headers["x-steward-target"] == SECONDARY
    spans = otlp.trace(raw.headers["x-trace-id"], 7)
    route = by_name(spans)["steward.route"]
    attempts = sorted((s for s in spans if s.kind == "client"), key=lambda s: s.start_ns)
    assert [a.name for a in attempts] == ["chat gpt-test", "chat gpt-backup"]
    assert all(a.parent_id == route.span_id for a in attempts)
    failed, served = attempts
    assert failed.attributes["steward.target"] == PRIMARY
    assert failed.attributes["error.type"] == "500"
    assert failed.attributes["http.response.status_code"] == 500
    assert failed.status == "error" and failed.status_message
    assert served.attributes["steward.target"] == SECONDARY
    assert "error.type" not in served.attributes and served.status == "unset"
    assert failed.end_ns <= served.start_ns
    request = root_of(spans)
    assert request.name == "chat pair"
    assert request.attributes["steward.attempt_count"] == 2
    assert request.attributes["steward.target"] == SECONDARY
    assert "error.type" not in request.attributes
    assert route.attributes["steward.attempt_count"] == 2


def test_an_incoming_traceparent_makes_the_request_span_its_child(
    traced: tuple[Gateway, str], otlp: OTLPReceiver
) -> None:
    gw, key = traced
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    with client(gw, key) as c:
        raw = c.chat.completions.with_raw_response.create(
            model="gpt",
            messages=USER,
            extra_headers={
                "traceparent": f"00-{trace_id}-{parent_id}-01",
                "tracestate": "vendor=opaque",
            },
        )
    assert raw.headers["x-trace-id"] == trace_id
    spans = otlp.trace(trace_id, 6)
    request = root_of(spans)
    assert request.parent_id == parent_id
    assert raw.headers["traceparent"] == f"00-{trace_id}-{request.span_id}-01"
    assert all(s.trace_id == trace_id for s in spans)
    assert request.trace_state == "vendor=opaque"


def test_an_unsampled_caller_gets_its_trace_id_back_but_no_spans(
    traced: tuple[Gateway, str], otlp: OTLPReceiver
) -> None:
    gw, key = traced
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    with client(gw, key) as c:
        raw = c.chat.completions.with_raw_response.create(
            model="gpt",
            messages=USER,
            extra_headers={"traceparent": f"00-{trace_id}-b7ad6b7169203331-00"},
        )
        sampled = c.chat.completions.with_raw_response.create(model="gpt", messages=USER)
    assert raw.headers["x-trace-id"] == trace_id
    assert raw.headers["traceparent"].endswith("-00")
    otlp.trace(sampled.headers["x-trace-id"], 6)
    assert gw.runtime.tracing.force_flush()
    assert [s for s in otlp.spans if s.trace_id == trace_id] == []


def test_a_refused_call_ends_at_the_auth_span(
    traced: tuple[Gateway, str], otlp: OTLPReceiver
) -> None:
    gw, _ = traced
    with client(gw, "sk-stw-not-a-key") as c, pytest.raises(openai.AuthenticationError) as info:
        c.chat.completions.create(model="gpt", messages=USER)
    trace_id = info.value.response.headers["x-trace-id"]
    spans = otlp.trace(trace_id, 2)
    named = by_name(spans)
    assert set(named) == {"chat", "steward.auth"}  # no model was parsed, nothing was routed
    request, auth = named["chat"], named["steward.auth"]
    assert request.attributes["error.type"] == "authentication_error"
    assert request.attributes["http.response.status_code"] == 401
    assert request.status == "error"
    assert auth.attributes["error.type"] == "authentication_error" and auth.status == "error"


def test_content_is_captured_only_when_asked(
    make_gateway: GatewayFactory, otlp: OTLPReceiver, fake: FakeProvider
) -> None:
    full = '\n[models.open]\ntargets = ["up/gpt-test"]\ncapture = "full"\n'
    full += "\n[payloads]\nallow_plaintext = true\n"
    gw, key = make_gateway(tracing_toml(otlp, "capture_content = true") + full)
    with client(gw, key) as c:
        plain = c.chat.completions.with_raw_response.create(model="open", messages=USER)
        streamed = c.chat.completions.with_raw_response.create(
            model="open", messages=USER, stream=True
        )
        list(streamed.parse())
        kept_back = c.chat.completions.with_raw_response.create(model="gpt", messages=USER)
    # `gpt` keeps its default capture policy (metadata): no content on its spans.
    assert root_of(otlp.trace(kept_back.headers["x-trace-id"], 6)).events == []
    for raw in (plain, streamed):
        request = root_of(otlp.trace(raw.headers["x-trace-id"], 6))
        ((name, event),) = request.events
        assert name == "gen_ai.client.inference.operation.details"
        assert json.loads(event["gen_ai.input.messages"]) == [
            {"role": "user", "parts": [{"type": "text", "content": USER[0]["content"]}]}
        ]
        (output,) = json.loads(event["gen_ai.output.messages"])
        assert output["parts"] == [{"type": "text", "content": ANSWER}]
        assert output["finish_reason"] == "stop"


def test_tracing_is_off_by_default(gateway: tuple[Gateway, str], otlp: OTLPReceiver) -> None:
    gw, key = gateway
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    with client(gw, key) as c:
        raw = c.chat.completions.with_raw_response.create(
            model="gpt",
            messages=USER,
            extra_headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
        )
    assert gw.runtime.tracing.enabled is False
    assert "traceparent" not in raw.headers and "x-trace-id" not in raw.headers
    assert otlp.requests == 0 or all(s.trace_id != trace_id for s in otlp.spans)


def test_an_app_s_own_spans_and_the_gateway_s_share_one_trace(
    traced: tuple[Gateway, str], otlp: OTLPReceiver
) -> None:
    gw, key = traced
    provider = steward.trace.tracer_provider(otlp.endpoint, service_name="rag-app")
    tracer = provider.get_tracer("tests")

    @steward.trace.span("rerank", tracer=tracer)
    def rerank(documents: list[str]) -> list[str]:
        return sorted(documents)

    try:
        with steward.trace.span("answer", attributes={"k": 3}, tracer=tracer) as outer:
            rerank(["b", "a"])
            with steward.trace.span("generate", tracer=tracer) as inner, client(gw, key) as c:
                sent = steward.trace.headers()
                raw = c.chat.completions.with_raw_response.create(
                    model="gpt", messages=USER, extra_headers=sent
                )
        trace_id = f"{outer.get_span_context().trace_id:032x}"
        inner_id = f"{inner.get_span_context().span_id:016x}"
        _, sent_trace, sent_parent, flags = sent["traceparent"].split("-")
        assert (sent_trace, sent_parent, int(flags, 16) & 1) == (trace_id, inner_id, 1)
        assert provider.force_flush()
    finally:
        provider.shutdown()
    assert steward.trace.headers() == {}  # no span is current any more
    assert raw.headers["x-trace-id"] == trace_id
    spans = by_name(otlp.trace(trace_id, 9))
    answer, generate, rerank_span = spans["answer"], spans["generate"], spans["rerank"]
    assert answer.resource["service.name"] == "rag-app" and answer.attributes == {"k": 3}
    assert rerank_span.parent_id == answer.span_id and generate.parent_id == answer.span_id
    gateway = spans["chat gpt"]
    assert gateway.parent_id == generate.span_id
    assert gateway.resource["service.name"] == "steward"


def test_the_decorator_traces_async_functions_too(otlp: OTLPReceiver) -> None:
    provider = steward.trace.tracer_provider(otlp.endpoint, batch_delay_ms=20)

    @steward.trace.span("fetch", tracer=provider.get_tracer("tests"))
    async def fetch() -> dict[str, str]:
        return steward.trace.headers()

    try:
        sent = asyncio.run(fetch())
    finally:
        provider.shutdown()
    trace_id = sent["traceparent"].split("-")[1]
    (span,) = otlp.trace(trace_id, 1)
    assert span.name == "fetch" and sent["traceparent"].split("-")[2] == span.span_id


def test_log_lines_of_a_request_carry_its_request_and_trace_ids(
    tmp_path: Path, fake: FakeProvider, otlp: OTLPReceiver
) -> None:
    port = free_port()
    models = """
[models.tiered]
strategy = "tiered"
targets = [{ target = "up/gpt-test", tier = "cheap" }, { target = "up/gpt-big", tier = "strong" }]
tiering = { classifier = "tests.fakes.classifier:classify" }
"""
    logging = '[logging]\nformat = "json"\nlevel = "info"\n'
    write_config(
        tmp_path, logging + fake_providers_toml(fake) + models + tracing_toml(otlp), port=port
    )
    created = run_cli("keys", "create", "--name", "ci", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    root = str(Path(__file__).parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    with (tmp_path / "stderr.log").open("wb") as stderr:
        proc = subprocess.Popen([*STEWARD, "serve"], cwd=tmp_path, env=env, stderr=stderr)
        try:
            wait_ready(f"http://127.0.0.1:{port}", proc)
            gw = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0)
            with gw:
                raws = [
                    gw.chat.completions.with_raw_response.create(model="tiered", messages=USER)
                    for _ in range(2)
                ]
        finally:
            proc.terminate()
            assert proc.wait(timeout=30) == 0
    lines = _json_lines((tmp_path / "stderr.log").read_text())
    asked = [line for line in lines if line["event"] == "classifier.asked"]
    assert [(line["request_id"], line["trace_id"]) for line in asked] == [
        (raw.headers["x-request-id"], raw.headers["x-trace-id"]) for raw in raws
    ]
    assert asked[0]["level"] == "info" and asked[0]["messages"] == 1
    started = next(line for line in lines if line["event"] == "runtime.started")
    stopped = next(line for line in lines if line["event"] == "runtime.stopped")
    assert "request_id" not in started and "request_id" not in stopped


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_an_unreachable_collector_never_fails_a_call(make_gateway: GatewayFactory) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1/traces"
    gw, key = make_gateway(
        f'[tracing]\nenabled = true\notlp_endpoint = "{dead}"\n'
        "batch_delay_ms = 10\nexport_timeout_s = 0.5\n"
    )
    with client(gw, key) as c:
        for _ in range(3):
            raw = c.chat.completions.with_raw_response.create(model="gpt", messages=USER)
            assert raw.parse().choices[0].message.content == ANSWER
    began = time.monotonic()
    gw.runtime.tracing.force_flush(timeout_s=5)  # retried for export_timeout_s, then dropped
    assert time.monotonic() - began < 3
