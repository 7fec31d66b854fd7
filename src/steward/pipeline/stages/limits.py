"""The limits stage: reserve rate limits and budgets before the call, settle with real usage."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

import structlog

from steward.costs import Pricing
from steward.errors import BudgetExceededError, RateLimitedError
from steward.limits.base import Limiter, Refusal, Reservation
from steward.limits.rules import CallRules, RuleBook
from steward.pipeline.context import CallContext
from steward.pipeline.costing import settle_cost
from steward.pipeline.result import ChatStream, Completion, Result
from steward.pipeline.stage import Next
from steward.wire.openai import usage_from_openai

log = structlog.get_logger("steward.limits")


class LimitsStage:
    """One atomic reservation per call (one Redis round trip with Redis); settling happens
    after the response, off the request's latency."""

    def __init__(
        self, rules: RuleBook, limiter: Limiter, pricing: Pricing, settlements: Settlements
    ) -> None:
        self._rules = rules
        self._limiter = limiter
        self._pricing = pricing
        self._settlements = settlements

    async def __call__(self, ctx: CallContext, call_next: Next) -> Result:
        principal = ctx.principal
        if principal is None or ctx.request is None:
            return await call_next(ctx)
        call = self._rules.for_call(principal, ctx.public_model, ctx.request)
        if call is None:
            return await call_next(ctx)
        outcome = await self._limiter.reserve(call.rules, time.time())
        if isinstance(outcome, Refusal):
            raise refusal_error(outcome)
        try:
            result = await call_next(ctx)
        except BaseException:
            self._settle_later(ctx, call, outcome)
            raise
        if isinstance(result, ChatStream):
            result.on_close(lambda stream, error: self._stream_closed(ctx, call, outcome, stream))
        else:
            if isinstance(result, Completion) and ctx.usage is None:
                ctx.usage = usage_from_openai(result.body.get("usage"))
            self._settle_later(ctx, call, outcome)
        return result

    async def _stream_closed(
        self, ctx: CallContext, call: CallRules, reservation: Reservation, stream: ChatStream
    ) -> None:
        ctx.usage = stream.usage
        self._settle_later(ctx, call, reservation)

    def _settle_later(self, ctx: CallContext, call: CallRules, reservation: Reservation) -> None:
        cost = settle_cost(ctx, self._pricing)
        served_from_cache = ctx.cache in ("hit", "semantic")  # no upstream tokens, no cost
        usage = None if served_from_cache else ctx.total_usage()
        self._settlements.spawn(self._limiter.settle(reservation, call.actual(usage, cost)))


class Settlements:
    """Settlements in flight: run after the response, awaited at shutdown so none is lost."""

    def __init__(self) -> None:
        self._settling: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._settling.add(task)
        task.add_done_callback(self._settled)

    def _settled(self, task: asyncio.Task[None]) -> None:
        self._settling.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("limits.settle_failed", error=repr(task.exception()))

    async def drain(self) -> None:
        """Wait for every pending settlement (at shutdown)."""
        if self._settling:
            await asyncio.gather(*self._settling, return_exceptions=True)


def refusal_error(refusal: Refusal) -> RateLimitedError:
    rule = refusal.rule
    wait = refusal.retry_after_s
    if rule.kind == "rate":
        return RateLimitedError(
            f"Rate limit reached: {rule.label} is {rule.limit:g} and this request needs "
            f"{rule.amount:g} more than is free. Retry after {max(1, round(wait))} s, "
            "or ask an admin to raise the limit.",
            retry_after_s=wait,
        )
    if rule.expires_at is None:
        resets = "It is a total budget and does not reset: ask an admin to raise it."
    else:
        at = datetime.fromtimestamp(rule.expires_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        resets = f"It resets at {at}; ask an admin to raise it, or wait."
    return BudgetExceededError(
        f"Budget exceeded: the {rule.label} has ${refusal.used:.4f} spent or reserved and "
        f"this request could cost up to ${rule.amount:.4f}. {resets}",
        retry_after_s=wait if rule.expires_at is not None else 0.0,
    )
