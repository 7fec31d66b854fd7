"""The upstream HTTP/1.1 client against a scripted loopback server: reuse, framing, faults, timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import uvloop

from steward.providers.transport import (
    ConnectError,
    ConnectTimeout,
    Disconnected,
    IdleTimeout,
    InvalidURL,
    MalformedResponse,
    Pool,
    TotalTimeout,
)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, bytes], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


class Server:
    """Answers each request by calling the handler registered for its path; counts connections."""

    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}
        self.connections = 0
        self.requests: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                path = head.split(b" ")[1].decode()
                await self.handlers[path](reader, writer, body)
                if writer.is_closing():
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def _reply(data: bytes) -> Handler:
    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes
    ) -> None:
        writer.write(data)
        await writer.drain()

    return handler


def run(main: Callable[[], Awaitable[None]]) -> None:
    """Run on asyncio's own loop and on uvloop, which the gateway serves with."""
    asyncio.run(main())  # type: ignore[arg-type]
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())  # type: ignore[arg-type]


async def _post(pool: Pool, url: str, **timeouts: float) -> tuple[int, bytes]:
    options = {"connect_s": 2.0, "total_s": 5.0, "idle_s": 5.0, **timeouts}
    exchange = await pool.post(url, {"content-type": "application/json"}, b'{"a":1}', **options)
    try:
        body = await exchange.read()
    except BaseException:
        pool.release(exchange, reuse=False)
        raise
    pool.release(exchange, reuse=True)
    return exchange.status, body


def test_sequential_requests_reuse_one_connection() -> None:
    async def main() -> None:
        async with Server() as server:
            server.handlers["/ok"] = await _reply(OK)
            pool = Pool()
            results = [await _post(pool, server.url("/ok")) for _ in range(5)]
            assert results == [(200, b"{}")] * 5
            assert server.connections == 1
            first = server.requests[0]
            assert first.startswith(b"POST /ok HTTP/1.1\r\n")
            assert b"host: 127.0.0.1:" in first and first.endswith(b'\r\n\r\n{"a":1}')
            pool.close()

    run(main)


def test_concurrent_requests_open_parallel_connections_then_reuse_them() -> None:
    async def main() -> None:
        async with Server() as server:

            async def slow(reader: Any, writer: asyncio.StreamWriter, body: bytes) -> None:
                await asyncio.sleep(0.05)
                writer.write(OK)

            server.handlers["/slow"] = slow
            pool = Pool()
            for _ in range(3):
                results = await asyncio.gather(
                    *(_post(pool, server.url("/slow")) for _ in range(8))
                )
                assert results == [(200, b"{}")] * 8
            assert server.connections == 8
            assert pool.idle_count() == 8
            pool.close()

    run(main)


def test_chunked_body_is_streamed_chunk_by_chunk() -> None:
    async def main() -> None:
        async with Server() as server:

            async def chunks(reader: Any, writer: asyncio.StreamWriter, body: bytes) -> None:
                writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                for part in (b"data: one\n\n", b"data: two\n\n"):
                    writer.write(b"%x\r\n%s\r\n" % (len(part), part))
                    await writer.drain()
                    await asyncio.sleep(0.02)
                writer.write(b"0\r\n\r\n")

            server.handlers["/sse"] = chunks
            pool = Pool()
            exchange = await pool.post(
                server.url("/sse"), {}, b"{}", connect_s=1, total_s=5, idle_s=5
            )
            received = []
            while part := await exchange.read_chunk():
                received.append(part)
            pool.release(exchange, reuse=True)
            assert received == [b"data: one\n\n", b"data: two\n\n"]
            assert pool.idle_count() == 1
            pool.close()

    run(main)


def test_a_stream_left_at_its_last_event_lingers_and_its_connection_is_reused() -> None:
    async def main() -> None:
        async with Server() as server:

            async def late_end(reader: Any, writer: asyncio.StreamWriter, body: bytes) -> None:
                writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                writer.write(b"5\r\n[END]\r\n")
                await writer.drain()
                await asyncio.sleep(0.05)
                writer.write(b"0\r\n\r\n")

            server.handlers["/late"] = late_end
            server.handlers["/ok"] = await _reply(OK)
            pool = Pool()
            exchange = await pool.post(
                server.url("/late"), {}, b"{}", connect_s=1, total_s=5, idle_s=5
            )
            assert await exchange.read_chunk() == b"[END]"
            pool.release(exchange, reuse=True)  # before the terminating chunk arrived
            await asyncio.sleep(0.2)
            assert await _post(pool, server.url("/ok")) == (200, b"{}")
            assert server.connections == 1
            pool.close()

    run(main)


def test_a_lingering_stream_that_never_ends_is_closed() -> None:
    async def main() -> None:
        async with Server() as server:

            async def never_ends(reader: Any, writer: asyncio.StreamWriter, body: bytes) -> None:
                writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\n[END]\r\n")
                await asyncio.sleep(10)

            server.handlers["/hang"] = never_ends
            pool = Pool(linger_s=0.05)
            exchange = await pool.post(
                server.url("/hang"), {}, b"{}", connect_s=1, total_s=5, idle_s=5
            )
            assert await exchange.read_chunk() == b"[END]"
            pool.release(exchange, reuse=True)
            await asyncio.sleep(0.2)
            assert exchange.connection.closed
            assert pool.idle_count() == 0
            pool.close()

    run(main)


