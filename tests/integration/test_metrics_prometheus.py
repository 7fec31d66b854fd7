"""A real Prometheus scrapes the gateway and answers a query for a Steward metric.

Needs the `prometheus` binary (Debian: `apt-get install prometheus`); skipped when it is absent.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.test_metrics import chat
from tests.servers import Gateway, free_port

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(
    PROMETHEUS is None,
    reason="the prometheus binary is not installed (apt-get install prometheus)",
)
WAIT_S = 30.0


@pytest.fixture
def prometheus(gateway: tuple[Gateway, str], tmp_path: Path) -> Iterator[str]:
    """A Prometheus server scraping the gateway every second; yields its base URL."""
    gw, _ = gateway
    assert PROMETHEUS is not None
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: steward\n    metrics_path: /metrics\n"
        f"    static_configs:\n      - targets: ['{gw.url.removeprefix('http://')}']\n"
    )
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def query(base: str, promql: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.loads(response.read())
    except OSError:  # not listening yet
        return []
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def wait_for(base: str, promql: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        result = query(base, promql)
        if result:
            return result
        time.sleep(0.25)
    pytest.fail(f"Prometheus at {base} returned nothing for {promql} within {WAIT_S} s")


def test_prometheus_scrapes_the_gateway(gateway: tuple[Gateway, str], prometheus: str) -> None:
    gw, key = gateway
    assert chat(gw, key, "gpt") == 200
    assert chat(gw, key, "gpt") == 200
    promql = 'steward_requests_total{model="gpt",status_class="2xx"} == 2'
    [series] = wait_for(prometheus, promql)
    assert series["metric"]["job"] == "steward"
    assert series["metric"]["endpoint"] == "chat"
    assert float(series["value"][1]) == 2
    [up] = wait_for(prometheus, 'up{job="steward"}')
    assert up["value"][1] == "1"
    [closed] = wait_for(prometheus, 'steward_breaker_state{target="up/gpt-test",state="closed"}')
    assert closed["value"][1] == "1"
    [count] = wait_for(prometheus, 'steward_request_duration_seconds_count{model="gpt"}')
    assert count["value"][1] == "2"
