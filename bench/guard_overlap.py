"""What the input guards add to a call's latency, with and without `[models.NAME.guards]
overlap`, when the upstream takes a given time.

    .venv/bin/python bench/guard_overlap.py        # --rounds 100 --upstream-ms 300

The `guard_input` stage itself (`InputGuardStage`, as the gateway builds it from config) runs on
a 1,000-character prompt (bench/guard_latency.py's) in front of a stand-in for the rest of the
chain that waits `--upstream-ms` (an LLM answers in hundreds of milliseconds); the added latency
is the stage's time minus that wait. Without overlap every guard decides before the call starts;
with it, the injection and topic guards decide while it runs. Every guard is on: limits,
secrets, injection with its semantic layer, topics and PII (names included, Python 3.12+).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time

from guard_latency import PROMPT, letters

from steward.config.schema import StewardConfig
from steward.guards.pii.engine import AVAILABLE as PII_AVAILABLE
from steward.pipeline.context import CallContext
from steward.pipeline.result import Completion, Result
from steward.pipeline.stages.guard_input import InputGuardStage
from steward.wire.openai import ChatRequest

ANSWER = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Sure."}}]}


def config() -> StewardConfig:
    guards: dict[str, object] = {
        "limits": {"max_chars": 20_000},
        "secrets": {},
        "injection": {"layers": ["heuristics", "semantic"]},
        "topics": {"allow": ["planning business travel, events and offsites"]},
    }
    if PII_AVAILABLE:
        guards["pii"] = {}
    models = {
        name: {"targets": ["up/x"], "guards": {**guards, "overlap": overlap}}
        for name, overlap in (("serial", False), ("overlapped", True))
    }
    return StewardConfig.model_validate(
        {
            "providers": {"up": {"type": "openai", "base_url": "http://127.0.0.1:9/v1"}},
            "models": models,
        }
    )


async def run(stage: InputGuardStage, model: str, rounds: int, upstream_s: float) -> list[float]:
    async def upstream(ctx: CallContext) -> Result:
        await asyncio.sleep(upstream_s)
        return Completion(dict(ANSWER))

    added = []
    for i in range(rounds):
        text = f"{PROMPT[:-8]} #{model[:1]}{letters(i, 5)}"  # a new prompt: no memo answers
        request = ChatRequest.model_validate(
            {"model": model, "messages": [{"role": "user", "content": text}]}
        )
        ctx = CallContext(
            id=f"r{i}", endpoint="chat", raw_body=b"", credential=None, request=request
        )
        ctx.public_model = model
        started = time.perf_counter()
        await stage(ctx, upstream)
        added.append((time.perf_counter() - started - upstream_s) * 1000.0)
    return added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--upstream-ms", type=float, default=300.0)
    args = parser.parse_args()
    sys.setswitchinterval(0.001)  # as `steward serve` sets it ([server] switch_interval_ms)
    stage = InputGuardStage(config())
    upstream_s = args.upstream_ms / 1000.0
    asyncio.run(run(stage, "serial", 5, 0.0))  # loads MiniLM, Presidio, spaCy; embeds corpora
    asyncio.run(run(stage, "overlapped", 5, 0.0))
    print(
        f"prompt: {len(PROMPT)} characters, upstream {args.upstream_ms:g} ms, {args.rounds} rounds,"
        f" PII {'on' if PII_AVAILABLE else 'off (Presidio not installed)'}\n"
    )
    print("| every input guard | added p50 ms | added p95 ms |\n|---|---|---|")
    for model in ("serial", "overlapped"):
        added = sorted(asyncio.run(run(stage, model, args.rounds, upstream_s)))
        p95 = added[int(len(added) * 0.95) - 1]
        label = "overlap = true" if model == "overlapped" else "overlap = false (default)"
        print(f"| {label} | {statistics.median(added):.2f} | {p95:.2f} |")


if __name__ == "__main__":
    main()
