"""A webhook receiver on loopback: a threaded `http.server` that keeps every POST it gets."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class Delivery:
    path: str
    body: dict[str, Any]
    content_type: str


class WebhookReceiver:
    """`url(path)` to post to; `deliveries` in arrival order. `fail_next(n)` answers the next
    `n` posts with 500, to exercise retries."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.attempts = 0
        self._failures = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length)
                with receiver._lock:
                    receiver.attempts += 1
                    failing = receiver._failures > 0
                    if failing:
                        receiver._failures -= 1
                    else:
                        receiver.deliveries.append(
                            Delivery(self.path, json.loads(raw), self.headers["content-type"])
                        )
                self.send_response(500 if failing else 200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def fail_next(self, count: int) -> None:
        with self._lock:
            self._failures = count

    def bodies(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return [d.body for d in self.deliveries if d.path == path]

    def wait_for(self, count: int, timeout_s: float = 5.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.deliveries) < count and time.monotonic() < deadline:
            time.sleep(0.01)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
