"""`steward loadtest` through a real gateway over the fake upstream, on loopback HTTP."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import GatewayFactory
from tests.fakes import FakeProvider, Fault
from tests.fakes.faults import count_words
from tests.servers import Gateway
from typer.testing import CliRunner

from steward.cli.main import app
from steward.client.gateway import GatewayClient, GatewayError, StreamReply
from steward.loadtest import LoadPlan, run_load
from steward.loadtest.calls import gateway_caller
from steward.loadtest.pool import DEFAULT_PROMPT, from_prompt

# The fake counts whitespace-separated words as tokens and answers "echo: <prompt>".
INPUT_TOKENS = count_words([DEFAULT_PROMPT])
OUTPUT_TOKENS = count_words([f"echo: {DEFAULT_PROMPT}"])

PRICED = """
[pricing."up/gpt-test"]
input_per_mtok = 2.5
output_per_mtok = 10
"""


def loadtest(gw: Gateway, key: str | None, *args: str) -> Any:
    """Run the command in-process; the result has exit_code, stdout and stderr."""
    argv = ["loadtest", "--target", "gpt", "--config", str(gw.loaded.path), *args]
    if key is not None:
        argv += ["--key", key]
    return CliRunner().invoke(app, argv)


def report_of(gw: Gateway, key: str, *args: str) -> dict[str, Any]:
    result = loadtest(gw, key, "--json", *args)
    assert result.exit_code == 0, result.stderr or result.stdout
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_closed_loop_reports_rates_percentiles_and_tokens(
    gateway: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = gateway
    report = report_of(gw, key, "--concurrency", "4", "--ramp", "0.5", "--duration", "1.5")
    overall, steady = report["overall"], report["steady"]
    assert report["mode"] == "closed"
    assert report["concurrency"] == 4
    assert overall["length_s"] == 2.0
    assert steady["length_s"] == 1.5
    assert 0 < steady["requests"] < overall["requests"]
    assert overall["throughput_rps"] > 0
    assert overall["errors"] == 0
    assert overall["error_rate"] == 0
    assert overall["errors_by_status"] == {}
    latency = overall["latency_ms"]
    assert latency["n"] == overall["requests"]
    assert (
        0 < latency["min"] <= latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    )
    assert overall["offered_rps"] is None
    assert overall["dropped"] is None
    # Every request reached the upstream once (retries = 0), and its usage was counted.
    assert len(fake.requests) == overall["requests"]
    assert overall["tokens"]["input"] == INPUT_TOKENS * overall["requests"]
    assert overall["tokens"]["output"] == OUTPUT_TOKENS * overall["requests"]
    assert overall["tokens"]["input_per_request"] == INPUT_TOKENS
    assert overall["cost"]["source"] is None  # the fake's model has no price
    assert overall["cost"]["per_1k_requests_usd"] is None


def test_errors_are_counted_by_status(gateway: tuple[Gateway, str], fake: FakeProvider) -> None:
    gw, key = gateway
    # Uniform arrivals at 40 rps for 1 s are exactly 40 requests, consuming these 40 faults.
    faults = [Fault(status=500)] * 10 + [Fault(status=429)] * 5 + [Fault()] * 25
    fake.script(*faults)
    report = report_of(gw, key, "--rps", "40", "--arrivals", "uniform", "--duration", "1")
    overall = report["overall"]
    assert overall["requests"] == 40
    assert overall["ok"] == 25
    assert overall["errors"] == 15
    assert overall["error_rate"] == pytest.approx(15 / 40)
    # The gateway answers an upstream 500 with 502 and passes a 429 through.
    assert overall["errors_by_status"] == {"429": 5, "502": 10}
    assert "HTTP 500" in overall["error_examples"]["502"]
    assert overall["latency_ms"]["n"] == 25  # latency is of successes
    assert overall["tokens"]["input"] == INPUT_TOKENS * 25


def test_open_loop_achieves_the_offered_rate(gateway: tuple[Gateway, str]) -> None:
    gw, key = gateway
    report = report_of(gw, key, "--rps", "50", "--arrivals", "uniform", "--duration", "2")
    overall = report["overall"]
    assert report["mode"] == "open"
    assert overall["requests"] == 100
    assert overall["offered_rps"] == 50
    assert overall["sent_rps"] == 50
    assert overall["dropped"] == 0
    assert overall["throughput_rps"] >= 45
    assert overall["late"] <= 10
    assert overall["errors"] == 0


def test_open_loop_keeps_offering_load_to_a_slow_gateway(
    gateway: tuple[Gateway, str], fake: FakeProvider
) -> None:
    """A slow upstream shows as latency and refusals at the in-flight cap, not as fewer sends."""
    gw, key = gateway
    fake.set_default(Fault(delay_s=0.3))
    report = report_of(
        gw, key, "--rps", "20", "--arrivals", "uniform", "--duration", "1", "--max-in-flight", "3"
    )
    overall = report["overall"]
    assert overall["offered_rps"] == 20
    assert overall["dropped"] > 0
    assert overall["requests"] + overall["dropped"] == 20
    assert overall["latency_ms"]["min"] >= 300
    assert overall["errors"] == 0, overall.get("error_examples")


def test_streamed_run_measures_ttft_and_estimates_cost(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw, key = make_gateway(PRICED)
    saved = tmp_path / "report.json"
    args = ["--concurrency", "2", "--duration", "0.5", "--stream"]
    result = loadtest(gw, key, *args, "--monthly-requests", "2000000", "--output", str(saved))
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert text.startswith("steward loadtest: model gpt at http://127.0.0.1:")
    assert "latency p99 (ms)" in text
    assert "time to first token p50 (ms)" in text
    assert "monthly cost at 2,000,000 requests" in text
    assert "assumes 2,000,000 requests a month" in text
    overall = json.loads(saved.read_text())["overall"]
    assert overall["ok"] == overall["requests"] > 0
    assert overall["ttft_ms"]["p50"] <= overall["latency_ms"]["p50"]
    assert overall["tokens"]["output"] == OUTPUT_TOKENS * overall["ok"]
    per_request = (INPUT_TOKENS * 2.5 + OUTPUT_TOKENS * 10) / 1_000_000
    cost = overall["cost"]
    assert cost["source"] == "estimated"
    assert cost["priced"] == overall["ok"]
    assert cost["per_1k_requests_usd"] == pytest.approx(1000 * per_request)
    assert cost["monthly_usd"] == pytest.approx(2_000_000 * per_request)


def test_messages_file_is_cycled(
    gateway: tuple[Gateway, str], fake: FakeProvider, tmp_path: Path
) -> None:
    gw, key = gateway
    pool = tmp_path / "pool.jsonl"
    pool.write_text(
        '{"messages": [{"role": "user", "content": "one two three"}], "temperature": 0}\n'
        "\n"
        '[{"role": "system", "content": "be brief"}, {"role": "user", "content": "four"}]\n'
    )
    report = report_of(
        gw,
        key,
        "--rps",
        "20",
        "--arrivals",
        "uniform",
        "--duration",
        "0.5",
        "--messages",
        str(pool),
    )
    assert report["overall"]["requests"] == 10
    bodies = [r.json for r in fake.requests]
    assert [b["messages"][-1]["content"] for b in bodies[:3]] == [
        "one two three",
        "four",
        "one two three",
    ]
    assert report["overall"]["tokens"]["input"] == 5 * 3 + 5 * 3  # 3 words, then 2 + 1


def test_missing_key_is_a_clear_error(
    gateway: tuple[Gateway, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    gw, _ = gateway
    monkeypatch.delenv("STEWARD_API_KEY", raising=False)
    result = loadtest(gw, None, "--concurrency", "1", "--duration", "1")
    assert result.exit_code != 0
    assert "no API key" in result.stderr
    assert "STEWARD_API_KEY" in result.stderr


def test_a_run_where_nothing_succeeds_fails(gateway: tuple[Gateway, str]) -> None:
    gw, _ = gateway
    result = loadtest(gw, "sk-stw-wrong", "--concurrency", "1", "--duration", "0.3")
    assert result.exit_code == 1
    assert "HTTP 401" in result.stdout
    assert "no request succeeded" in result.stderr


def test_bad_options_are_refused(gateway: tuple[Gateway, str]) -> None:
    gw, key = gateway
    both = loadtest(gw, key, "--rps", "5", "--concurrency", "2", "--duration", "1")
    assert both.exit_code == 1
    assert "exactly one of --rps" in both.stderr
    neither = loadtest(gw, key, "--duration", "1")
    assert neither.exit_code == 1


def test_stop_ends_the_run_and_keeps_what_was_measured(
    gateway: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = gateway
    # Answers take 0.4 s, so at the stop (0.6 s) each worker is half-way through its second.
    fake.set_default(Fault(delay_s=0.4))
    plan = LoadPlan(duration_s=30, concurrency=3)

    async def main() -> Any:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.6, stop.set)
        async with GatewayClient(gw.url, key, timeout_s=5) as client:
            call = gateway_caller(client, stream=False)
            return await run_load(plan, call, from_prompt("gpt", "hi", max_tokens=None), stop=stop)

    result = asyncio.run(main())
    assert result.interrupted
    assert result.elapsed_s < 2
    assert 0.5 < result.sending_ended_s < 1
    assert len(result.samples) == 3
    assert result.unfinished == 3


def test_client_streams_and_reports_a_stream_that_broke_off(
    gateway: tuple[Gateway, str], fake: FakeProvider
) -> None:
    gw, key = gateway
    body = {"model": "gpt", "messages": [{"role": "user", "content": "one two"}]}
    # The upstream stalls after two events, past the first byte, so the gateway cannot fail
    # over and ends the stream with an error event.
    fake.script(Fault(), Fault(stall_after_chunks=2))

    async def main() -> tuple[StreamReply, GatewayError]:
        async with GatewayClient(gw.url, key, timeout_s=5) as client:
            reply = await client.chat_stream(body)
            with pytest.raises(GatewayError) as broken:
                await client.chat_stream(body)
        return reply, broken.value

    reply, error = asyncio.run(main())
    assert reply.text == "echo: one two"
    assert (reply.input_tokens, reply.output_tokens) == (2, 3)
    assert reply.ttft_ms is not None
    assert 0 < reply.ttft_ms <= reply.latency_ms
    assert reply.target == "up/gpt-test"
    assert error.status == 0
    assert "broke off" in error.message
