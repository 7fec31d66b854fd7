"""An async client of the gateway's `/v1` API over Steward's own HTTP transport.

The evaluation runner, the red-team and the load tester all call the gateway the way an app
does, so every call they make is authenticated, limited, routed, cached and recorded like any
other. Errors come back as `GatewayError` with the gateway's own message and status.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from steward.errors import ProviderError, UpstreamStatusError
from steward.providers.http import HTTPClient, Timeouts
from steward.types import JSONObject

__all__ = ["GatewayClient", "GatewayError", "Reply"]

_KEPT_HEADERS = (
    "x-request-id",
    "x-steward-target",
    "x-steward-cache",
    "x-steward-cache-similarity",
    "x-steward-prompt",
    "x-steward-confidence",
    "x-steward-cost-usd",
)


class GatewayError(Exception):
    """A call the gateway refused or could not serve; `status` 0 means no HTTP answer."""

    def __init__(self, message: str, *, status: int, latency_ms: float) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.latency_ms = latency_ms

    @property
    def retryable(self) -> bool:
        return self.status in (0, 408, 429) or self.status >= 500


@dataclass(frozen=True, slots=True)
class Reply:
    """One answered chat completion."""

    body: JSONObject
    latency_ms: float
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        choices = self.body.get("choices")
        if not isinstance(choices, list) or not choices:
            return ""
        message = choices[0].get("message") if isinstance(choices[0], dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        return content if isinstance(content, str) else ""

    @property
    def input_tokens(self) -> int | None:
        return self._usage("prompt_tokens")

    @property
    def output_tokens(self) -> int | None:
        return self._usage("completion_tokens")

    @property
    def request_id(self) -> str | None:
        return self.headers.get("x-request-id")

    @property
    def cost_usd(self) -> float | None:
        """The call's cost as the gateway priced it (`x-steward-cost-usd`), when it says."""
        value = self.headers.get("x-steward-cost-usd")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None

    @property
    def target(self) -> str | None:
        return self.headers.get("x-steward-target")

    def _usage(self, name: str) -> int | None:
        usage = self.body.get("usage")
        value = usage.get(name) if isinstance(usage, dict) else None
        return value if isinstance(value, int) else None


class GatewayClient:
    """`async with GatewayClient(base_url, api_key) as client: await client.chat({...})`.

    `base_url` is the gateway's root or its `/v1` URL, e.g. `http://127.0.0.1:8787`.
    """

    def __init__(self, base_url: str, api_key: str, *, timeout_s: float = 120.0) -> None:
        root = base_url.rstrip("/")
        self._url = (root if root.endswith("/v1") else root + "/v1") + "/chat/completions"
        self._headers = {"authorization": f"Bearer {api_key}", "content-type": "application/json"}
        self._timeouts = Timeouts(total_s=timeout_s, connect_s=min(10.0, timeout_s), idle_s=timeout_s)
        self._http = HTTPClient()

    async def __aenter__(self) -> GatewayClient:
        await self._http.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._http.aclose()

    async def chat(self, body: JSONObject, *, headers: Mapping[str, str] | None = None) -> Reply:
        """POST a non-streamed chat completion; raise `GatewayError` on any failure."""
        started = time.perf_counter()
        request_headers = {**self._headers, **(headers or {})}
        try:
            async with self._http.post(
                self._url,
                {**body, "stream": False},
                headers=request_headers,
                provider="the gateway",
                timeouts=self._timeouts,
                error_message=_message,
            ) as response:
                data = await response.json()
                kept = {name: value for name in _KEPT_HEADERS if (value := response.header(name))}
        except UpstreamStatusError as exc:
            message = exc.message.replace("Provider the gateway", "The gateway", 1)
            raise GatewayError(
                message, status=exc.upstream_status, latency_ms=_since(started)
            ) from None
        except ProviderError as exc:
            raise GatewayError(exc.message, status=0, latency_ms=_since(started)) from None
        return Reply(body=data, latency_ms=_since(started), headers=kept)


def _message(body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) else "no details"


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
