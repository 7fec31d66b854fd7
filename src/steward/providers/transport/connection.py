"""One HTTP/1.1 connection to an upstream: an asyncio protocol feeding httptools' response parser.

A `Connection` carries one exchange at a time. Its `Exchange` is the response side of that
exchange: status, headers and a body that can be read whole or chunk by chunk, with one timer
that enforces both the total deadline and the idle (between reads) timeout.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import deque
from collections.abc import Callable
from typing import cast

import httptools

__all__ = [
    "ConnectError",
    "ConnectTimeout",
    "Connection",
    "Disconnected",
    "Exchange",
    "IdleTimeout",
    "MalformedResponse",
    "TotalTimeout",
    "TransportError",
]

# Above this many buffered body bytes the socket stops being read until the consumer catches up.
HIGH_WATER = 1 << 20


class TransportError(Exception):
    """Base of the transport's own errors; `providers.http` translates them for callers."""


class ConnectError(TransportError):
    def __init__(self, os_error: OSError) -> None:
        super().__init__(str(os_error))
        self.os_error = os_error


class ConnectTimeout(TransportError):
    pass


class IdleTimeout(TransportError):
    pass


class TotalTimeout(TransportError):
    pass


class Disconnected(TransportError):
    """The connection closed before the response was complete."""

    def __init__(self, *, received: int) -> None:
        super().__init__(f"connection closed after {received} response bytes")
        self.received = received


class MalformedResponse(TransportError):
    pass


class Exchange:
    """The response to one request on a `Connection`."""

    __slots__ = (
        "_buffered",
        "_chunks",
        "_deadline",
        "_decoder",
        "_error",
        "_idle_s",
        "_loop",
        "_timer",
        "_waiter",
        "complete",
        "connection",
        "headers",
        "headers_done",
        "last_read",
        "received",
        "status",
    )

    def __init__(
        self, connection: Connection, loop: asyncio.AbstractEventLoop, total_s: float, idle_s: float
    ) -> None:
        self.connection = connection
        self._loop = loop
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_done = False
        self.complete = False
        self.received = 0
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._decoder: zlib._Decompress | None = None
        self._error: TransportError | None = None
        self._waiter: asyncio.Future[None] | None = None
        now = loop.time()
        self.last_read = now
        self._deadline = now + total_s
        self._idle_s = idle_s
        self._timer: asyncio.TimerHandle | None = loop.call_at(
            min(self._deadline, now + idle_s), self._check_timeouts
        )

    def header(self, name: bytes) -> str | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value.decode("latin-1")
        return None

    async def wait_headers(self) -> None:
        while not self.headers_done and self._error is None:
            await self._wait()
        if self._error is not None and not self.headers_done:
            raise self._error

    async def read(self) -> bytes:
        """The whole (decoded) body."""
        while not self.complete and self._error is None:
            await self._wait()
        if self._error is not None:
            raise self._error
        body = b"".join(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        return body

    async def read_chunk(self) -> bytes:
        """The next piece of the body as it arrives; b"" at its end."""
        while not self._chunks and not self.complete and self._error is None:
            await self._wait()
        if self._chunks:
            chunk = self._chunks.popleft()
            self._buffered -= len(chunk)
            if self._buffered < HIGH_WATER:
                self.connection.resume()
            return chunk
        if self._error is not None:
            raise self._error
        return b""

    # Called by the connection.

    def on_headers(self, status: int) -> None:
        self.status = status
        self.headers_done = True
        encoding = self.header(b"content-encoding")
        if encoding and encoding.strip().lower() in ("gzip", "deflate", "x-gzip"):
            self._decoder = zlib.decompressobj(wbits=47)  # gzip or zlib framing, detected
        self._wake()

    def on_body(self, data: bytes) -> None:
        if self._decoder is not None:
            try:
                data = self._decoder.decompress(data)
            except zlib.error:
                self.fail(MalformedResponse("the body does not match its content-encoding"))
                return
        if data:
            self._chunks.append(data)
            self._buffered += len(data)
            if self._buffered >= HIGH_WATER:
                self.connection.pause()
            self._wake()

    def on_complete(self) -> None:
        if self._decoder is not None:
            tail = self._decoder.flush()
            if tail:
                self._chunks.append(tail)
        self.complete = True
        self._cancel_timer()
        self._wake()

    def fail(self, error: TransportError) -> None:
        if self.complete or self._error is not None:
            return
        self._error = error
        self._cancel_timer()
        self.connection.abort()
        self._wake()

    def close(self) -> None:
        self._cancel_timer()

    def _check_timeouts(self) -> None:
        self._timer = None
        now = self._loop.time()
        if now >= self._deadline:
            self.fail(TotalTimeout())
        elif now - self.last_read >= self._idle_s:
            self.fail(IdleTimeout())
        else:
            wake_at = min(self._deadline, self.last_read + self._idle_s)
            self._timer = self._loop.call_at(wake_at, self._check_timeouts)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _wait(self) -> None:
        waiter = self._waiter = self._loop.create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class Connection(asyncio.Protocol):
    """An HTTP/1.1 client connection; `on_idle` is called when it can carry another request."""

    def __init__(self, loop: asyncio.AbstractEventLoop, origin: str) -> None:
        self.origin = origin
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.uses = 0
        self.idle_since = 0.0
        self.exchange: Exchange | None = None
        self.on_idle: Callable[[Connection], None] | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._paused = False
        self._eof_delimited = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        exchange = self.exchange
        if exchange is None:  # nothing was asked: the server is confused; do not reuse
            self.abort()
            return
        exchange.last_read = self.loop.time()
        exchange.received += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            exchange.fail(MalformedResponse(f"unparseable HTTP response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        exchange = self.exchange
        if exchange is None or exchange.complete:
            return
        if exchange.headers_done and self._eof_delimited:
            exchange.on_complete()  # a body without length or chunking ends at EOF
        else:
            exchange.fail(Disconnected(received=exchange.received))

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.exchange is not None
        self.exchange.headers.append((name, value))

    def on_headers_complete(self) -> None:
        exchange = self.exchange
        assert exchange is not None
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim response; the real one follows
            exchange.headers.clear()
            return
        self._eof_delimited = (
            exchange.header(b"content-length") is None
            and "chunked" not in (exchange.header(b"transfer-encoding") or "").lower()
            and status not in (204, 304)
        )
        exchange.on_headers(status)

    def on_body(self, body: bytes) -> None:
        assert self.exchange is not None
        self.exchange.on_body(body)

    def on_message_complete(self) -> None:
        exchange = self.exchange
        if exchange is None or not exchange.headers_done:
            return
        exchange.on_complete()
        if not self._parser.should_keep_alive() or self._eof_delimited:
            self.abort()
        elif self.on_idle is not None:  # the caller left early and the pool waits for the end
            callback, self.on_idle = self.on_idle, None
            callback(self)

    # Used by the pool and the exchange.

    def start(self, request: bytes, total_s: float, idle_s: float) -> Exchange:
        assert self.transport is not None
        self.uses += 1
        self._eof_delimited = False
        self.exchange = Exchange(self, self.loop, total_s, idle_s)
        self.transport.write(request)
        return self.exchange

    def reusable(self) -> bool:
        exchange = self.exchange
        return not self.closed and (exchange is None or exchange.complete)

    def finish(self) -> None:
        """The caller is done with the current exchange."""
        if self.exchange is not None:
            self.exchange.close()
        self.exchange = None
        self.resume()

    def pause(self) -> None:
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    def abort(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.abort()
