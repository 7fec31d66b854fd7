"""Two gateway processes sharing Redis see the same breaker state."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests import rawhttp
from tests.conftest import GatewayFactory
from tests.fakes import FakeProvider, Fault
from tests.integration.test_fallback import BREAKER, PAIR, PRIMARY, SECONDARY, USER, routing_toml
from tests.integration.test_lifecycle import STEWARD, wait_ready
from tests.servers import create_key, free_port, write_config

pytestmark = pytest.mark.redis


def shared_toml(backup: FakeProvider, redis_url: str, prefix: str) -> str:
    redis = f'\n[redis]\nurl = "{redis_url}"\nkey_prefix = "{prefix}"\ntimeout_s = 2.0\n'
    cached = '\n[models.cached]\ntargets = ["up/gpt-test"]\ncache = { exact = true }\n'
    return routing_toml(backup, PAIR + cached, BREAKER.replace("open_s = 1", "open_s = 30") + redis)


@pytest.fixture
def second_process(
    tmp_path: Path, fake: FakeProvider, backup: FakeProvider, redis_url: str, redis_prefix: str
) -> Iterator[tuple[str, str]]:
    """`steward serve` in its own process, on its own SQLite, sharing only Redis."""
    from tests.conftest import fake_providers_toml

    port = free_port()
    directory = tmp_path / "replica-b"
    body = fake_providers_toml(fake) + shared_toml(backup, redis_url, redis_prefix)
    path = write_config(directory, body, port=port)
    key = create_key(path, role="admin")
    proc = subprocess.Popen(
        [*STEWARD, "serve", "--config", str(path)],
        cwd=directory,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc)
        yield url, key
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def target_state(url: str, key: str) -> dict[str, Any]:
    with rawhttp.Connection(url) as conn:
        status, _, body = conn.get("/api/health/targets", key)
    assert status == 200
    view: dict[str, Any] = json.loads(body)
    assert view["shared"] is True
    targets: dict[str, Any] = view["targets"]
    return targets


def chat(url: str, key: str, model: str = "pair", **params: Any) -> dict[str, str]:
    body = json.dumps({"model": model, "messages": USER, **params}).encode()
    with rawhttp.Connection(url) as conn:
        status, headers, _ = conn.post("/v1/chat/completions", body, key)
    assert status == 200
    return headers


def test_a_breaker_opened_by_one_replica_is_open_on_another(
    make_gateway: GatewayFactory,
    fake: FakeProvider,
    backup: FakeProvider,
    redis_url: str,
    redis_prefix: str,
    second_process: tuple[str, str],
) -> None:
    gw, _ = make_gateway(shared_toml(backup, redis_url, redis_prefix))
    key_a = gw.admin_key()  # admins may call /v1 and read /api
    url_b, key_b = second_process
    assert target_state(url_b, key_b)[PRIMARY]["state"] == "closed"

    fake.set_default(Fault(status=500))
    for _ in range(4):  # min_requests failures, all through replica A
        assert chat(gw.url, key_a)["x-steward-target"] == SECONDARY
    assert target_state(gw.url, key_a)[PRIMARY]["state"] == "open"

    deadline = time.monotonic() + 5
    while target_state(url_b, key_b)[PRIMARY]["state"] != "open":
        assert time.monotonic() < deadline, "replica B never saw the open breaker"
        time.sleep(0.05)
    seen = len(fake.requests)
    assert chat(url_b, key_b)["x-steward-target"] == SECONDARY
    assert len(fake.requests) == seen  # replica B skipped the primary without trying it


def test_a_served_gateway_caches_answers_in_redis(
    fake: FakeProvider, redis_url: str, redis_prefix: str, second_process: tuple[str, str]
) -> None:
    """A real `steward serve` runs on uvloop: the lean Redis client on the loop it serves with."""
    import redis

    url, key = second_process
    assert chat(url, key, "cached", temperature=0)["x-steward-cache"] == "miss"
    again = chat(url, key, "cached", temperature=0)
    assert again["x-steward-cache"] == "hit" and again["x-steward-target"] == "cache"
    assert len(fake.requests) == 1
    client = redis.Redis.from_url(redis_url)
    try:
        assert len(list(client.scan_iter(match=f"{redis_prefix}cache:answer:*"))) == 1
    finally:
        client.close()
