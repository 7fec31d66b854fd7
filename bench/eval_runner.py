"""The evaluation runner's own cost per item, and whether it keeps the target saturated.

    python bench/eval_runner.py [--items 20000] [--rounds 5] [--latency-ms 20] [--concurrency 32]

overhead    `--items` items through `Runner` with a chat that answers at once and the `exact`
            scorer, timed with `time.process_time`: CPU per item for queueing, building the
            request body, scoring and handing the result to the sink (median of `--rounds`).
saturation  a chat that answers after `--latency-ms` with a fixed number of slots: the mean
            number of calls in flight while the run lasts, against `--concurrency`, and the
            throughput against the ideal concurrency / latency.

The gateway call itself is not in `overhead`: `bench/gateway_overhead.py` measures that.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from steward.client.gateway import Reply
from steward.evals.results import Item, ItemResult
from steward.evals.runner import Runner, RunSettings
from steward.evals.scorers.text import ExactScorer
from steward.evals.target import EvalTarget
from steward.types import JSONObject

ANSWER: JSONObject = {
    "choices": [{"message": {"role": "assistant", "content": "Paris"}}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 1},
}
HEADERS = {"x-request-id": "req_1", "x-steward-cost-usd": "0.00001"}


class Instant:
    async def __call__(self, body: JSONObject) -> Reply:
        return Reply(ANSWER, 1.0, HEADERS)


class Slow:
    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s
        self.in_flight = 0
        self.samples: list[int] = []

    async def __call__(self, body: JSONObject) -> Reply:
        self.in_flight += 1
        self.samples.append(self.in_flight)
        await asyncio.sleep(self.latency_s)
        self.in_flight -= 1
        return Reply(ANSWER, self.latency_s * 1000, HEADERS)


def items(n: int) -> list[Item]:
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    return [Item(id=f"i{i}", messages=messages, expected="Paris") for i in range(n)]


async def overhead(n: int, concurrency: int) -> float:
    kept: list[ItemResult] = []

    async def sink(result: ItemResult) -> None:
        kept.append(result)

    runner = Runner(Instant(), EvalTarget("assistant"), [ExactScorer()], RunSettings(concurrency))
    dataset = items(n)
    started = time.process_time()
    await runner.run(dataset, repeats=1, sink=sink)
    spent = time.process_time() - started
    assert len(kept) == n and all(r.scores["exact"].passed for r in kept)
    return spent / n * 1e6


async def saturation(n: int, concurrency: int, latency_ms: float) -> tuple[float, float, float]:
    chat = Slow(latency_ms / 1000)

    async def sink(result: ItemResult) -> None:
        return None

    runner = Runner(chat, EvalTarget("assistant"), [ExactScorer()], RunSettings(concurrency))
    started = time.perf_counter()
    await runner.run(items(n), repeats=1, sink=sink)
    elapsed = time.perf_counter() - started
    steady = chat.samples[concurrency:-concurrency] or chat.samples
    ideal = concurrency / (latency_ms / 1000)
    return statistics.mean(steady), n / elapsed, ideal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    runs = [asyncio.run(overhead(args.items, args.concurrency)) for _ in range(args.rounds)]
    print(
        f"overhead   {statistics.median(runs):7.1f} µs CPU per item "
        f"(median of {args.rounds} x {args.items} items; min {min(runs):.1f}, max {max(runs):.1f})"
    )
    n = max(args.concurrency * 20, 500)
    mean_in_flight, rate, ideal = asyncio.run(saturation(n, args.concurrency, args.latency_ms))
    print(
        f"saturation {mean_in_flight:7.1f} calls in flight on average (limit {args.concurrency}); "
        f"{rate:,.0f} items/s of an ideal {ideal:,.0f} ({rate / ideal:.1%})"
    )


if __name__ == "__main__":
    main()
