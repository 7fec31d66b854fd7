"""The one shared upstream HTTP client, and the translation of its errors into Steward's.

Nothing from the transport leaves this module: callers get `ProviderError` subclasses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson

from steward.errors import (
    ProviderError,
    UpstreamConnectionError,
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamTimeoutError,
)
from steward.providers.transport import (
    ConnectError,
    ConnectTimeout,
    Disconnected,
    Exchange,
    IdleTimeout,
    InvalidURL,
    MalformedResponse,
    Pool,
    TotalTimeout,
    TransportError,
)
from steward.types import JSONObject

__all__ = ["HTTPClient", "Timeouts", "UpstreamResponse"]


@dataclass(frozen=True, slots=True)
class Timeouts:
    total_s: float
    connect_s: float
    idle_s: float


class UpstreamResponse:
    """A streaming view of an upstream response that raises only Steward errors."""

    __slots__ = ("_exchange", "_provider", "_timeouts")

    def __init__(self, exchange: Exchange, provider: str, timeouts: Timeouts) -> None:
        self._exchange = exchange
        self._provider = provider
        self._timeouts = timeouts

    @property
    def status(self) -> int:
        return self._exchange.status

    def header(self, name: str) -> str | None:
        return self._exchange.header(name.lower().encode())

    async def json(self) -> JSONObject:
        raw = await self.read()
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise UpstreamProtocolError(
                f"Provider {self._provider} returned a body that is not JSON; "
                "check the provider's base_url points at its API root."
            ) from None
        if not isinstance(data, dict):
            raise UpstreamProtocolError(
                f"Provider {self._provider} returned JSON that is not an object."
            )
        return data

    async def read(self) -> bytes:
        try:
            return await self._exchange.read()
        except TransportError as exc:
            raise translate(exc, self._provider, self._timeouts) from None

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        exchange = self._exchange
        try:
            while data := await exchange.read_chunk():
                yield data
        except TransportError as exc:
            raise translate(exc, self._provider, self._timeouts) from None


class HTTPClient:
    """One connection pool per process, created at startup and shared by every provider."""

    def __init__(self) -> None:
        self._pool: Pool | None = None

    async def start(self) -> None:
        self._pool = Pool(limit=2048, keepalive_s=30.0)

    async def aclose(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    @asynccontextmanager
    async def post(
        self,
        url: str,
        body: JSONObject,
        *,
        headers: dict[str, str],
        provider: str,
        timeouts: Timeouts,
        error_message: Any,
    ) -> AsyncIterator[UpstreamResponse]:
        """POST JSON; raise UpstreamStatusError for error statuses, using `error_message(body)`.

        The connection goes back to the pool when the body was read to its end, or when the
        caller stopped at a stream's last event (the rest of the body is awaited in the
        background, for at most a second). A body abandoned on an error or a disconnect closes
        its connection.
        """
        pool = self._pool
        if pool is None:
            raise ProviderError("The HTTP client is not started; start the runtime first.")
        try:
            exchange = await pool.post(
                url,
                headers,
                orjson.dumps(body),
                connect_s=timeouts.connect_s,
                total_s=timeouts.total_s,
                idle_s=timeouts.idle_s,
            )
        except TransportError as exc:
            raise translate(exc, provider, timeouts) from None
        finished = False
        try:
            wrapped = UpstreamResponse(exchange, provider, timeouts)
            if exchange.status >= 400:
                await _raise_status(wrapped, provider, error_message)
            yield wrapped
            finished = True
        finally:
            pool.release(exchange, reuse=finished or exchange.complete)


async def _raise_status(response: UpstreamResponse, provider: str, error_message: Any) -> None:
    raw = await response.read()
    code = None
    try:
        body = orjson.loads(raw)
        detail = str(error_message(body))
        code = _error_code(body)
    except orjson.JSONDecodeError:
        detail = raw[:200].decode("utf-8", "replace") or "no details"
    error = UpstreamStatusError(
        f"Provider {provider} returned HTTP {response.status}: {detail}",
        upstream_status=response.status,
        code=code,
    )
    error.retry_after = _retry_after(response.header("retry-after"))
    raise error


def _error_code(body: Any) -> str | None:
    """OpenAI's `error.code` (e.g. `context_length_exceeded`), when the body has one."""
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def translate(exc: TransportError, provider: str, timeouts: Timeouts) -> ProviderError:
    """Map a transport error to the Steward error a caller can act on."""
    if isinstance(exc, ConnectTimeout):
        return UpstreamTimeoutError(
            f"Connecting to provider {provider} timed out after {timeouts.connect_s:g} s."
        )
    if isinstance(exc, IdleTimeout):
        return UpstreamTimeoutError(
            f"Provider {provider} sent nothing for {timeouts.idle_s:g} s (stream_idle_timeout_s)."
        )
    if isinstance(exc, TotalTimeout):
        return UpstreamTimeoutError(
            f"Provider {provider} did not finish within {timeouts.total_s:g} s (timeout_s)."
        )
    if isinstance(exc, ConnectError):
        return UpstreamConnectionError(f"Cannot connect to provider {provider}: {exc.os_error}.")
    if isinstance(exc, Disconnected):
        return UpstreamConnectionError(f"Provider {provider} closed the connection unexpectedly.")
    if isinstance(exc, MalformedResponse):
        return UpstreamProtocolError(f"Provider {provider} sent a truncated or malformed body.")
    if isinstance(exc, InvalidURL):
        return UpstreamConnectionError(f"Provider {provider} is misconfigured: {exc}.")
    return UpstreamConnectionError(f"Request to provider {provider} failed: {type(exc).__name__}.")
