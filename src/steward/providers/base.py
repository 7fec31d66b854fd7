"""The provider protocol: what the routing layer needs from an upstream."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Protocol

from steward.types import JSONObject, Operation
from steward.wire.openai import ChatRequest, EmbeddingRequest


class Provider(Protocol):
    """An upstream model service. Requests and responses are in the canonical (OpenAI) shape.

    Errors are raised as `steward.errors.ProviderError` subclasses; nothing from the HTTP
    library or the inference runtime escapes an implementation.
    """

    name: str

    def available(self) -> str | None:
        """None when usable; otherwise the reason it is not (for example a missing key)."""
        ...

    def supports(self, operation: Operation) -> bool: ...

    async def chat(self, request: ChatRequest, model: str) -> JSONObject:
        """A non-streamed chat completion in OpenAI shape, `usage` included."""
        ...

    def chat_stream(self, request: ChatRequest, model: str) -> AsyncGenerator[JSONObject, None]:
        """OpenAI `chat.completion.chunk` objects; the last carries `usage` when known.

        An async generator: closing it (or cancelling its consumer) must cancel upstream work.
        """
        ...

    async def embed(self, request: EmbeddingRequest, model: str) -> JSONObject:
        """An OpenAI embeddings response (`object: list`, `data`, `usage`)."""
        ...

    async def aclose(self) -> None: ...
