"""Resilience: a primary failing 30 % of requests at random behind a healthy secondary.

    python bench/resilience.py [--requests 10000] [--concurrency 8] [--fail-rate 0.3]

Starts `bench/upstream.py` with `--fail-model primary --fail-rate R` (HTTP 500 to that share of
the requests for model `primary`) and `steward serve` with two public models on it:

    pair      targets up/primary then up/secondary, default retries (1) and backoff (100 ms base)
    baseline  target up/secondary only: the same path with no failures

It sends the same number of requests through each and reports the success rate of `pair` (target
>= 99.9 %) and its added latency against `baseline` at p50 and p99 (target: p99 within one
retry's backoff, i.e. `backoff_base_ms`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway_overhead import CONFIG as GATEWAY_CONFIG
from gateway_overhead import STEWARD, child_env, create_key
from loadgen import LoadResult, build_request, chat_body, new_event_loop, run_load
from processes import free_port, http_get, spawn, split_cpus, wait_ready

ROOT = Path(__file__).resolve().parent.parent
BACKOFF_BASE_MS = 100.0
# The gateway benchmark's server, storage and provider, with two models of our own.
CONFIG = (
    GATEWAY_CONFIG.split("[models.bench]")[0]
    + """\
[models.pair]
targets = ["up/primary", "up/secondary"]
backoff_base_ms = {backoff}

[models.baseline]
targets = ["up/secondary"]
"""
)


def load(port: int, key: str, model: str, requests: int, concurrency: int) -> LoadResult:
    request = build_request(
        "127.0.0.1", port, "/v1/chat/completions", chat_body(model, stream=False), key
    )
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(
            run_load(
                "127.0.0.1",
                port,
                request,
                requests=requests,
                concurrency=concurrency,
                time_limit_s=300.0,
                max_errors=requests,
            )
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--fail-rate", type=float, default=0.3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    steward_cpus, load_cpus = split_cpus(no_pin=False)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        upstream_port, steward_port = free_port(), free_port()
        config = workdir / "steward.toml"
        config.write_text(
            CONFIG.format(
                steward_port=steward_port, upstream_port=upstream_port, backoff=BACKOFF_BASE_MS
            )
        )
        key = create_key(config)
        upstream_argv = [
            sys.executable,
            str(ROOT / "bench" / "upstream.py"),
            "--port",
            str(upstream_port),
            "--fail-model",
            "primary",
            "--fail-rate",
            str(args.fail_rate),
        ]
        steward_argv = [str(STEWARD), "serve", "--config", str(config)]
        with (
            spawn(upstream_argv, workdir / "up.log", workdir, load_cpus, child_env()) as upstream,
            spawn(steward_argv, workdir / "st.log", workdir, steward_cpus, child_env()) as steward,
        ):
            wait_ready(upstream_port, "/healthz", upstream, workdir / "up.log", 15)
            wait_ready(steward_port, "/readyz", steward, workdir / "st.log", 60)
            load(steward_port, key, "baseline", 500, args.concurrency)  # warm-up
            baseline = load(steward_port, key, "baseline", args.requests, args.concurrency)
            pair = load(steward_port, key, "pair", args.requests, args.concurrency)
            failed_upstream = json.loads(http_get(upstream_port, "/stats")[1])["failed"]
    success = pair.completed / args.requests
    added_p50 = pair.percentile_ms(50) - baseline.percentile_ms(50)
    added_p99 = pair.percentile_ms(99) - baseline.percentile_ms(99)
    rows = [
        ("requests through pair", f"{args.requests}", ""),
        ("primary failures injected (HTTP 500)", f"{failed_upstream}", ""),
        ("succeeded", f"{pair.completed} ({success:.4%})", ">= 99.9 %"),
        (
            "baseline p50 / p99 (ms)",
            f"{baseline.percentile_ms(50):.2f} / {baseline.percentile_ms(99):.2f}",
            "",
        ),
        ("pair p50 / p99 (ms)", f"{pair.percentile_ms(50):.2f} / {pair.percentile_ms(99):.2f}", ""),
        ("added latency p50 (ms)", f"{added_p50:.2f}", ""),
        ("added latency p99 (ms)", f"{added_p99:.2f}", f"<= {BACKOFF_BASE_MS:g} (one backoff)"),
    ]
    for name, value, target in rows:
        print(f"{name:<40} {value:>24}   {target}")
    met = success >= 0.999 and added_p99 <= BACKOFF_BASE_MS
    print("targets met" if met else "TARGET MISSED")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "requests": args.requests,
                    "injected_failures": failed_upstream,
                    "success_rate": success,
                    "added_p50_ms": added_p50,
                    "added_p99_ms": added_p99,
                    "baseline_errors": baseline.errors,
                    "first_error": pair.first_error,
                },
                indent=2,
            )
        )
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
