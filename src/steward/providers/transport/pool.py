"""Keep-alive pools of HTTP/1.1 connections, one list per origin, and `POST` over them.

The pool is what makes an upstream call cheap: a request reuses an idle connection (no TCP or
TLS handshake), is written with one `write`, and its response is parsed by httptools in the
protocol callback. A stream its caller stops reading at its last event lingers for a moment so
the end of its body arrives and the connection can be reused.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from steward.providers.transport.connection import (
    ConnectError,
    Connection,
    ConnectTimeout,
    Disconnected,
    Exchange,
    TransportError,
)

__all__ = ["InvalidURL", "Pool", "parse_url"]


class InvalidURL(TransportError):
    pass


@dataclass(frozen=True, slots=True)
class URLTarget:
    origin: str
    host: str
    port: int
    tls: bool
    path: str
    host_header: str


@functools.lru_cache(maxsize=256)
def parse_url(url: str) -> URLTarget:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidURL(f"{url!r} is not an http:// or https:// URL")
    tls = parts.scheme == "https"
    default_port = 443 if tls else 80
    try:
        port = parts.port or default_port
    except ValueError:
        raise InvalidURL(f"{url!r} has an invalid port") from None
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == default_port else f"{shown}:{port}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return URLTarget(f"{parts.scheme}://{host_header}", host, port, tls, path, host_header)


def _head(target: URLTarget, headers: Mapping[str, str], length: int) -> bytes:
    lines = [
        f"POST {target.path} HTTP/1.1\r\nhost: {target.host_header}\r\n"
        f"content-length: {length}\r\nuser-agent: steward\r\n"
    ]
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise InvalidURL(f"header {name!r} contains a line break")
        lines.append(f"{name}: {value}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("latin-1")


class Pool:
    """Connections to any number of origins, at most `limit` in use at once."""

    def __init__(self, *, limit: int = 2048, keepalive_s: float = 30.0, linger_s: float = 1.0):
        self._idle: dict[str, list[Connection]] = {}
        self._slots = asyncio.Semaphore(limit)
        self._keepalive_s = keepalive_s
        self._linger_s = linger_s
        self._ssl: ssl.SSLContext | None = None
        self._closed = False

    async def post(
        self,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        connect_s: float,
        total_s: float,
        idle_s: float,
    ) -> Exchange:
        """Send the request and wait for the response headers; `release` the exchange after."""
        target = parse_url(url)
        request = _head(target, headers, len(body)) + body
        await self._slots.acquire()
        try:
            for attempt in (1, 2):
                connection = self._take_idle(target.origin)
                reused = connection is not None
                if connection is None:
                    connection = await self._connect(target, connect_s)
                exchange = connection.start(request, total_s, idle_s)
                try:
                    await exchange.wait_headers()
                    return exchange
                except Disconnected as exc:
                    connection.finish()
                    # A kept-alive connection the server closed as we wrote: nothing was
                    # processed, so one retry on a new connection is safe.
                    if reused and exc.received == 0 and attempt == 1:
                        continue
                    raise
                except BaseException:
                    connection.abort()
                    connection.finish()
                    raise
            raise AssertionError("unreachable")
        except BaseException:
            self._slots.release()
            raise

    def release(self, exchange: Exchange, *, reuse: bool) -> None:
        """Give the exchange's connection back: to the pool if it can carry another request."""
        self._slots.release()
        connection = exchange.connection
        if not reuse or connection.closed or self._closed:
            connection.abort()
            connection.finish()
        elif exchange.complete:
            self._put(connection)
        else:
            connection.on_idle = self._put
            connection.loop.call_later(self._linger_s, self._give_up, connection, connection.uses)

    def close(self) -> None:
        self._closed = True
        for connections in self._idle.values():
            for connection in connections:
                connection.abort()
        self._idle.clear()

    def idle_count(self) -> int:
        return sum(1 for conns in self._idle.values() for c in conns if not c.closed)

    def _take_idle(self, origin: str) -> Connection | None:
        connections = self._idle.get(origin)
        while connections:
            connection = connections.pop()
            if connection.closed:
                continue
            if connection.loop.time() - connection.idle_since > self._keepalive_s:
                connection.abort()
                continue
            return connection
        return None

    def _put(self, connection: Connection) -> None:
        connection.finish()
        if self._closed or connection.closed:
            connection.abort()
            return
        connection.idle_since = connection.loop.time()
        self._idle.setdefault(connection.origin, []).append(connection)

    def _give_up(self, connection: Connection, uses: int) -> None:
        """A lingering stream did not end in time: close its connection."""
        if connection.uses == uses and connection.on_idle is not None:
            connection.on_idle = None
            connection.abort()
            connection.finish()

    async def _connect(self, target: URLTarget, connect_s: float) -> Connection:
        loop = asyncio.get_running_loop()
        context = self._ssl_context() if target.tls else None
        try:
            async with asyncio.timeout(connect_s):
                _, connection = await loop.create_connection(
                    lambda: Connection(loop, target.origin),
                    target.host,
                    target.port,
                    ssl=context,
                    server_hostname=target.host if context else None,
                )
        except TimeoutError:
            raise ConnectTimeout() from None
        except OSError as exc:
            raise ConnectError(exc) from None
        return connection

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
            self._ssl.set_alpn_protocols(["http/1.1"])
        return self._ssl
