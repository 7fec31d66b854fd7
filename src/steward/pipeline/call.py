"""The terminal of the chain: call the chosen target's provider."""

from __future__ import annotations

from steward.errors import UpstreamProtocolError
from steward.pipeline.context import CallContext
from steward.pipeline.result import ChatStream, Completion, Embeddings, Result
from steward.routing.targets import ModelTable


class ProviderCall:
    """Calls the provider; a stream is primed with its first chunk so early failures raise here."""

    def __init__(self, models: ModelTable) -> None:
        self._models = models

    async def __call__(self, ctx: CallContext) -> Result:
        if ctx.target is None:
            raise RuntimeError("the route stage must run before the provider call")
        provider = self._models.provider(ctx.target)
        model = ctx.target.model
        if ctx.operation == "embeddings":
            return Embeddings(await provider.embed(ctx.embedding_request(), model))
        request = ctx.chat_request()
        if not request.stream:
            return Completion(await provider.chat(request, model))
        chunks = provider.chat_stream(request, model)
        try:
            first = await anext(chunks)
        except StopAsyncIteration:
            raise UpstreamProtocolError(
                f"Provider {ctx.target.provider} ended the stream before sending anything."
            ) from None
        except BaseException:
            await chunks.aclose()
            raise
        return ChatStream(first, chunks)
