"""The fake upstream provider: a real uvicorn server on loopback that speaks OpenAI and Anthropic.

    with FakeProvider() as fake:
        fake.script(Fault(status=429, retry_after=1), Fault(reset=True))
        client = openai.OpenAI(base_url=fake.url + "/v1", api_key=fake.api_key)
        ...  # first call gets a 429, second a TCP reset, later calls behave normally

The server runs in a background thread on its own event loop, so sync and async tests alike
talk to it over real sockets.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Coroutine, Iterator
from types import TracebackType
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Scope

from . import anthropic_routes, openai_routes
from .faults import Fault, FaultGate, Ledger, ReceivedRequest, error_for

_START_TIMEOUT_S = 5.0
_SETTLE_TIMEOUT_S = 2.0


class FakeProvider:
    """A fake OpenAI and Anthropic upstream with scripted faults, served over real HTTP.

    OpenAI clients use `url + "/v1"` as base URL, Anthropic clients use `url`.
    """

    def __init__(self, api_key: str = "fake-key", *, host: str = "127.0.0.1", port: int = 0):
        self.api_key = api_key
        self._host = host
        self._port = port
        self._ledger = Ledger()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeProvider is not running; call start() or use it as a context")
        return f"http://{self._host}:{self._port}"

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every request received since the last reset, oldest first (a snapshot)."""
        return self._ledger.requests

    @property
    def disconnects(self) -> int:
        """Requests whose client went away before the response finished (mostly streams)."""
        return self._ledger.disconnects

    def script(self, *faults: Fault) -> None:
        """Queue faults; each request consumes the next one, in order."""
        self._ledger.script(faults)

    def set_default(self, fault: Fault | None) -> None:
        """The fault applied when the queue is empty (None: behave normally)."""
        self._ledger.set_default(fault)

    def wait_for_disconnects(self, count: int, timeout_s: float = 2.0) -> bool:
        """Block until at least `count` disconnects were seen; False on timeout."""
        return self._ledger.wait_for_disconnects(count, timeout_s)

    def reset(self) -> None:
        """End in-flight responses, then clear the queue, the default, requests and disconnects."""
        if self._loop is not None:
            self._on_loop(self._settle())
        self._ledger.clear()

    def start(self) -> FakeProvider:
        if self._server is not None:
            return self
        # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto
        # says TCP, and without it every keep-alive response waits ~40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._build_app(),
            log_level="warning",
            log_config=None,
            access_log=False,
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=self._run, args=(server, sock), name=f"fake-provider-{self._port}", daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        self._wait_started(server, thread)
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        if self._loop is not None and thread.is_alive():
            self._on_loop(self._settle())
        server.should_exit = True
        thread.join(timeout=_START_TIMEOUT_S)
        self._server = self._thread = self._loop = None

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _build_app(self) -> ASGIApp:
        app = Starlette(
            routes=[*openai_routes.routes(self.api_key), *anthropic_routes.routes(self.api_key)],
            exception_handlers={HTTPException: _http_error},
        )
        return FaultGate(app, self._ledger, self._transport_for)

    def _run(self, server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            with asyncio.Runner() as runner:
                self._loop = runner.get_loop()
                runner.run(server.serve(sockets=[sock]))
        finally:
            sock.close()

    def _wait_started(self, server: uvicorn.Server, thread: threading.Thread) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                self._server = self._thread = None
                raise RuntimeError(f"fake provider did not start on {self._host}:{self._port}")
            time.sleep(0.002)

    def _on_loop(self, work: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(work, self._loop).result(_SETTLE_TIMEOUT_S + 1)

    def _transport_for(self, scope: Scope) -> asyncio.Transport | None:
        assert self._server is not None
        for connection in list(self._server.server_state.connections):
            if getattr(connection, "client", None) == scope.get("client"):
                return getattr(connection, "transport", None)
        return None

    async def _settle(self) -> None:
        """Abort connections with a response in flight and wait for their handlers to finish."""
        assert self._server is not None
        state = self._server.server_state
        for connection in list(state.connections):
            cycle = getattr(connection, "cycle", None)
            if cycle is not None and not cycle.response_complete:
                connection.transport.abort()
        if state.tasks:
            await asyncio.wait(list(state.tasks), timeout=_SETTLE_TIMEOUT_S)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods answer in the wire shape of the endpoint family."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else str(exc)
    return error_for(request.url.path, status, f"{detail}: {request.method} {request.url.path}")


@pytest.fixture(scope="session")
def fake_provider_server() -> Iterator[FakeProvider]:
    """One fake provider for the whole session; prefer `fake_provider`, which resets it."""
    with FakeProvider() as fake:
        yield fake


@pytest.fixture
def fake_provider(fake_provider_server: FakeProvider) -> Iterator[FakeProvider]:
    """The session's fake provider, reset before and after the test."""
    fake_provider_server.reset()
    yield fake_provider_server
    fake_provider_server.reset()
