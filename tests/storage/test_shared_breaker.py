"""Breakers and health shared by replicas through Redis; each instance stands for one replica."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest
import redis
from structlog.testing import capture_logs

from steward.config.schema import BreakerConfig
from steward.routing.breaker import Breakers
from steward.routing.health import TargetHealth
from steward.storage.redis import RedisStore
from tests.clock import ManualClock

pytestmark = pytest.mark.redis

T = "up/gpt-test"
CONFIG = BreakerConfig(window_s=60.0, min_requests=6, failure_ratio=0.5, open_s=30.0)


def fail(b: Breakers, times: int) -> None:
    for _ in range(times):
        assert b.allow(T)
        b.record(T, ok=False)


def replicas(
    url: str, prefix: str, scenario: Callable[[Breakers, Breakers, ManualClock], Awaitable[None]]
) -> None:
    """Run `scenario` with two breakers on their own stores of one Redis, on one clock."""

    async def main() -> None:
        stores = [RedisStore(url, prefix=prefix), RedisStore(url, prefix=prefix)]
        clock = ManualClock()
        a, b = (Breakers(CONFIG, shared=store, clock=clock) for store in stores)
        b.watch([T])  # as the runtime does with every configured target
        try:
            await scenario(a, b, clock)
        finally:
            for store in stores:
                await store.aclose()

    asyncio.run(main())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_failures_on_one_replica_open_the_breaker_on_another(
    redis_url: str, redis_prefix: str
) -> None:
    async def scenario(a: Breakers, b: Breakers, clock: ManualClock) -> None:
        fail(a, 6)
        assert a.state(T) == "open"
        assert b.allow(T)
        assert await a.sync()
        assert await b.sync()
        assert b.state(T) == "open"
        assert not b.allow(T)
        view = b.snapshot()[T]
        assert view["shared"] is True
        assert view["open_until"] == a.snapshot()[T]["open_until"]

    replicas(redis_url, redis_prefix, scenario)


def test_counts_add_up_across_replicas(redis_url: str, redis_prefix: str) -> None:
    async def scenario(a: Breakers, b: Breakers, clock: ManualClock) -> None:
        fail(a, 3)
        fail(b, 2)
        assert await a.sync()
        assert await b.sync()
        assert a.state(T) == b.state(T) == "closed"
        assert b.snapshot()[T]["failures"] == 5
        fail(b, 1)  # the sixth failure of the fleet, seen on B from the merged counts
        assert b.state(T) == "open"
        assert await b.sync()
        assert await a.sync()
        assert a.state(T) == "open"

    replicas(redis_url, redis_prefix, scenario)


def test_one_replica_probes_and_its_success_closes_the_fleet(
    redis_url: str, redis_prefix: str
) -> None:
    async def scenario(a: Breakers, b: Breakers, clock: ManualClock) -> None:
        fail(a, 6)
        assert await a.sync()
        assert await b.sync()
        clock.advance(30.0)
        assert a.state(T) == b.state(T) == "half_open"
        assert not a.allow(T)  # asks for the fleet's probe lease first
        assert not b.allow(T)
        assert await a.sync()
        assert await b.sync()
        assert a.allow(T)
        assert not b.allow(T)  # A holds the lease
        a.record(T, ok=True)
        assert a.state(T) == "closed"
        assert await a.sync()
        assert await b.sync()
        assert b.state(T) == "closed"
        assert b.snapshot()[T]["requests"] == 0
        fail(b, 5)  # the window was reset fleet-wide
        assert await b.sync()
        assert b.state(T) == "closed"

    replicas(redis_url, redis_prefix, scenario)


def test_a_failed_probe_reopens_the_fleet(redis_url: str, redis_prefix: str) -> None:
    async def scenario(a: Breakers, b: Breakers, clock: ManualClock) -> None:
        fail(a, 6)
        assert await a.sync()
        assert await b.sync()
        clock.advance(30.0)
        assert not b.allow(T)
        assert await b.sync()
        assert b.allow(T)
        b.record(T, ok=False)
        assert await b.sync()
        assert await a.sync()
        assert a.state(T) == "open"
        clock.advance(29.0)
        assert a.state(T) == "open"

    replicas(redis_url, redis_prefix, scenario)


def test_keys_expire(redis_url: str, redis_prefix: str) -> None:
    async def scenario(a: Breakers, b: Breakers, clock: ManualClock) -> None:
        fail(a, 6)
        assert await a.sync()

    replicas(redis_url, redis_prefix, scenario)
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=redis_prefix + "*"))
        assert keys
        assert all(client.pttl(key) > 0 for key in keys)
    finally:
        client.close()


def test_unreachable_redis_leaves_each_replica_working_alone() -> None:
    async def main() -> None:
        url = f"redis://127.0.0.1:{closed_port()}/0"
        stores = [RedisStore(url, timeout_s=0.2), RedisStore(url, timeout_s=0.2)]
        clock = ManualClock()
        a, b = (Breakers(CONFIG, shared=store, clock=clock) for store in stores)
        with capture_logs() as logs:
            fail(a, 6)
            assert not await a.sync()
            assert not await a.sync()
            fail(b, 1)
            assert not await b.sync()
        warnings = [e for e in logs if e["event"] == "routing.redis_unavailable"]
        assert len(warnings) == 2  # once per replica, not once per round
        assert a.state(T) == "open"
        assert b.state(T) == "closed"
        assert b.allow(T)
        clock.advance(30.0)
        assert a.allow(T)  # half-open probes need no lease while Redis is away
        a.record(T, ok=True)
        assert a.state(T) == "closed"
        await a.start()
        await a.stop()
        for store in stores:
            await store.aclose()

    asyncio.run(main())


def test_background_sync_shares_an_open_breaker(redis_url: str, redis_prefix: str) -> None:
    async def scenario(a: Breakers, b: Breakers, clock: ManualClock) -> None:
        await a.start()
        await b.start()
        try:
            fail(a, 6)
            for _ in range(200):
                if b.state(T) == "open":
                    break
                await asyncio.sleep(0.05)
            assert b.state(T) == "open"
        finally:
            await a.stop()
            await b.stop()

    replicas(redis_url, redis_prefix, scenario)


def test_health_is_shared(redis_url: str, redis_prefix: str) -> None:
    async def main() -> None:
        stores = [RedisStore(redis_url, prefix=redis_prefix) for _ in range(2)]
        clock = ManualClock()
        a, b = (TargetHealth(shared=store, clock=clock) for store in stores)
        for latency in (10.0, 20.0, 30.0):
            a.started(T)
            a.finished(T, latency_ms=latency, ok=True)
        a.started(T)
        a.started(T)
        a.finished(T, latency_ms=1.0, ok=False)
        b.started(T)
        b.finished(T, latency_ms=40.0, ok=True)
        assert await a.sync()
        assert await b.sync()
        assert b.in_flight(T) == 1
        assert b.local_in_flight(T) == 0
        assert b.error_rate(T) == pytest.approx(0.2)
        assert b.latency_ms(T, 1.0) == 40.0
        assert b.latency_ms(T, 0.0) == 10.0
        await a.start()
        await a.stop()  # withdraws A's in-flight count
        assert await b.sync()
        assert b.in_flight(T) == 0
        for store in stores:
            await store.aclose()

    asyncio.run(main())
