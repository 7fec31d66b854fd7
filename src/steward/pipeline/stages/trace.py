"""The trace stage: the call's trace id for its log lines, and (tracing on) its request span.

Second in the chain, right after `record`: every other stage's span is a child of the request
span, which ends when the call does or, for a stream, in the stream's finaliser. The record
stage's finaliser runs before this one (finalisers run outermost first), so a stream's usage
and cost are settled when the span reads them.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import structlog

from steward.costs import Pricing
from steward.observe.tracing import Tracing
from steward.pipeline.context import CallContext
from steward.pipeline.costing import settle_cost
from steward.pipeline.result import ChatStream, Completion, Result
from steward.pipeline.stage import Next
from steward.wire.openai import usage_from_openai

if TYPE_CHECKING:
    from steward.observe.otel import RequestTrace


class TraceStage:
    def __init__(self, tracing: Tracing, pricing: Pricing) -> None:
        self._tracing = tracing
        self._pricing = pricing

    async def __call__(self, ctx: CallContext, call_next: Next) -> Result:
        trace = self._tracing.begin(ctx)
        structlog.contextvars.bind_contextvars(trace_id=ctx.trace_id)
        if trace is None:
            return await call_next(ctx)
        token = self._tracing.enter(trace)
        try:
            result = await call_next(ctx)
        except BaseException as exc:
            trace.finish(ctx, None, exc)
            raise
        finally:
            self._tracing.leave(token)
        if isinstance(result, ChatStream):
            trace.facts(result)  # watch the chunks from the first one on
            result.on_close(functools.partial(self._stream_closed, trace, ctx))
            return result
        if isinstance(result, Completion) and ctx.usage is None:
            ctx.usage = usage_from_openai(result.body.get("usage"))
        settle_cost(ctx, self._pricing)
        trace.finish(ctx, result, None)
        return result

    async def _stream_closed(
        self,
        trace: RequestTrace,
        ctx: CallContext,
        stream: ChatStream,
        error: BaseException | None,
    ) -> None:
        ctx.usage = stream.usage
        settle_cost(ctx, self._pricing)
        trace.finish(ctx, stream, error)
