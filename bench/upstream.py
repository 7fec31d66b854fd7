"""A minimal, fast OpenAI-compatible upstream for benchmarks: raw asyncio, keep-alive, canned replies.

    python bench/upstream.py --port 9100 [--chunk-gap-ms 0]

`POST /v1/chat/completions` answers a canned `chat.completion` (with usage), or, when the body
says `"stream": true`, a canned SSE stream: 20 content chunks, a usage chunk and `[DONE]`, sent
with `Transfer-Encoding: chunked`. `--chunk-gap-ms` spaces the stream's events in time so each
reaches the gateway as its own read, as tokens from a real model do. `GET /healthz` answers 200;
`GET /stats` answers `{"connections": N, "closed": C, "requests": M}` counted since start, which
shows whether the gateway reuses its upstream connections. `--fail-model NAME --fail-rate R`
answers HTTP 500 to a random share R of the requests for model NAME (for resilience runs).
It parses only what it needs (request line, Content-Length, the `"stream": true` flag) so that
it is never the bottleneck of a gateway benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
from typing import cast

from loadgen import new_event_loop

STREAM_CONTENT_CHUNKS = 20
STREAM_FLAG = re.compile(rb'"stream"\s*:\s*true')
MODEL = "bench-model"
USAGE = {"prompt_tokens": 12, "completion_tokens": STREAM_CONTENT_CHUNKS, "total_tokens": 32}


def _completion_body() -> bytes:
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello! This is a canned reply."},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": USAGE,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _chunk(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def _stream_events() -> list[bytes]:
    """The SSE events of one stream, each already framed as one HTTP chunk."""
    events = [_chunk({"role": "assistant", "content": ""})]
    events += [_chunk({"content": f"tok{i} "}) for i in range(STREAM_CONTENT_CHUNKS - 1)]
    events.append(_chunk({}, finish="stop"))
    usage = _chunk({})
    usage["choices"], usage["usage"] = [], USAGE
    events.append(usage)
    payloads = [b"data: " + json.dumps(e, separators=(",", ":")).encode() + b"\n\n" for e in events]
    payloads.append(b"data: [DONE]\n\n")
    return [b"%x\r\n%s\r\n" % (len(p), p) for p in payloads]


def _head(status: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


COMPLETION = _completion_body()
COMPLETION_RESPONSE = (
    _head(
        "200 OK",
        [("content-type", "application/json"), ("content-length", str(len(COMPLETION)))],
    )
    + COMPLETION
)
STREAM_HEAD = _head(
    "200 OK",
    [
        ("content-type", "text/event-stream"),
        ("cache-control", "no-cache"),
        ("transfer-encoding", "chunked"),
    ],
)
STREAM_CHUNKS = _stream_events()
STREAM_RESPONSE = STREAM_HEAD + b"".join(STREAM_CHUNKS) + b"0\r\n\r\n"
HEALTH_RESPONSE = _head("200 OK", [("content-length", "2")]) + b"ok"
NOT_FOUND_RESPONSE = _head("404 Not Found", [("content-length", "0")])
FAILURE_BODY = b'{"error":{"message":"scripted failure","type":"server_error","code":null}}'
FAILURE_RESPONSE = (
    _head(
        "500 Internal Server Error",
        [("content-type", "application/json"), ("content-length", str(len(FAILURE_BODY)))],
    )
    + FAILURE_BODY
)


class Failures:
    """Fails a random share of the requests that name one model."""

    def __init__(self, model: str | None, rate: float, seed: int = 1) -> None:
        self._pattern = (
            re.compile(rb'"model"\s*:\s*"' + re.escape(model.encode()) + b'"') if model else None
        )
        self._rate = rate
        self._rng = random.Random(seed)
        self.failed = 0

    def should_fail(self, body: bytes) -> bool:
        if self._pattern is None or not self._pattern.search(body):
            return False
        if self._rng.random() >= self._rate:
            return False
        self.failed += 1
        return True


class Counters:
    """Connections accepted and closed, requests answered: for `GET /stats`."""

    def __init__(self, failures: Failures) -> None:
        self.connections = 0
        self.closed = 0
        self.requests = 0
        self.failures = failures

    def response(self) -> bytes:
        body = json.dumps(
            {
                "connections": self.connections,
                "closed": self.closed,
                "requests": self.requests,
                "failed": self.failures.failed,
            }
        ).encode()
        head = _head(
            "200 OK", [("content-type", "application/json"), ("content-length", str(len(body)))]
        )
        return head + body


class UpstreamProtocol(asyncio.Protocol):
    """One keep-alive connection: requests are answered in order, pipelining tolerated."""

    def __init__(self, chunk_gap_s: float, counters: Counters) -> None:
        self._chunk_gap_s = chunk_gap_s
        self._counters = counters
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._streaming = False  # a spaced-out stream is being written; later requests wait
        self._loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, so no isinstance check here.
        self._transport = cast(asyncio.Transport, transport)
        self._counters.connections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._counters.closed += 1

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._streaming:
            self._drain()

    def _drain(self) -> None:
        while self._transport is not None and not self._streaming:
            request = self._take_request()
            if request is None:
                return
            self._answer(*request)

    def _take_request(self) -> tuple[bytes, bytes] | None:
        """(request line, body) of the next complete request, or None if more bytes are needed."""
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self._buffer[:end])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        total = end + 4 + length
        if len(self._buffer) < total:
            return None
        body = bytes(self._buffer[end + 4 : total])
        del self._buffer[:total]
        return head.split(b"\r\n", 1)[0], body

    def _answer(self, request_line: bytes, body: bytes) -> None:
        assert self._transport is not None
        self._counters.requests += 1
        if request_line.startswith(b"POST /v1/chat/completions "):
            if self._counters.failures.should_fail(body):
                self._transport.write(FAILURE_RESPONSE)
            elif STREAM_FLAG.search(body):
                self._stream()
            else:
                self._transport.write(COMPLETION_RESPONSE)
        elif request_line.startswith(b"GET /healthz "):
            self._transport.write(HEALTH_RESPONSE)
        elif request_line.startswith(b"GET /stats "):
            self._transport.write(self._counters.response())
        else:
            self._transport.write(NOT_FOUND_RESPONSE)

    def _stream(self) -> None:
        assert self._transport is not None
        if self._chunk_gap_s <= 0:
            self._transport.write(STREAM_RESPONSE)
            return
        self._streaming = True
        self._transport.write(STREAM_HEAD + STREAM_CHUNKS[0])
        self._loop.call_later(self._chunk_gap_s, self._send_chunk, 1)

    def _send_chunk(self, index: int) -> None:
        if self._transport is None:
            return
        if index < len(STREAM_CHUNKS):
            self._transport.write(STREAM_CHUNKS[index])
            self._loop.call_later(self._chunk_gap_s, self._send_chunk, index + 1)
            return
        self._transport.write(b"0\r\n\r\n")
        self._streaming = False
        self._drain()


async def serve(host: str, port: int, chunk_gap_ms: float, failures: Failures) -> None:
    loop = asyncio.get_running_loop()
    counters = Counters(failures)
    server = await loop.create_server(
        lambda: UpstreamProtocol(chunk_gap_ms / 1000.0, counters), host, port, backlog=1024
    )
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument(
        "--chunk-gap-ms", type=float, default=0.0, help="delay between stream events (0: one write)"
    )
    parser.add_argument("--fail-model", default=None, help="model whose requests may fail")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="share of them that fail")
    args = parser.parse_args()
    failures = Failures(args.fail_model, args.fail_rate)
    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=new_event_loop) as r:
        r.run(serve(args.host, args.port, args.chunk_gap_ms, failures))


if __name__ == "__main__":
    main()