def test_gzip_and_eof_delimited_bodies_are_decoded() -> None:
    async def main() -> None:
        async with Server() as server:
            packed = gzip.compress(b'{"zipped":true}')
            server.handlers["/gzip"] = await _reply(
                b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n%s"
                % (len(packed), packed)
            )

            async def until_close(reader: Any, writer: asyncio.StreamWriter, body: bytes) -> None:
                writer.write(b'HTTP/1.1 200 OK\r\n\r\n{"eof":')
                await writer.drain()
                writer.write(b"true}")
                writer.close()

            server.handlers["/eof"] = until_close
            pool = Pool()
            assert await _post(pool, server.url("/gzip")) == (200, b'{"zipped":true}')
            assert await _post(pool, server.url("/eof")) == (200, b'{"eof":true}')
            assert pool.idle_count() == 0  # an EOF-delimited body uses its connection up
            pool.close()

    run(main)


def test_a_kept_alive_connection_the_server_closed_is_replaced_transparently() -> None:
    async def main() -> None:
        async with Server() as server:

            async def then_close(reader: Any, writer: asyncio.StreamWriter, body: bytes) -> None:
                writer.write(OK)
                await writer.drain()
                writer.close()  # without saying `connection: close`

            server.handlers["/once"] = then_close
            pool = Pool()
            assert await _post(pool, server.url("/once")) == (200, b"{}")
            assert await _post(pool, server.url("/once")) == (200, b"{}")
            assert server.connections == 2
            pool.close()

    run(main)


def test_faults_raise_transport_errors() -> None:
    async def main() -> None:
        async with Server() as server:

            async def reset(reader: Any, writer: asyncio.StreamWriter, body: bytes) -> None:
                writer.transport.abort()

            async def cut(reader: Any, writer: asyncio.StreamWriter, body: bytes) -> None:
                writer.write(b'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"partial')
                await writer.drain()
                writer.close()

            async def stall(reader: Any, writer: asyncio.StreamWriter, body: bytes) -> None:
                await asyncio.sleep(5)

            async def trickle(reader: Any, writer: asyncio.StreamWriter, body: bytes) -> None:
                writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                for _ in range(50):
                    writer.write(b"1\r\n.\r\n")
                    await writer.drain()
                    await asyncio.sleep(0.02)

            server.handlers.update(
                {
                    "/reset": reset,
                    "/cut": cut,
                    "/stall": stall,
                    "/trickle": trickle,
                    "/garbage": await _reply(b"SMTP ready\r\n\r\n"),
                }
            )
            pool = Pool()
            with pytest.raises(Disconnected):
                await _post(pool, server.url("/reset"))
            with pytest.raises(Disconnected):
                await _post(pool, server.url("/cut"))
            with pytest.raises(IdleTimeout):
                await _post(pool, server.url("/stall"), idle_s=0.1)
            with pytest.raises(TotalTimeout):  # never idle for long, but too long in all
                await _post(pool, server.url("/trickle"), idle_s=0.5, total_s=0.3)
            with pytest.raises(MalformedResponse):
                await _post(pool, server.url("/garbage"))
            assert pool.idle_count() == 0
            pool.close()

    run(main)


@contextlib.contextmanager
def _full_backlog() -> Iterator[int]:
    """A loopback port whose listen queue is full, so a new connection's SYN goes unanswered."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    try:
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def test_connection_errors_and_bad_urls() -> None:
    async def main() -> None:
        pool = Pool()
        closed = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = closed.sockets[0].getsockname()[1]
        closed.close()
        await closed.wait_closed()
        with pytest.raises(ConnectError):
            await _post(pool, f"http://127.0.0.1:{port}/x")
        with _full_backlog() as full_port, pytest.raises(ConnectTimeout):
            await _post(pool, f"http://127.0.0.1:{full_port}/x", connect_s=0.2)
        with pytest.raises(InvalidURL):
            await _post(pool, "ftp://127.0.0.1/x")
        with pytest.raises(InvalidURL):
            await pool.post(
                "http://127.0.0.1/x", {"x": "a\r\nb"}, b"", connect_s=1, total_s=1, idle_s=1
            )
        pool.close()

    run(main)


def test_a_cancelled_request_closes_its_connection() -> None:
    async def main() -> None:
        async with Server() as server:

            async def stall(reader: Any, writer: asyncio.StreamWriter, body: bytes) -> None:
                await asyncio.sleep(5)

            server.handlers["/stall"] = stall
            server.handlers["/ok"] = await _reply(OK)
            pool = Pool(limit=1)
            task = asyncio.create_task(_post(pool, server.url("/stall")))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # The slot came back (limit is 1) and the stalled connection was not pooled.
            assert await _post(pool, server.url("/ok")) == (200, b"{}")
            assert server.connections == 2
            pool.close()

    run(main)


def test_a_large_body_is_read_through_backpressure() -> None:
    async def main() -> None:
        async with Server() as server:
            big = b"x" * (5 << 20)
            server.handlers["/big"] = await _reply(
                b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(big), big)
            )
            pool = Pool()
            exchange = await pool.post(
                server.url("/big"), {}, b"", connect_s=1, total_s=5, idle_s=5
            )
            size = 0
            while part := await exchange.read_chunk():
                size += len(part)
                await asyncio.sleep(0)
            pool.release(exchange, reuse=True)
            assert size == len(big)
            assert pool.idle_count() == 1
            pool.close()

    run(main)
