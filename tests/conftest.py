"""Shared fixtures: the fake provider, gateways on loopback, and the PostgreSQL and Redis services."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fakes import FakeProvider
from tests.servers import Gateway, create_key, write_config

FAKE_KEY_ENV = "STEWARD_TEST_FAKE_KEY"
REQUIRE_SERVICES = os.environ.get("STEWARD_REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get(
    "STEWARD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("STEWARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def fake_providers_toml(fake: FakeProvider) -> str:
    """Providers and models that point at the fake upstream, in both wire formats."""
    return f"""
[providers.up]
type = "openai"
base_url = "{fake.url}/v1"
api_key = "env:{FAKE_KEY_ENV}"
timeout_s = 3
connect_timeout_s = 1
stream_idle_timeout_s = 0.5

[providers.claude]
type = "anthropic"
base_url = "{fake.url}"
api_key = "env:{FAKE_KEY_ENV}"
timeout_s = 3
stream_idle_timeout_s = 0.5

# One attempt each: these models pin how a single upstream failure is reported
# (tests/integration/test_routing.py covers retries and fallbacks).
[models.gpt]
targets = ["up/gpt-test"]
retries = 0

[models.claude]
targets = ["claude/claude-test"]
retries = 0

[models.embed]
targets = ["up/embed-test"]
retries = 0
"""


@pytest.fixture(scope="session")
def fake() -> Iterator[FakeProvider]:
    os.environ[FAKE_KEY_ENV] = "fake-key"
    with FakeProvider(api_key="fake-key") as server:
        yield server


@pytest.fixture(scope="session")
def backup_server(fake: FakeProvider) -> Iterator[FakeProvider]:
    """A second fake upstream, for routing between two providers."""
    with FakeProvider(api_key="fake-key") as server:
        yield server


@pytest.fixture
def backup(backup_server: FakeProvider) -> Iterator[FakeProvider]:
    backup_server.reset()
    yield backup_server
    backup_server.reset()


@pytest.fixture(autouse=True)
def _fresh_fake(request: pytest.FixtureRequest) -> None:
    if "fake" in request.fixturenames:
        request.getfixturevalue("fake").reset()


GatewayFactory = Callable[..., tuple[Gateway, str]]


@pytest.fixture
def make_gateway(tmp_path: Path, fake: FakeProvider) -> Iterator[GatewayFactory]:
    """Start gateways over the fake upstream; each returns (gateway, api key). Stopped at teardown."""
    started: list[Gateway] = []

    def factory(extra_toml: str = "", *, storage_url: str | None = None) -> tuple[Gateway, str]:
        storage = ""
        if storage_url:
            storage = f'[storage]\nurl = "{storage_url}"\nflush_interval_s = 0.05\n\n'
        directory = tmp_path / f"gw{len(started)}"
        path = write_config(directory, storage + fake_providers_toml(fake) + extra_toml)
        key = create_key(path)
        gateway = Gateway(path).start()
        started.append(gateway)
        return gateway, key

    yield factory
    for gateway in started:
        gateway.stop()


@pytest.fixture
def gateway(make_gateway: GatewayFactory) -> tuple[Gateway, str]:
    return make_gateway()


def _reachable_postgres() -> str | None:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=2):
            return None
    except Exception as exc:
        return str(exc)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    problem = _reachable_postgres()
    if problem:
        if REQUIRE_SERVICES:
            pytest.fail(f"PostgreSQL is required (STEWARD_REQUIRE_SERVICES=1): {problem}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {problem}")
    return POSTGRES_URL


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> Iterator[str]:
    """A new, empty database on the PostgreSQL server, dropped after the test."""
    import uuid

    import psycopg

    name = f"steward_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = postgres_url.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _reachable_redis() -> str | None:
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
        try:
            client.ping()
        finally:
            client.close()
        return None
    except Exception as exc:
        return str(exc)


@pytest.fixture(scope="session")
def redis_url() -> str:
    problem = _reachable_redis()
    if problem:
        if REQUIRE_SERVICES:
            pytest.fail(f"Redis is required (STEWARD_REQUIRE_SERVICES=1): {problem}")
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {problem}")
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own on the Redis server; its keys are deleted after."""
    import uuid

    import redis

    prefix = f"steward-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
