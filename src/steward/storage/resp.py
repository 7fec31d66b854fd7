"""A lean Redis client for single commands on the request path: RESP2 over one asyncio connection.

redis-py's asyncio client costs about 170 µs of CPU per command (connection pool, command
parsing, stream reader); a cache lookup on every request cannot afford that. This client sends
commands pipelined on one connection and matches replies to waiters in order, so a command
costs one write and a share of one read. A command nobody waits for (`send_later`: a cache
write) goes out with the next command, or at the loop's next turn, in the same write. It speaks only what Steward needs: bulk strings,
integers, simple strings, errors and arrays (RESP2), with AUTH and SELECT from the URL.

Failures raise `RespError` (a reply error) or `OSError`/`ConnectionError` (the connection);
`storage/redis.py` translates both. A command cancelled while waiting leaves its future in the
queue, so the reply that still arrives is dropped rather than given to the next command.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import cast
from urllib.parse import unquote, urlsplit

__all__ = ["RespClient", "RespError", "RespURL"]

Arg = bytes | str | int | float
_CRLF = b"\r\n"


class RespError(Exception):
    """An error reply from the server (`-ERR ...`)."""


@dataclass(frozen=True, slots=True)
class RespURL:
    host: str
    port: int
    db: int
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> RespURL | None:
        """The parts of a `redis://` URL; None for anything else (TLS, sockets): use redis-py."""
        parts = urlsplit(url)
        if parts.scheme != "redis":
            return None
        path = parts.path.lstrip("/")
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 6379,
            db=int(path) if path.isdigit() else 0,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


def encode(args: tuple[Arg, ...]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        else:
            data = repr(arg).encode() if isinstance(arg, float) else b"%d" % arg
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def parse(buf: bytearray, pos: int) -> tuple[object, int] | None:
    """One reply starting at `pos`: (value, next position), or None when it is incomplete."""
    end = buf.find(_CRLF, pos)
    if end < 0:
        return None
    kind, line, after = buf[pos], bytes(buf[pos + 1 : end]), end + 2
    if kind == 0x24:  # $ bulk string
        size = int(line)
        if size < 0:
            return None, after
        if len(buf) < after + size + 2:
            return None
        return bytes(buf[after : after + size]), after + size + 2
    if kind == 0x2B:  # + simple string
        return line, after
    if kind == 0x3A:  # : integer
        return int(line), after
    if kind == 0x2D:  # - error
        return RespError(line.decode("utf-8", "replace")), after
    if kind == 0x2A:  # * array
        count = int(line)
        if count < 0:
            return None, after
        items: list[object] = []
        for _ in range(count):
            found = parse(buf, after)
            if found is None:
                return None
            item, after = found
            items.append(item)
        return items, after
    raise ConnectionError(f"unexpected Redis reply type {chr(kind)!r}")


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiters: deque[asyncio.Future[object]] = deque()
        self._unsent: list[bytes] = []
        self._flush_scheduled = False
        self.lost: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def send(self, payload: bytes, *, later: bool = False) -> asyncio.Future[object]:
        """Queue `payload`; written now (with anything held back), or with `later` at the next
        command or the loop's next turn, whichever comes first. Replies keep the order."""
        if self._transport is None or self.lost is not None:
            raise ConnectionError("the Redis connection is closed")
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[object] = loop.create_future()
        self._waiters.append(waiter)
        self._unsent.append(payload)
        if not later:
            self.flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self.flush)
        return waiter

    def flush(self) -> None:
        self._flush_scheduled = False
        if self._unsent and self._transport is not None and self.lost is None:
            unsent = self._unsent
            self._unsent = []
            self._transport.write(unsent[0] if len(unsent) == 1 else b"".join(unsent))

    def data_received(self, data: bytes) -> None:
        buf = self._buffer
        buf += data
        pos = 0
        try:
            while pos < len(buf):
                found = parse(buf, pos)
                if found is None:
                    break
                value, pos = found
                self._resolve(value)
        except (ValueError, ConnectionError) as exc:
            self.abort(ConnectionError(f"malformed Redis reply: {exc}"))
            return
        del buf[:pos]

    def _resolve(self, value: object) -> None:
        if not self._waiters:
            return
        waiter = self._waiters.popleft()
        if waiter.done():
            return  # its caller gave up; the reply is dropped, order is kept
        if isinstance(value, RespError):
            waiter.set_exception(value)
        else:
            waiter.set_result(value)

    def close(self) -> None:
        """Close after the write buffer drains; replies still due are dropped."""
        if self._transport is not None:
            self._transport.close()

    def abort(self, exc: BaseException) -> None:
        if self._transport is not None:
            self._transport.abort()
        self.connection_lost(exc)

    def connection_lost(self, exc: Exception | BaseException | None) -> None:
        if self.lost is None:
            self.lost = exc or ConnectionError("Redis closed the connection")
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(ConnectionError(str(self.lost)))


class RespClient:
    """One connection, opened on first use and again after it fails."""

    def __init__(self, url: RespURL) -> None:
        self._url = url
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None

    async def call(self, *args: Arg) -> object:
        protocol = self._protocol
        if protocol is None or protocol.lost is not None:
            protocol = await self._connect()
        return await protocol.send(encode(args))

    def reset(self) -> None:
        """Drop the connection (after a timeout its replies can no longer be trusted)."""
        if self._protocol is not None:
            self._protocol.abort(ConnectionError("reset after a timeout"))
            self._protocol = None

    def send_later(self, *args: Arg) -> asyncio.Future[object] | None:
        """A command whose reply the caller need not wait for (the future has it), sent with
        the next command or at the loop's next turn. None when no connection is open: `call`
        then, which connects."""
        protocol = self._protocol
        if protocol is None or protocol.lost is not None:
            return None
        return protocol.send(encode(args), later=True)

    async def aclose(self) -> None:
        """Write what is held back, then close."""
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.lost is None:
            protocol.flush()
            protocol.close()

    async def _connect(self) -> _Protocol:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._protocol is not None and self._protocol.lost is None:
                return self._protocol
            loop = asyncio.get_running_loop()
            _, protocol = await loop.create_connection(_Protocol, self._url.host, self._url.port)
            try:
                await self._hello(protocol)
            except BaseException:
                protocol.abort(ConnectionError("closed during setup"))
                raise
            self._protocol = protocol
            return protocol

    async def _hello(self, protocol: _Protocol) -> None:
        url = self._url
        if url.password is not None:
            auth = (url.username, url.password) if url.username else (url.password,)
            await protocol.send(encode(("AUTH", *auth)))
        if url.db:
            await protocol.send(encode(("SELECT", url.db)))
