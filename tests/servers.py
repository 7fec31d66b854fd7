"""Run a real Steward gateway on loopback for tests: uvicorn in a thread, or a subprocess."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path

import uvicorn

from steward.config.loading import load_config
from steward.runtime import Runtime
from steward.server.app import create_app
from steward.storage import database, keys


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(directory: Path, body: str, *, port: int | None = None) -> Path:
    """A steward.toml in `directory`; [server] and [storage] default to loopback and SQLite."""
    directory.mkdir(parents=True, exist_ok=True)
    head = ""
    if "[server]" not in body:
        head += f'[server]\nhost = "127.0.0.1"\nport = {port or free_port()}\n\n'
    if "[storage]" not in body:
        head += '[storage]\nurl = "sqlite:///steward.db"\nflush_interval_s = 0.05\n\n'
    path = directory / "steward.toml"
    path.write_text(head + body)
    return path


def create_key(config_path: Path, name: str = "test", role: str = "app") -> str:
    loaded = load_config(config_path, environ={})
    engine = database.make_engine(
        database.normalise_url(loaded.config.storage.url, loaded.base_dir)
    )
    database.upgrade(engine)
    _, secret = keys.create_key(engine, name=name, role=role)
    engine.dispose()
    return secret


class Gateway:
    """A gateway serving the app in-process on a background thread, over real HTTP."""

    def __init__(self, config_path: Path) -> None:
        self.loaded = load_config(config_path)
        self.runtime = Runtime.build(self.loaded)
        port = self.loaded.config.server.port
        self.url = f"http://127.0.0.1:{port}"
        self._server = uvicorn.Server(
            uvicorn.Config(
                create_app(self.runtime),
                host="127.0.0.1",
                port=port,
                log_level="warning",
                timeout_graceful_shutdown=5,
            )
        )
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self._server.serve())

    def start(self) -> Gateway:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("gateway did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)

    def in_flight(self) -> int:
        """Requests the server is still handling (uvicorn's open tasks)."""
        return len(self._server.server_state.tasks)

    def flush(self) -> None:
        self.runtime.writer.flush(timeout_s=5)

    def admin_key(self, role: str = "admin", **owner: str) -> str:
        """A person's key (for /api), known to the gateway at once."""
        _, secret = keys.create_key(self.runtime.engine, name=role, role=role, **owner)
        self.runtime.refresher.refresh()
        return secret
