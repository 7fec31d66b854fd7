"""CPU per upstream call of Steward's HTTP client (`providers/http.py`) against `bench/upstream.py`.

    python bench/upstream_client.py [--requests 20000] [--concurrency 1 16]

The upstream runs pinned to one CPU, this process to the other; CPU time is this process's
`utime + stime` (the client, its event loop and its sockets' kernel work) divided by requests.
Each call is what a provider does per non-streamed chat: `post` a JSON body, read the JSON reply.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil
from loadgen import new_event_loop
from processes import cpu_s, free_port, spawn, split_cpus, wait_ready

from steward.providers.http import HTTPClient, Timeouts

HERE = Path(__file__).resolve().parent
BODY = {
    "model": "bench-model",
    "messages": [{"role": "user", "content": "Say hello."}],
    "max_tokens": 16,
}
HEADERS = {"content-type": "application/json", "authorization": "Bearer x"}


async def _calls(url: str, requests: int, concurrency: int) -> float:
    client = HTTPClient()
    await client.start()
    timeouts = Timeouts(total_s=30, connect_s=5, idle_s=30)
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            async with client.post(
                url, BODY, headers=HEADERS, provider="bench", timeouts=timeouts, error_message=str
            ) as response:
                await response.json()

    for _ in range(200):  # warm-up: connections open, code paths hot
        async with client.post(
            url, BODY, headers=HEADERS, provider="bench", timeouts=timeouts, error_message=str
        ) as response:
            await response.json()
    me = psutil.Process()
    before = sum(cpu_s(me))
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    used = sum(cpu_s(me)) - before
    await client.aclose()
    return used / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args()
    mine, theirs = split_cpus(no_pin=False)
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "upstream.log"
        argv = [sys.executable, str(HERE / "upstream.py"), "--port", str(port)]
        with spawn(argv, log, HERE, theirs, dict(os.environ)) as upstream:
            wait_ready(port, "/healthz", upstream, log, timeout_s=10)
            if mine:
                os.sched_setaffinity(0, mine)
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            for concurrency in args.concurrency:
                loop = new_event_loop()
                started = time.perf_counter()
                per_call = loop.run_until_complete(_calls(url, args.requests, concurrency))
                elapsed = time.perf_counter() - started
                loop.close()
                print(
                    f"c={concurrency:<3} {args.requests} calls in {elapsed:.2f} s   "
                    f"CPU per call {per_call * 1e6:.1f} µs"
                )


if __name__ == "__main__":
    main()
