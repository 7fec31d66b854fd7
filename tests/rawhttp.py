"""Raw HTTP requests for tests that must send what no SDK would (bad JSON, huge bodies)."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> RawResponse:
    return request("POST", url, body, headers)


def request(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> RawResponse:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.request(method, parts.path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return RawResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        conn.close()


class Connection:
    """One keep-alive connection for many requests, e.g. thousands in a loop."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._conn = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=10
        )

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self._conn.close()

    def post(self, path: str, body: bytes, key: str | None) -> tuple[int, dict[str, str], bytes]:
        headers = {"content-type": "application/json"}
        return self._send("POST", path, body, headers, key)

    def get(self, path: str, key: str | None) -> tuple[int, dict[str, str], bytes]:
        return self._send("GET", path, None, {}, key)

    def _send(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str], key: str | None
    ) -> tuple[int, dict[str, str], bytes]:
        if key is not None:
            headers = {**headers, "authorization": f"Bearer {key}"}
        self._conn.request(method, path, body=body, headers=headers)
        response = self._conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
