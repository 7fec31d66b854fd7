"""Load through the gateway client: each call as an outcome, its cost from the gateway or estimated."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from steward.client.gateway import GatewayClient, GatewayError, Reply, StreamReply
from steward.costs.pricing import Pricing
from steward.loadtest.plan import LoadPlan
from steward.loadtest.runner import Caller, Progress, run_load
from steward.loadtest.samples import CostSource, Outcome, RunResult
from steward.routing.targets import Target
from steward.types import JSONObject
from steward.wire.openai import TokenUsage

__all__ = [
    "CostEstimator",
    "PriceEstimator",
    "gateway_caller",
    "new_event_loop",
    "outcome_of",
    "run_through_gateway",
]


class CostEstimator(Protocol):
    """A reply's cost from its target and usage, for replies without a cost header."""

    def __call__(
        self, target: str | None, input_tokens: int | None, output_tokens: int | None
    ) -> float | None: ...


class PriceEstimator:
    """Prices usage at the target named by `x-steward-target`, from a config's price table
    (`[pricing]` over the shipped catalog); a cache hit costs nothing."""

    def __init__(self, pricing: Pricing) -> None:
        self._pricing = pricing

    def __call__(
        self, target: str | None, input_tokens: int | None, output_tokens: int | None
    ) -> float | None:
        if target == "cache":
            return 0.0
        if not target or "/" not in target or input_tokens is None or output_tokens is None:
            return None
        usage = TokenUsage(input_tokens=input_tokens, output_tokens=output_tokens)
        return self._pricing.cost_usd(Target.parse(target), usage)


def gateway_caller(
    client: GatewayClient, *, stream: bool, estimate: CostEstimator | None = None
) -> Caller:
    """A `Caller` that sends each body as a chat completion, streamed or not."""

    async def call(body: JSONObject) -> Outcome:
        try:
            reply: Reply | StreamReply = await (
                client.chat_stream(body) if stream else client.chat(body)
            )
        except GatewayError as exc:
            return Outcome(status=exc.status, latency_ms=exc.latency_ms, message=exc.message)
        return outcome_of(reply, estimate)

    return call


def outcome_of(reply: Reply | StreamReply, estimate: CostEstimator | None) -> Outcome:
    """A success as an outcome; its cost from the gateway's header, else estimated."""
    cost = reply.cost_usd
    source: CostSource | None = None if cost is None else "gateway"
    if cost is None and estimate is not None:
        cost = estimate(reply.target, reply.input_tokens, reply.output_tokens)
        source = None if cost is None else "estimated"
    return Outcome(
        status=200,
        latency_ms=reply.latency_ms,
        ttft_ms=reply.ttft_ms if isinstance(reply, StreamReply) else None,
        input_tokens=reply.input_tokens,
        output_tokens=reply.output_tokens,
        cost_usd=cost,
        cost_source=source,
    )


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed, as the gateway serves with, so the load tester costs little CPU."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_through_gateway(
    plan: LoadPlan,
    pool: Sequence[JSONObject],
    *,
    base_url: str,
    api_key: str,
    stream: bool = False,
    timeout_s: float = 60.0,
    estimate: CostEstimator | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> RunResult:
    """Run `plan` against the gateway on a fresh event loop; Ctrl-C (SIGINT) stops sending
    and the result says it was interrupted."""

    async def main() -> RunResult:
        stop = asyncio.Event()
        with _on_sigint(stop.set):
            async with GatewayClient(base_url, api_key, timeout_s=timeout_s) as client:
                call = gateway_caller(client, stream=stream, estimate=estimate)
                return await run_load(plan, call, pool, stop=stop, on_progress=on_progress)

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main())


@contextlib.contextmanager
def _on_sigint(callback: Callable[[], None]) -> Iterator[None]:
    """Call `callback` on SIGINT instead of raising KeyboardInterrupt, where the loop can (the
    main thread on Unix); the previous handler is put back after."""
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGINT)
    try:
        loop.add_signal_handler(signal.SIGINT, callback)
    except (NotImplementedError, RuntimeError, ValueError):
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
