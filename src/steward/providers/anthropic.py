"""Anthropic's native Messages API as an upstream, translated to and from the canonical shape."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import AbstractAsyncContextManager

import orjson

from steward.errors import InvalidRequestError, UpstreamProtocolError
from steward.providers.http import HTTPClient, Timeouts, UpstreamResponse
from steward.types import JSONObject, Operation
from steward.wire.anthropic import (
    AnthropicStreamDecoder,
    error_message,
    from_anthropic_response,
    to_anthropic_request,
)
from steward.wire.openai import ChatRequest, EmbeddingRequest
from steward.wire.sse import SSEDecoder


class AnthropicProvider:
    """Chat through `POST /v1/messages`; Anthropic has no embeddings API."""

    def __init__(
        self,
        name: str,
        *,
        base_url: str,
        api_key: str | None,
        http: HTTPClient,
        timeouts: Timeouts,
        anthropic_version: str = "2023-06-01",
        default_max_tokens: int = 4096,
    ) -> None:
        self.name = name
        self._url = base_url.rstrip("/") + "/v1/messages"
        self._api_key = api_key
        self._http = http
        self._timeouts = timeouts
        self._default_max_tokens = default_max_tokens
        self._headers = {
            "content-type": "application/json",
            "anthropic-version": anthropic_version,
        }
        if api_key:
            self._headers["x-api-key"] = api_key

    def available(self) -> str | None:
        if not self._api_key:
            return f"provider {self.name} has no API key (its api_key reference is unset)"
        return None

    def supports(self, operation: Operation) -> bool:
        return operation == "chat"

    async def chat(self, request: ChatRequest, model: str) -> JSONObject:
        body = to_anthropic_request(
            request, model, stream=False, default_max_tokens=self._default_max_tokens
        )
        async with self._post(body) as response:
            return from_anthropic_response(await response.json(), model=model)

    async def chat_stream(
        self, request: ChatRequest, model: str
    ) -> AsyncGenerator[JSONObject, None]:
        body = to_anthropic_request(
            request, model, stream=True, default_max_tokens=self._default_max_tokens
        )
        sse = SSEDecoder()
        translator = AnthropicStreamDecoder(model)
        async with self._post(body) as response:
            async for data in response.iter_chunks():
                for event in sse.feed(data):
                    for chunk in translator.feed(event.event or "", self._decode(event.data)):
                        yield chunk

    async def embed(self, request: EmbeddingRequest, model: str) -> JSONObject:
        raise InvalidRequestError(
            f"Provider {self.name} (Anthropic) has no embeddings API; "
            "point this model at an OpenAI-compatible or local target."
        )

    async def aclose(self) -> None:
        return None

    def _post(self, body: JSONObject) -> AbstractAsyncContextManager[UpstreamResponse]:
        return self._http.post(
            self._url,
            body,
            headers=self._headers,
            provider=self.name,
            timeouts=self._timeouts,
            error_message=error_message,
        )

    def _decode(self, data: str) -> JSONObject:
        try:
            decoded = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise UpstreamProtocolError(
                f"Provider {self.name} sent a stream event that is not JSON."
            ) from None
        if not isinstance(decoded, dict):
            raise UpstreamProtocolError(
                f"Provider {self.name} sent a stream event that is not an object."
            )
        return decoded
