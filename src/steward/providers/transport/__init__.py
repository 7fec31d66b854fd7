"""Steward's upstream HTTP/1.1 client: a keep-alive connection pool over asyncio and httptools."""

from steward.providers.transport.connection import (
    ConnectError,
    ConnectTimeout,
    Disconnected,
    Exchange,
    IdleTimeout,
    MalformedResponse,
    TotalTimeout,
    TransportError,
)
from steward.providers.transport.pool import InvalidURL, Pool

__all__ = [
    "ConnectError",
    "ConnectTimeout",
    "Disconnected",
    "Exchange",
    "IdleTimeout",
    "InvalidURL",
    "MalformedResponse",
    "Pool",
    "TotalTimeout",
    "TransportError",
]
