"""CPU that routing, breakers, health and the exact cache add per request, in process.

    python bench/routing_overhead.py [--calls 20000] [--rounds 5] [--redis redis://127.0.0.1:6379/0]

Runs the real stages (record, auth, parse, cache, route) in one event loop (uvloop) against a
terminal that answers at once with a canned completion, so only the gateway's own request-path
work is timed, with `time.process_time` over `--calls` sequential calls. Variants:

    core       record, auth, parse, and the route stage as it was before the fallback loop
               (resolve the model, take its first target): the baseline
    loop       the fallback loop: two targets, breaker allow/record, health started/finished,
               call limits, an attempt on the record
    miss       loop plus the exact cache on a model with `exact = true`, every prompt new:
               key hash, lookup (a miss) and store of the answer
    hit        the same with one repeated prompt: served from the cache (the loop is not run)

Reports µs of CPU per call for each (median of `--rounds`) and the difference to `core`. With
`--redis`, the cache stores on Redis and breakers and health sync through it in the background
(their sync task's CPU is included).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import new_event_loop

from steward.auth.keyring import KeyRing, Principal, hash_secret
from steward.cache.responses import ResponseCache
from steward.config.schema import StewardConfig
from steward.costs import Pricing
from steward.limits import MemoryLimiter
from steward.limits.budgets import BudgetBook
from steward.limits.rules import RuleBook
from steward.pipeline.context import CallContext
from steward.pipeline.registry import BUILTIN_STAGES, StageDeps
from steward.pipeline.result import Completion, Result
from steward.pipeline.stage import Next, Stage, build_chain
from steward.pipeline.stages.limits import Settlements
from steward.providers.http import HTTPClient, Timeouts
from steward.providers.openai import OpenAIProvider
from steward.routing.breaker import Breakers
from steward.routing.health import TargetHealth
from steward.routing.loop import FallbackLoop
from steward.routing.strategy import Router
from steward.routing.targets import ModelRoute, ModelTable
from steward.storage.records import RequestRecord
from steward.storage.redis import RedisStore

KEY = "sk-bench"
ANSWER: dict[str, object] = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 0,
    "model": "bench-model",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello! How can I help you today?"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29},
}


class DropSink:
    """The record writer's interface; the writer's own cost is `bench/writer_throughput.py`'s."""

    def __init__(self) -> None:
        self.count = 0

    def submit(self, record: RequestRecord) -> None:
        self.count += 1


class FirstTarget:
    """The route stage before the fallback loop: the model's first target, nothing else."""

    def __init__(self, models: ModelTable) -> None:
        self._models = models

    async def __call__(self, ctx: CallContext, call_next: Next) -> Result:
        ctx.target = self._models.resolve(ctx.public_model or "").targets[0]
        return await call_next(ctx)


async def answer(ctx: CallContext) -> Result:
    return Completion(dict(ANSWER))


def config(redis_url: str | None) -> StewardConfig:
    models = {
        "plain": {"targets": ["up/bench-model", "up/bench-backup"]},
        "cached": {"targets": ["up/bench-model", "up/bench-backup"], "cache": {"exact": True}},
    }
    data: dict[str, object] = {
        "providers": {"up": {"type": "openai", "base_url": "http://127.0.0.1:9/v1"}},
        "models": models,
    }
    if redis_url:
        data["redis"] = {"url": redis_url, "key_prefix": "steward-bench:"}
    return StewardConfig.model_validate(data)


def body(model: str, text: str) -> bytes:
    return orjson.dumps(
        {
            "model": model,
            "messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": text},
            ],
            "max_tokens": 32,
            "temperature": 0,
        }
    )


