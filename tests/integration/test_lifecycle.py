"""The real `steward` process: init, serve, and a graceful shutdown that finishes streams."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import openai
from tests.conftest import fake_providers_toml
from tests.fakes import FakeProvider, Fault
from tests.servers import free_port, write_config

from steward.config.loading import load_config
from steward.storage import database
from steward.storage.requests import list_records

STEWARD = [sys.executable, "-m", "steward"]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*STEWARD, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    import http.client

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "steward serve exited early"
        conn = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]), timeout=1)
        try:
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.1)
    raise AssertionError("gateway never became ready")


def test_init_writes_a_working_config_and_a_key(tmp_path: Path) -> None:
    result = run_cli("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "steward.toml").exists()
    key = result.stdout.strip().splitlines()[-1].strip()
    assert key.startswith("sk-stw-")
    check = run_cli("config", "check", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert "model assistant: openai/gpt-4o-mini -> local/smollm2" in check.stdout
    again = run_cli("init", cwd=tmp_path)
    assert "exists; keeping it" in again.stdout


def test_config_check_reports_unknown_keys(tmp_path: Path) -> None:
    (tmp_path / "steward.toml").write_text("[server]\nprot = 1\n")
    result = run_cli("config", "check", cwd=tmp_path)
    assert result.returncode == 1
    assert "server.prot: unknown key; did you mean 'port'?" in result.stderr
    assert "steward.toml" in result.stderr


def test_graceful_shutdown_finishes_in_flight_streams(tmp_path: Path, fake: FakeProvider) -> None:
    port = free_port()
    path = write_config(tmp_path, fake_providers_toml(fake), port=port)
    created = run_cli("keys", "create", "--name", "ci", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    env = {**os.environ, "STEWARD_LOGGING__FORMAT": "json"}
    proc = subprocess.Popen([*STEWARD, "serve"], cwd=tmp_path, env=env, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc)
        fake.script(Fault(chunk_delay_s=0.15))
        received: list[str] = []

        def consume() -> None:
            with openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0) as c:
                stream = c.chat.completions.create(
                    model="gpt",
                    messages=[{"role": "user", "content": "a b c d e f g h"}],
                    stream=True,
                )
                received.extend(ch.choices[0].delta.content or "" for ch in stream if ch.choices)

        reader = threading.Thread(target=consume)
        reader.start()
        time.sleep(0.4)
        proc.send_signal(signal.SIGTERM)
        reader.join(timeout=20)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        stderr = proc.stderr.read().decode() if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
    assert "".join(received) == "echo: a b c d e f g h", stderr
    logs = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert any(entry.get("event") == "runtime.stopped" for entry in logs)
    loaded = load_config(path)
    engine = database.make_engine(
        database.normalise_url(loaded.config.storage.url, loaded.base_dir)
    )
    records = list_records(engine, limit=5)
    engine.dispose()
    assert records and records[0].status == 200 and records[0].stream
