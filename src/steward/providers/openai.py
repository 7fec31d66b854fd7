"""OpenAI-compatible upstreams: OpenAI itself and anything that speaks its API (vLLM, Ollama, ...)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import AbstractAsyncContextManager
from typing import Any

import orjson

from steward.errors import UpstreamProtocolError, UpstreamStatusError
from steward.providers.http import HTTPClient, Timeouts, UpstreamResponse
from steward.types import JSONObject, Operation
from steward.wire.openai import ChatRequest, EmbeddingRequest
from steward.wire.sse import SSEDecoder


def error_message(body: Any) -> str:
    """The human message inside an OpenAI error body."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
    return "no message in the error body"


class OpenAIProvider:
    """Chat and embeddings against an OpenAI-compatible base URL."""

    def __init__(
        self, name: str, *, base_url: str, api_key: str | None, http: HTTPClient, timeouts: Timeouts
    ) -> None:
        self.name = name
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._http = http
        self._timeouts = timeouts
        self._headers = {"content-type": "application/json", "accept": "application/json"}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
        self._missing_key = api_key is None and "api.openai.com" in base_url

    def available(self) -> str | None:
        if self._missing_key:
            return f"provider {self.name} has no API key (its api_key reference is unset)"
        return None

    def supports(self, operation: Operation) -> bool:
        return True

    async def chat(self, request: ChatRequest, model: str) -> JSONObject:
        body = request.to_upstream(model, stream=False)
        async with self._post("/chat/completions", body) as response:
            return await response.json()

    async def chat_stream(
        self, request: ChatRequest, model: str
    ) -> AsyncGenerator[JSONObject, None]:
        body = request.to_upstream(model, stream=True)
        decoder = SSEDecoder()
        async with self._post("/chat/completions", body) as response:
            async for data in response.iter_chunks():
                for event in decoder.feed(data):
                    if event.data == "[DONE]":
                        return
                    yield self._decode_chunk(event.data)

    async def embed(self, request: EmbeddingRequest, model: str) -> JSONObject:
        async with self._post("/embeddings", request.to_upstream(model)) as response:
            return await response.json()

    async def aclose(self) -> None:
        return None

    def _post(self, path: str, body: JSONObject) -> AbstractAsyncContextManager[UpstreamResponse]:
        return self._http.post(
            self._base_url + path,
            body,
            headers=self._headers,
            provider=self.name,
            timeouts=self._timeouts,
            error_message=error_message,
        )

    def _decode_chunk(self, data: str) -> JSONObject:
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise UpstreamProtocolError(
                f"Provider {self.name} sent a stream event that is not JSON."
            ) from None
        if not isinstance(chunk, dict):
            raise UpstreamProtocolError(
                f"Provider {self.name} sent a stream event that is not an object."
            )
        if "error" in chunk:
            raise UpstreamStatusError(
                f"Provider {self.name} failed mid-stream: {error_message(chunk)}",
                upstream_status=502,
            )
        return chunk
