"""Type aliases and Protocols shared across Steward; nothing here does work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal, Protocol, TypeAlias

JSONObject: TypeAlias = dict[str, Any]
"""A decoded JSON object from a wire format; typed views of it live in `steward.wire`."""

Operation: TypeAlias = Literal["chat", "embeddings"]
Endpoint: TypeAlias = Literal["chat", "messages", "embeddings"]


class Closeable(Protocol):
    async def aclose(self) -> None: ...


class ChunkSource(Protocol):
    def __aiter__(self) -> AsyncIterator[JSONObject]: ...
