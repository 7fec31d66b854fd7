"""The record stage: turns every call, streamed or not, failed or not, into one request record.

Under a model's `capture` policy it also hands the writer a payload draft: references to the raw
request and the response (or a stream's chunks), sealed later on the writer's thread.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from steward.costs import Pricing
from steward.errors import ClientDisconnectedError, StewardError
from steward.guards.base import decisions_json
from steward.payloads.capture import PayloadCapture, PayloadDraft
from steward.pipeline.context import CallContext
from steward.pipeline.costing import settle_cost
from steward.pipeline.result import ChatStream, Completion, Result
from steward.pipeline.stage import Next
from steward.routing.attempts import attempts_json
from steward.storage.records import RequestRecord
from steward.types import JSONObject
from steward.wire.openai import usage_from_openai


class RecordSink(Protocol):
    def submit(self, record: RequestRecord, payload: PayloadDraft | None = None) -> None: ...


class RecordStage:
    """Outermost stage: submits to the background writer; never waits on the database."""

    def __init__(
        self,
        sink: RecordSink,
        config_hash: str,
        pricing: Pricing,
        capture: PayloadCapture | None = None,
    ) -> None:
        self._sink = sink
        self._config_hash = config_hash
        self._pricing = pricing
        self._capture = capture or PayloadCapture({})

    async def __call__(self, ctx: CallContext, call_next: Next) -> Result:
        try:
            result = await call_next(ctx)
        except StewardError as exc:
            self._submit(ctx, exc)
            raise
        except asyncio.CancelledError:
            self._submit(ctx, ClientDisconnectedError("The client closed the connection."))
            raise
        if isinstance(result, ChatStream):
            ctx.ttft_ms = (result.first_chunk_at - ctx.started) * 1000.0
            chunks: list[JSONObject] | None = None
            if self._capture.policy(ctx.public_model) in ("redacted", "full"):
                chunks = []
                result.observe(chunks.append)
            result.on_close(lambda stream, error: self._stream_closed(ctx, stream, error, chunks))
        elif isinstance(result, Completion):
            if ctx.usage is None:  # the limits stage may have read it already
                ctx.usage = usage_from_openai(result.body.get("usage"))
            self._submit(ctx, None, response=result.body)
        else:
            self._submit(ctx, None)
        return result

    async def _stream_closed(
        self,
        ctx: CallContext,
        stream: ChatStream,
        error: BaseException | None,
        chunks: list[JSONObject] | None,
    ) -> None:
        ctx.usage = stream.usage
        self._submit(ctx, error if isinstance(error, StewardError) else None, chunks=chunks)

    def _submit(
        self,
        ctx: CallContext,
        error: StewardError | None,
        *,
        response: JSONObject | None = None,
        chunks: list[JSONObject] | None = None,
    ) -> None:
        usage = ctx.total_usage()  # re-asks and samples included
        principal = ctx.principal
        policy = self._capture.policy(ctx.public_model)
        record = RequestRecord(
            id=ctx.id,
            created_at=ctx.created_at,
            endpoint=ctx.endpoint,
            status=error.http_status if error else 200,
            latency_ms=round(ctx.elapsed_ms(), 3),
            config_hash=self._config_hash,
            stream=ctx.stream,
            key_id=principal.key_id if principal else None,
            public_model=ctx.public_model,
            target=str(ctx.target) if ctx.target else None,
            error_type=error.error_type if error else None,
            ttft_ms=round(ctx.ttft_ms, 3) if ctx.ttft_ms is not None else None,
            input_tokens=usage.input_tokens if usage else None,
            output_tokens=usage.output_tokens if usage else None,
            attempts=attempts_json(ctx.attempts) if ctx.attempts else None,
            attempt_count=len(ctx.attempts) if ctx.attempts else None,
            cache=ctx.cache,
            cache_similarity=ctx.cache_similarity,
            team_id=principal.team_id if principal else None,
            app_id=principal.app_id if principal else None,
            cost_usd=settle_cost(ctx, self._pricing),
            user=None if policy == "none" else end_user(ctx),
            trace_id=ctx.trace_id,
            prompt_name=ctx.prompt_name,
            prompt_version=ctx.prompt_version,
            guards=decisions_json(ctx.guards) if ctx.guards else None,
            confidence=ctx.confidence,
            escalated=ctx.escalated or None,
        )
        if policy != "redacted" and policy != "full":
            self._sink.submit(record)
            return
        draft = PayloadDraft(
            policy,
            ctx.raw_body,
            response,
            chunks,
            error.error_type if error else None,
            error.message if error else None,
        )
        self._sink.submit(record, draft)


def end_user(ctx: CallContext) -> str | None:
    """`x-steward-user` if sent, else the request's own `user` field (at most 200 characters)."""
    user = ctx.headers.get("x-steward-user") or getattr(ctx.request, "user", None)
    return user[:200] if isinstance(user, str) and user else None
