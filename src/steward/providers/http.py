"""The one shared upstream HTTP client, and the translation of its exceptions into Steward's.

Nothing from aiohttp leaves this module: callers get `ProviderError` subclasses.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from steward.errors import (
    ProviderError,
    UpstreamConnectionError,
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamTimeoutError,
)
from steward.types import JSONObject

__all__ = ["HTTPClient", "Timeouts", "UpstreamResponse"]


@dataclass(frozen=True, slots=True)
class Timeouts:
    total_s: float
    connect_s: float
    idle_s: float

    @property
    def client(self) -> aiohttp.ClientTimeout:
        return _client_timeout(self.total_s, self.connect_s, self.idle_s)


@functools.lru_cache(maxsize=64)
def _client_timeout(total_s: float, connect_s: float, idle_s: float) -> aiohttp.ClientTimeout:
    """Built once per distinct setting rather than per request."""
    return aiohttp.ClientTimeout(total=total_s, connect=connect_s, sock_read=idle_s)


class UpstreamResponse:
    """A streaming view of an upstream response that raises only Steward errors."""

    __slots__ = ("_provider", "_response", "_timeouts")

    def __init__(self, response: aiohttp.ClientResponse, provider: str, timeouts: Timeouts) -> None:
        self._response = response
        self._provider = provider
        self._timeouts = timeouts

    @property
    def status(self) -> int:
        return self._response.status

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
            return await self._response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise translate(exc, self._provider, self._timeouts) from None

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        try:
            while True:
                data = await self._response.content.readany()
                if not data:
                    return
                yield data
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise translate(exc, self._provider, self._timeouts) from None


class HTTPClient:
    """One aiohttp session per process, created at startup and shared by every provider."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._draining: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=2048, ttl_dns_cache=300, keepalive_timeout=30)
        self._session = aiohttp.ClientSession(
            connector=connector,
            json_serialize=lambda obj: orjson.dumps(obj).decode(),
            auto_decompress=True,
            headers={"user-agent": "steward"},
        )

    async def aclose(self) -> None:
        for task in list(self._draining):
            task.cancel()
        if self._session is not None:
            await self._session.close()
            self._session = None

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
        """POST JSON; raise UpstreamStatusError for error statuses, using `error_message(body)`."""
        if self._session is None:
            raise ProviderError("The HTTP client is not started; start the runtime first.")
        try:
            response = await self._session.post(
                url, data=orjson.dumps(body), headers=headers, timeout=timeouts.client
            )
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise translate(exc, provider, timeouts) from None
        finished = False
        try:
            wrapped = UpstreamResponse(response, provider, timeouts)
            if response.status >= 400:
                await _raise_status(wrapped, provider, error_message, response.headers)
            yield wrapped
            finished = True
        finally:
            self._release(response, reuse=finished)

    def _release(self, response: aiohttp.ClientResponse, *, reuse: bool) -> None:
        """Give the connection back to the pool.

        A stream ends at its `[DONE]` event, often a moment before the end of the HTTP body; the
        rest is drained in the background (so the caller is not delayed) to keep the connection,
        which saves a new TCP (and TLS) handshake per stream. A body abandoned on an error or a
        disconnect closes its connection.
        """
        if not reuse or response.content.at_eof():
            response.release()
            return
        task = asyncio.get_running_loop().create_task(_drain(response))
        self._draining.add(task)
        task.add_done_callback(self._draining.discard)


async def _drain(response: aiohttp.ClientResponse, timeout_s: float = 1.0) -> None:
    try:
        async with asyncio.timeout(timeout_s):
            while await response.content.readany():
                pass
    except (TimeoutError, aiohttp.ClientError):
        pass
    finally:
        response.release()


async def _raise_status(
    response: UpstreamResponse, provider: str, error_message: Any, headers: Any
) -> None:
    raw = await response.read()
    try:
        detail = str(error_message(orjson.loads(raw)))
    except orjson.JSONDecodeError:
        detail = raw[:200].decode("utf-8", "replace") or "no details"
    error = UpstreamStatusError(
        f"Provider {provider} returned HTTP {response.status}: {detail}",
        upstream_status=response.status,
    )
    error.retry_after = _retry_after(headers.get("retry-after"))
    raise error


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def translate(exc: BaseException, provider: str, timeouts: Timeouts) -> ProviderError:
    """Map an aiohttp or timeout exception to the Steward error a caller can act on."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return UpstreamTimeoutError(
            f"Connecting to provider {provider} timed out after {timeouts.connect_s:g} s."
        )
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return UpstreamTimeoutError(
            f"Provider {provider} sent nothing for {timeouts.idle_s:g} s (stream_idle_timeout_s)."
        )
    if isinstance(exc, asyncio.TimeoutError):
        return UpstreamTimeoutError(
            f"Provider {provider} did not finish within {timeouts.total_s:g} s (timeout_s)."
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamConnectionError(f"Cannot connect to provider {provider}: {exc.os_error}.")
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError):
        return UpstreamConnectionError(f"Provider {provider} closed the connection unexpectedly.")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return UpstreamProtocolError(f"Provider {provider} sent a truncated or malformed body.")
    return UpstreamConnectionError(f"Request to provider {provider} failed: {type(exc).__name__}.")
