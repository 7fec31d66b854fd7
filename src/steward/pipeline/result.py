"""What the pipeline returns: a whole response, or a stream with a finaliser."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from steward.types import JSONObject
from steward.wire.openai import TokenUsage, usage_from_openai


@dataclass(slots=True)
class Completion:
    """A non-streamed chat completion in OpenAI shape."""

    body: JSONObject


@dataclass(slots=True)
class Embeddings:
    body: JSONObject


Finaliser = Callable[["ChatStream", BaseException | None], Awaitable[None]]
Observer = Callable[[JSONObject], None]
Rewriter = Callable[[JSONObject], JSONObject]


class ChatStream:
    """Chunks from upstream, primed with the first one so failures surface before any byte is sent.

    Iterating yields chunks in OpenAI shape and notes usage and time to first token. `aclose`
    runs once, whether the stream ended, failed or the client went away, and calls every
    finaliser in reverse order of registration (outer stages first, since they register after
    the inner ones have returned). Observers see every chunk as it passes (the cache assembles
    a streamed answer this way); they must not raise.
    """

    __slots__ = (
        "_closed",
        "_finalisers",
        "_first",
        "_observers",
        "_rest",
        "_rewrites",
        "error",
        "first_chunk_at",
        "usage",
    )

    def __init__(self, first: JSONObject, rest: AsyncIterator[JSONObject]) -> None:
        self._first: JSONObject | None = first
        self._rest = rest
        self._finalisers: list[Finaliser] = []
        self._observers: list[Observer] = []
        self._rewrites: list[Rewriter] = []
        self._closed = False
        self.usage: TokenUsage | None = usage_from_openai(first.get("usage"))
        self.first_chunk_at = time.perf_counter()
        self.error: BaseException | None = None

    def on_close(self, finaliser: Finaliser) -> None:
        self._finalisers.append(finaliser)

    def observe(self, observer: Observer) -> None:
        self._observers.append(observer)

    def rewrite(self, rewriter: Rewriter) -> None:
        """Change each chunk on its way to the client, after every observer has seen it as
        the provider sent it (the PII guard puts real values back this way)."""
        self._rewrites.append(rewriter)

    def __aiter__(self) -> AsyncIterator[JSONObject]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[JSONObject]:
        observers = self._observers
        if self._first is not None:
            first, self._first = self._first, None
            for observe in observers:
                observe(first)
            for rewriter in self._rewrites:
                first = rewriter(first)
            yield first
        rewrites = self._rewrites
        async for chunk in self._rest:
            usage = chunk.get("usage")
            if usage:
                self.usage = usage_from_openai(usage) or self.usage
            if observers:
                for observe in observers:
                    observe(chunk)
            if rewrites:
                for rewriter in rewrites:
                    chunk = rewriter(chunk)
            yield chunk

    async def aclose(self, error: BaseException | None = None) -> None:
        if self._closed:
            return
        self._closed = True
        self.error = error
        closer = getattr(self._rest, "aclose", None)
        try:
            if closer is not None:
                await closer()
        finally:
            for finaliser in reversed(self._finalisers):
                await finaliser(self, error)


Result = Completion | ChatStream | Embeddings
