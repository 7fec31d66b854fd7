"""CPU that auth, rate limits and budgets add per request, in process; Redis round trips.

    python bench/limits_overhead.py [--calls 20000] [--rounds 5] [--redis redis://127.0.0.1:6379/0]

Runs the real stages against a terminal that answers at once (as `routing_overhead.py` does),
timed with `time.process_time` over `--calls` sequential calls, settlements included:

    base       record, parse, route: no key check, no limits
    auth       base + auth (the key ring lookup)
    free       base + auth + limits for a key no limit applies to (the common, free path)
    limited    base + auth + limits for an app key whose key, app and team each have requests-
               and tokens-per-minute limits and whose team has a monthly budget: six rate rules
               and one budget rule reserved before the call and settled after it

With `--redis`, `limited` counts on Redis (one script per reserve, one per settle) and the
script's round trips per call are counted. Reports µs of CPU per call (median of `--rounds`)
and what auth + limits + budget add over `base`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import new_event_loop
from routing_overhead import KEY, Bench, body

from steward.auth.keyring import Principal, Quota, hash_secret
from steward.limits import FailoverLimiter, MemoryLimiter, RedisLimiter
from steward.limits.base import Limiter
from steward.limits.budgets import BudgetBook
from steward.limits.rules import RuleBook
from steward.pipeline.context import CallContext
from steward.pipeline.registry import BUILTIN_STAGES
from steward.pipeline.stage import Next, build_chain
from steward.storage.budgets import BudgetRow
from steward.storage.redis import RedisStore

LIMITED_KEY = "sk-bench-limited"
BIG = 10**12


class CountingStore(RedisStore):
    """Counts commands sent on the request path (the limiter's scripts)."""

    commands = 0

    async def command(self, *args: object) -> object:  # type: ignore[override]
        CountingStore.commands += 1
        return await super().command(*args)  # type: ignore[arg-type]


def limited_principal() -> Principal:
    quotas = tuple(
        Quota(scope, f"{scope}_bench", f"{scope} bench", BIG, BIG)
        for scope in ("key", "app", "team")
    )
    return Principal(
        "k2", "limited", "app", team_id="team_bench", app_id="app_bench", quotas=quotas
    )


def budget_book() -> BudgetBook:
    row = BudgetRow(
        id="bud_bench",
        scope="team",
        scope_id="team_bench",
        team_id="team_bench",
        period="monthly",
        limit_usd=float(BIG),
        thresholds=(0.5, 0.8, 1.0),
        created_at=datetime.now(UTC),
    )
    return BudgetBook([row], {}, datetime.now(UTC))


def chain(bench: Bench, names: list[str], limiter: Limiter) -> Next:
    deps = bench.deps
    rules = RuleBook(deps.config, deps.models, deps.pricing, lambda: bench.budgets)
    stages = []
    for name in names:
        if name == "limits":
            stages.append(BUILTIN_STAGES[name](replace(deps, rules=rules, limiter=limiter)))
        else:
            stages.append(BUILTIN_STAGES[name](deps))
    from routing_overhead import answer

    return build_chain(stages, answer)


async def measure(bench: Bench, run: Next, key: str, calls: int) -> float:
    payload = body("plain", "Say hello in one short sentence.")
    for _ in range(200):
        await run(CallContext(id="w", endpoint="chat", raw_body=payload, credential=key))
    await bench.settlements.drain()
    started = time.process_time()
    for i in range(calls):
        await run(CallContext(id=str(i), endpoint="chat", raw_body=payload, credential=key))
    await bench.settlements.drain()
    return (time.process_time() - started) / calls * 1e6


async def run(args: argparse.Namespace) -> tuple[dict[str, list[float]], float | None]:
    bench = Bench(None)
    await bench.start()
    bench.keyring.replace(
        [
            (hash_secret(KEY), Principal("k1", "bench", "app")),
            (hash_secret(LIMITED_KEY), limited_principal()),
        ]
    )
    bench.budgets = budget_book()
    store = CountingStore(args.redis, prefix="steward-bench:") if args.redis else None
    limiter: Limiter = (
        FailoverLimiter(RedisLimiter(store), MemoryLimiter()) if store else MemoryLimiter()
    )
    full = ["record", "auth", "parse", "limits", "route"]
    variants = {
        "base": (chain(bench, ["record", "parse", "route"], limiter), KEY),
        "auth": (chain(bench, ["record", "auth", "parse", "route"], limiter), KEY),
        "free": (chain(bench, full, limiter), KEY),
        "limited": (chain(bench, full, limiter), LIMITED_KEY),
    }
    results: dict[str, list[float]] = {name: [] for name in variants}
    trips: float | None = None
    for _ in range(args.rounds):
        for name, (runner, key) in variants.items():
            before = CountingStore.commands
            results[name].append(await measure(bench, runner, key, args.calls))
            if name == "limited" and store is not None:
                trips = (CountingStore.commands - before) / (args.calls + 200)
    await bench.stop()
    if store is not None:
        await store.aclose()
    return results, trips


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redis", default=None, help="redis://... to count on Redis")
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        results, trips = runner.run(run(args))
    base = statistics.median(results["base"])
    print(
        f"backend: {'redis' if args.redis else 'memory'}; {args.calls} calls x {args.rounds} rounds"
    )
    print(
        f"{'variant':<8} {'µs CPU/call (median)':>22} {'min':>8} {'max':>8} {'added vs base':>14}"
    )
    for name, values in results.items():
        median = statistics.median(values)
        print(
            f"{name:<8} {median:>22.1f} {min(values):>8.1f} {max(values):>8.1f} {median - base:>+14.1f}"
        )
    added = statistics.median(results["limited"]) - base
    if trips is not None:
        print(
            f"Redis commands per limited call: {trips:.2f} (one reserve + one settle after the response)"
        )
    target = 100.0
    print(
        f"auth + limits + budget (limited): {added:+.1f} µs (target <= {target:.0f} µs in memory)"
    )
    return 0 if args.redis or added <= target else 1


if __name__ == "__main__":
    raise SystemExit(main())