class Bench:
    def __init__(self, redis_url: str | None) -> None:
        self.config = cfg = config(redis_url)
        self.redis = (
            RedisStore(redis_url, timeout_s=0.25, prefix="steward-bench:") if redis_url else None
        )
        http = HTTPClient()
        providers = {
            "up": OpenAIProvider(
                "up",
                base_url="http://127.0.0.1:9/v1",
                api_key=None,
                http=http,
                timeouts=Timeouts(total_s=60, connect_s=10, idle_s=60),
            )
        }
        routes = [ModelRoute.from_config(n, m) for n, m in cfg.models.items()]
        self.models = ModelTable(routes, providers)
        keyring = KeyRing()
        keyring.replace([(hash_secret(KEY), Principal("k1", "bench", "app"))])
        self.breakers = Breakers(cfg.breaker, shared=self.redis)
        self.health = TargetHealth(window_s=cfg.breaker.window_s, shared=self.redis)
        self.cache = ResponseCache(cfg.cache, cfg.models, self.redis)
        loop = FallbackLoop(self.models, Router(self.health), self.breakers, self.health)
        self.keyring = keyring
        self.pricing = Pricing.from_config(cfg)
        self.budgets = BudgetBook.empty()
        self.settlements = Settlements()
        self.deps = StageDeps(
            config=cfg,
            keyring=keyring,
            models=self.models,
            sink=DropSink(),
            cache=self.cache,
            routing=loop,
            pricing=self.pricing,
            rules=RuleBook(cfg, self.models, self.pricing, lambda: self.budgets),
            limiter=MemoryLimiter(),
            settlements=self.settlements,
        )

    def chain(self, names: list[str], route: Stage | None = None) -> Next:
        stages = [BUILTIN_STAGES[n](self.deps) for n in names]
        if route is not None:
            stages.append(route)
        return build_chain(stages, answer)

    async def start(self) -> None:
        await self.breakers.start()
        await self.health.start()

    async def stop(self) -> None:
        await self.breakers.stop()
        await self.health.stop()
        if self.redis is not None:
            await self.redis.aclose()


async def measure(chain: Next, bodies: Callable[[int], bytes], calls: int) -> float:
    """µs of process CPU per call."""
    for i in range(200):  # warm-up
        await chain(CallContext(id="w", endpoint="chat", raw_body=bodies(-i - 1), credential=KEY))
    started = time.process_time()
    for i in range(calls):
        ctx = CallContext(id=str(i), endpoint="chat", raw_body=bodies(i), credential=KEY)
        await chain(ctx)
    return (time.process_time() - started) / calls * 1e6


async def run(args: argparse.Namespace) -> dict[str, list[float]]:
    bench = Bench(args.redis)
    await bench.start()
    core = bench.chain(["record", "auth", "parse"], FirstTarget(bench.models))
    loop = bench.chain(["record", "auth", "parse", "route"])
    cached = bench.chain(["record", "auth", "parse", "cache", "route"])
    same = body("cached", "Say hello in one short sentence.")
    plain = body("plain", "Say hello in one short sentence.")
    variants: dict[str, tuple[Next, Callable[[int], bytes]]] = {
        "core": (core, lambda i: plain),
        "loop": (loop, lambda i: plain),
        "miss": (cached, lambda i: body("cached", f"Say hello in one short sentence. #{i}")),
        "hit": (cached, lambda i: same),
    }
    results: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(args.rounds):
        for name, (chain, bodies) in variants.items():
            offset = round_ * (args.calls + 1000)
            results[name].append(
                await measure(chain, lambda i, b=bodies, o=offset: b(i + o), args.calls)
            )
    await bench.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redis", default=None, help="redis://... to use the Redis backends")
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        results = runner.run(run(args))
    core = statistics.median(results["core"])
    print(
        f"backend: {'redis' if args.redis else 'memory'}; {args.calls} calls x {args.rounds} rounds"
    )
    print(
        f"{'variant':<8} {'µs CPU/call (median)':>22} {'min':>8} {'max':>8} {'added vs core':>14}"
    )
    for name, values in results.items():
        median = statistics.median(values)
        print(
            f"{name:<8} {median:>22.1f} {min(values):>8.1f} {max(values):>8.1f} {median - core:>+14.1f}"
        )
    added = statistics.median(results["miss"]) - core
    print(f"routing + breaker + exact-cache miss and store: {added:+.1f} µs (target <= 200 µs)")
    return 0 if added <= 200 else 1


if __name__ == "__main__":
    raise SystemExit(main())
