"""A minimal HTTP/1.1 load generator on raw asyncio streams: fixed request, N workers, latencies.

    python bench/loadgen.py --port 8787 --key KEY [--requests 2000] [--concurrency 1] [--stream]

Each concurrent worker holds one keep-alive connection and sends the same request again and
again until the shared request count is used up or the time cap passes, so a run always ends by
itself. Responses are read by Content-Length or by chunked decoding; a response counts as a
success only if its status is 200 (and, for streams, its body ends with `data: [DONE]`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from dataclasses import dataclass, field

DONE_TAIL = b"data: [DONE]\n\n"
READ_LIMIT = 1 << 20


@dataclass(slots=True)
class LoadResult:
    """What a run did: per-request latencies of successes, failures, wall time."""

    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    elapsed_s: float = 0.0
    timed_out: bool = False

    @property
    def completed(self) -> int:
        return len(self.latencies_s)

    @property
    def rps(self) -> float:
        return self.completed / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        """Nearest-rank percentile (q in 0..100) of successful latencies, in milliseconds."""
        if not self.latencies_s:
            return float("nan")
        ordered = sorted(self.latencies_s)
        rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
        return ordered[rank] * 1000.0

    def mean_ms(self) -> float:
        return statistics.fmean(self.latencies_s) * 1000.0 if self.latencies_s else float("nan")

    def note_error(self, message: str) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = message


def build_request(
    host: str, port: int, path: str, body: bytes, api_key: str | None = None
) -> bytes:
    """The raw bytes of one keep-alive POST with a JSON body."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"host: {host}:{port}",
        "content-type: application/json",
        "accept: */*",
        f"content-length: {len(body)}",
    ]
    if api_key:
        lines.append(f"authorization: Bearer {api_key}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def chat_body(model: str, *, stream: bool) -> bytes:
    """A small, typical chat request."""
    body: dict[str, object] = {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Say hello in one short sentence."},
        ],
        "max_tokens": 32,
        "temperature": 0.2,
    }
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":")).encode()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, keep_alive) of one response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length: int | None = None
    chunked = False
    keep_alive = True
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            keep_alive = b"close" not in value.lower()
    if chunked:
        return status, await _read_chunked(reader), keep_alive
    if length is not None:
        return status, await reader.readexactly(length), keep_alive
    return status, await reader.read(), False


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, then the blank line
                pass
            return b"".join(parts)
        parts.append((await reader.readexactly(size + 2))[:-2])


class _Budget:
    """The shared request count and deadline every worker draws from."""

    def __init__(self, requests: int, deadline: float, max_errors: int) -> None:
        self.remaining = requests
        self.deadline = deadline
        self.max_errors = max_errors

    def take(self, errors: int) -> bool:
        if errors > self.max_errors:
            self.remaining = 0  # a broken target: fail fast instead of hammering it
        if self.remaining <= 0 or time.perf_counter() >= self.deadline:
            return False
        self.remaining -= 1
        return True


async def _worker(
    host: str,
    port: int,
    request: bytes,
    budget: _Budget,
    result: LoadResult,
    *,
    stream: bool,
    timeout_s: float,
) -> None:
    writer: asyncio.StreamWriter | None = None
    reader: asyncio.StreamReader | None = None
    try:
        while budget.take(result.errors):
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port, limit=READ_LIMIT)
            assert reader is not None
            started = time.perf_counter()
            try:
                async with asyncio.timeout(timeout_s):
                    writer.write(request)
                    status, body, keep_alive = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                result.note_error(f"{type(exc).__name__}: {exc}")
                writer.close()
                writer = None
                continue
            elapsed = time.perf_counter() - started
            if status != 200 or (stream and not body.endswith(DONE_TAIL)):
                result.note_error(f"HTTP {status}: {body[:300]!r}")
            else:
                result.latencies_s.append(elapsed)
            if not keep_alive:
                writer.close()
                writer = None
    finally:
        if writer is not None:
            writer.close()


async def run_load(
    host: str,
    port: int,
    request: bytes,
    *,
    requests: int,
    concurrency: int,
    time_limit_s: float = 60.0,
    stream: bool = False,
    request_timeout_s: float = 30.0,
    max_errors: int = 50,
) -> LoadResult:
    """Send `request` `requests` times over `concurrency` connections; stop at the time cap."""
    result = LoadResult()
    started = time.perf_counter()
    budget = _Budget(requests, started + time_limit_s, max_errors)
    workers = [
        asyncio.create_task(
            _worker(host, port, request, budget, result, stream=stream, timeout_s=request_timeout_s)
        )
        for _ in range(concurrency)
    ]
    try:
        # Workers stop taking requests at the deadline; this bounds the in-flight tail too.
        async with asyncio.timeout(time_limit_s + request_timeout_s + 5):
            outcomes = await asyncio.gather(*workers, return_exceptions=True)
    except TimeoutError:
        result.timed_out = True
        outcomes = []
    finally:
        for task in workers:
            task.cancel()
    result.elapsed_s = time.perf_counter() - started
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            result.note_error(f"worker failed: {type(outcome).__name__}: {outcome}")
    if budget.remaining > 0 and time.perf_counter() >= budget.deadline:
        result.timed_out = True
    return result


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed, so the load generator costs as little CPU as it can."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/v1/chat/completions")
    parser.add_argument("--key", default=None, help="sent as Authorization: Bearer KEY")
    parser.add_argument("--model", default="bench")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--time-limit-s", type=float, default=60.0)
    parser.add_argument("--stream", action="store_true")
    args = parser.parse_args()
    body = chat_body(args.model, stream=args.stream)
    request = build_request(args.host, args.port, args.path, body, args.key)
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        result = runner.run(
            run_load(
                args.host,
                args.port,
                request,
                requests=args.requests,
                concurrency=args.concurrency,
                time_limit_s=args.time_limit_s,
                stream=args.stream,
            )
        )
    print(
        f"{result.completed} ok, {result.errors} errors in {result.elapsed_s:.2f} s: "
        f"{result.rps:.0f} rps, p50 {result.percentile_ms(50):.3f} ms, "
        f"p99 {result.percentile_ms(99):.3f} ms"
    )
    if result.first_error:
        print(f"first error: {result.first_error}")
    raise SystemExit(1 if result.errors or result.timed_out else 0)


if __name__ == "__main__":
    main()
