"""The lean Redis client: RESP encoding and parsing, and commands against the real server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
import uvloop

from steward.errors import StorageError
from steward.storage.redis import RedisStore
from steward.storage.resp import RespError, RespURL, encode, parse
from tests.servers import free_port


def on_both_loops(main: Callable[[], Awaitable[None]]) -> None:
    """asyncio's own loop and uvloop, which the gateway serves with (their transports differ)."""
    asyncio.run(main())  # type: ignore[arg-type]
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())


def test_encode_is_a_resp_array_of_bulk_strings() -> None:
    assert encode(("SET", "k", b"v\r\n", 1500)) == (
        b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\r\n\r\n$4\r\n1500\r\n"
    )


def test_parse_every_reply_type_and_incomplete_input() -> None:
    data = bytearray(b"+OK\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*2\r\n$1\r\na\r\n:7\r\n-ERR no\r\n")
    pos, values = 0, []
    while pos < len(data):
        found = parse(data, pos)
        assert found is not None
        value, pos = found
        values.append(value)
    assert values[:5] == [b"OK", 42, b"hello", None, [b"a", 7]]
    assert isinstance(values[5], RespError) and str(values[5]) == "ERR no"
    for cut in (b"$5\r\nhel", b"*2\r\n$1\r\na\r\n", b":4"):
        assert parse(bytearray(cut), 0) is None


def test_url_parts() -> None:
    url = RespURL.parse("redis://user:p%40ss@10.0.0.5:6380/3")
    assert url == RespURL("10.0.0.5", 6380, 3, "user", "p@ss")
    assert RespURL.parse("rediss://host:6379/0") is None  # TLS goes through redis-py


@pytest.mark.redis
def test_commands_against_the_server(redis_url: str, redis_prefix: str) -> None:
    async def scenario() -> None:
        store = RedisStore(redis_url, prefix=redis_prefix)
        key = store.key("resp", "k")
        try:
            assert await store.command("SET", key, b"\x00binary\r\n", "PX", 60_000) == b"OK"
            assert await store.command("GET", key) == b"\x00binary\r\n"
            assert 0 < int(await store.command("PTTL", key)) <= 60_000  # type: ignore[call-overload]
            assert await store.command("GET", store.key("resp", "missing")) is None
            # Pipelined on one connection, replies come back in order.
            many = await asyncio.gather(*(store.command("ECHO", str(i)) for i in range(200)))
            assert many == [str(i).encode() for i in range(200)]
            with pytest.raises(StorageError, match="unavailable"):
                await store.command("INCR", key)  # not an integer: an error reply
            assert await store.command("GET", key) == b"\x00binary\r\n"  # still in step
        finally:
            await store.aclose()

    on_both_loops(scenario)


@pytest.mark.redis
def test_a_cancelled_command_does_not_shift_later_replies(
    redis_url: str, redis_prefix: str
) -> None:
    async def scenario() -> None:
        store = RedisStore(redis_url, prefix=redis_prefix)
        try:
            await store.command("PING")
            slow = asyncio.ensure_future(store.command("ECHO", "first"))
            await asyncio.sleep(0)
            slow.cancel()
            assert await store.command("ECHO", "second") == b"second"
        finally:
            await store.aclose()

    on_both_loops(scenario)


@pytest.mark.redis
def test_reconnects_after_the_server_drops_the_connection(
    redis_url: str, redis_prefix: str
) -> None:
    async def scenario() -> None:
        store = RedisStore(redis_url, prefix=redis_prefix)
        try:
            client_id = await store.command("CLIENT", "ID")
            killed = await store.run(lambda r: r.execute_command("CLIENT", "KILL", "ID", client_id))
            assert killed == 1
            await asyncio.sleep(0.05)  # the close reaches the client
            assert await store.command("PING") == b"PONG"  # on a new connection
            assert await store.command("CLIENT", "ID") != client_id
        finally:
            await store.aclose()

    on_both_loops(scenario)


def test_an_unreachable_server_is_a_storage_error() -> None:
    async def scenario() -> None:
        store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.2)
        failures: list[StorageError] = []
        try:
            with pytest.raises(StorageError, match="unavailable"):
                await store.command("GET", "k")
            store.command_later("SET", "k", b"v", failed=failures.append)  # never raises
            for _ in range(50):
                if failures:
                    break
                await asyncio.sleep(0.01)
            assert failures and "unavailable" in failures[0].message
        finally:
            await store.aclose()

    on_both_loops(scenario)


class Writes:
    """Counts the socket writes of a store's lean connection."""

    def __init__(self, store: RedisStore) -> None:
        protocol = store._lean._protocol  # type: ignore[union-attr]
        assert protocol is not None and protocol._transport is not None
        self.count = 0
        transport = protocol._transport
        write = transport.write

        def counted(data: bytes) -> None:
            self.count += 1
            write(data)

        protocol._transport = _Wrapped(transport, counted)  # type: ignore[assignment]


class _Wrapped:
    def __init__(self, transport: object, write: Callable[[bytes], None]) -> None:
        self._transport = transport
        self.write = write

    def __getattr__(self, name: str) -> object:
        return getattr(self._transport, name)


@pytest.mark.redis
def test_a_later_command_shares_the_next_write_and_keeps_the_order(
    redis_url: str, redis_prefix: str
) -> None:
    async def scenario() -> None:
        store = RedisStore(redis_url, prefix=redis_prefix)
        key = store.key("resp", "later")
        failures: list[StorageError] = []
        try:
            await store.command("DEL", key)
            writes = Writes(store)
            store.command_later("SET", key, b"stored", "PX", 60_000, failed=failures.append)
            assert writes.count == 0  # held back...
            assert await store.command("GET", key) == b"stored"  # ...and sent first, together
            assert writes.count == 1
            # Nothing follows: it goes out at the loop's next turn.
            store.command_later("SET", key, b"again", "PX", 60_000, failed=failures.append)
            await asyncio.sleep(0.05)
            assert writes.count == 2
            assert await store.command("GET", key) == b"again"
            # An error reply reaches `failed`, and later replies stay in step.
            store.command_later("INCR", key, failed=failures.append)
            assert await store.command("ECHO", "next") == b"next"
            await asyncio.sleep(0)
            assert len(failures) == 1 and "unavailable" in failures[0].message
        finally:
            await store.aclose()

    on_both_loops(scenario)


@pytest.mark.redis
def test_close_writes_what_was_held_back(redis_url: str, redis_prefix: str) -> None:
    async def scenario() -> None:
        store = RedisStore(redis_url, prefix=redis_prefix)
        key = store.key("resp", "closing")
        await store.command("DEL", key)
        store.command_later("SET", key, b"kept", "PX", 60_000, failed=lambda exc: None)
        await store.aclose()
        reader = RedisStore(redis_url, prefix=redis_prefix)
        try:
            assert await reader.command("GET", key) == b"kept"
        finally:
            await reader.aclose()

    on_both_loops(scenario)
