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
        try:
            with pytest.raises(StorageError, match="unavailable"):
                await store.command("GET", "k")
        finally:
            await store.aclose()

    on_both_loops(scenario)
