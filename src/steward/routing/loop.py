"""The fallback loop: try a public model's targets in the strategy's order until one answers.

Per target: the breaker must allow the attempt; a retryable failure (connection, timeout, 5xx,
429) is retried on the same target after a full-jitter backoff, up to `retries` times, then the
next target is tried; a client error stops at once; a context-length error moves on only to a
target with a larger `context_window`. Every attempt is bounded by the attempt limit and the
call's deadline and lands in `ctx.attempts`. A stream counts as answered once its first chunk
arrived (ProviderCall primes it), so failover ends where the client's first byte begins.

The request path touches memory only: breakers and health sync with Redis in the background.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from steward.config.schema import ModelConfig
from steward.errors import (
    AllTargetsFailedError,
    ClientDisconnectedError,
    NoHealthyTargetError,
    StewardError,
    UpstreamStatusError,
    UpstreamTimeoutError,
)
from steward.pipeline.context import CallContext
from steward.pipeline.result import ChatStream, Result
from steward.pipeline.stage import Next
from steward.routing.attempts import Attempt
from steward.routing.breaker import Breakers
from steward.routing.health import TargetHealth
from steward.routing.limits import CallLimits
from steward.routing.retry import backoff_s, verdict
from steward.routing.strategy import Router
from steward.routing.targets import ModelRoute, ModelTable, Target

if TYPE_CHECKING:
    from steward.observe.tracing import Tracing

__all__ = ["FallbackLoop"]

DEFAULT_POLICY = ModelConfig.model_validate({"targets": ["default/default"]})
"""Retries, backoff and deadlines of a route built without config (tests, defaults)."""


@dataclass(slots=True)
class _Call:
    """One request's pass through the loop."""

    ctx: CallContext
    route: ModelRoute
    policy: ModelConfig
    limits: CallLimits
    call_next: Next
    causes: list[StewardError] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    context_error: StewardError | None = None
    """A context-length error: later targets need a window larger than `min_window`."""
    min_window: int = 0


class FallbackLoop:
    """Runs a call against a route's targets; shared by every request of the process."""

    def __init__(
        self,
        models: ModelTable,
        router: Router,
        breakers: Breakers,
        health: TargetHealth,
        rng: random.Random | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self._models = models
        self._router = router
        self._breakers = breakers
        self._health = health
        self._rng = rng or random.Random()
        self._tracing = tracing if tracing is not None and tracing.enabled else None

    async def run(self, ctx: CallContext, route: ModelRoute, call_next: Next) -> Result:
        policy = route.policy or DEFAULT_POLICY
        call = _Call(ctx, route, policy, CallLimits.for_call(route.policy, ctx.headers), call_next)
        targets = self._router.order(route, ctx.request)
        hedge = policy.hedge and not ctx.stream
        for index, target in enumerate(targets):
            if call.limits.expired():
                break
            if not self._usable(call, target):
                continue
            partner = self._partner(call, targets[index + 1 :]) if hedge else None
            hedge = False
            result = await self._try_target(call, target, partner)
            if result is not None:
                return result
        raise self._failure(call)

    # Choosing targets.

    def _usable(self, call: _Call, target: Target, *, quiet: bool = False) -> bool:
        """Whether the target can take this call at all (breakers are asked per attempt)."""
        provider = self._models.provider(target)
        reason = None
        if not provider.supports(call.ctx.operation):
            reason = f"does not support {call.ctx.operation}"
        elif (unavailable := provider.available()) is not None:
            reason = unavailable
        elif call.context_error is not None and (target.context_window or 0) <= call.min_window:
            reason = "its context window is not larger"
        if reason is not None and not quiet:
            call.skipped.append(f"{target}: {reason}")
        return reason is None

    def _partner(self, call: _Call, rest: Sequence[Target]) -> Target | None:
        return next((t for t in rest if self._usable(call, t, quiet=True)), None)

    # Attempts on one target.

    async def _try_target(
        self, call: _Call, target: Target, partner: Target | None
    ) -> Result | None:
        """The result, or None to move on; raises a client error, which ends the call."""
        name = str(target)
        error: StewardError | None = None
        for retry in range(call.policy.retries + 1):
            if error is not None and not await self._back_off(call, retry, error):
                return None
            if not self._breakers.allow(name):
                call.skipped.append(f"{target}: circuit open")
                return None
            try:
                if partner is not None and retry == 0:
                    return await self._race(call, target, partner)
                return await self._attempt(call, target, call.ctx)
            except StewardError as exc:
                error = exc
            kind = verdict(error)
            if kind == "stop":
                raise error
            if kind == "next":
                return None
            if kind == "larger":
                call.context_error = error
                call.min_window = max(call.min_window, target.context_window or 0)
                return None
            if call.limits.expired():
                return None
        return None

    async def _back_off(self, call: _Call, retry: int, error: StewardError) -> bool:
        """Wait before retry number `retry`; False when the wait does not fit (move on)."""
        policy = call.policy
        wait_s = backoff_s(retry - 1, policy.backoff_base_ms, policy.backoff_max_ms, self._rng)
        retry_after = error.retry_after if isinstance(error, UpstreamStatusError) else None
        if retry_after is not None:
            if retry_after * 1000.0 > policy.backoff_max_ms:
                return False  # the upstream asks for longer than a retry may wait: next target
            wait_s = max(wait_s, retry_after)
        if wait_s >= call.limits.remaining_s():
            return False
        if wait_s > 0:
            await asyncio.sleep(wait_s)
        return True

    async def _attempt(
        self, call: _Call, target: Target, ctx: CallContext, *, hedged: bool = False
    ) -> Result:
        """One try, in a span of its own when the call is traced."""
        trace = self._tracing.current() if self._tracing is not None else None
        if trace is None:
            return await self._attempt_once(call, target, ctx, hedged=hedged)
        span = trace.attempt(ctx, target, hedged=hedged)
        try:
            result = await self._attempt_once(call, target, ctx, hedged=hedged)
        except BaseException as exc:
            span.fail(exc)
            span.end()
            raise
        return span.answered(result)

    async def _attempt_once(
        self, call: _Call, target: Target, ctx: CallContext, *, hedged: bool
    ) -> Result:
        """One try, recorded in attempts, breakers and health; raises its error."""
        name = str(target)
        ctx.target = target
        self._health.started(name)
        began = time.perf_counter()
        timeout_s = call.limits.attempt_timeout()
        timer = _Timer(timeout_s)
        try:
            result = await call.call_next(ctx)
        except asyncio.CancelledError:
            if not timer.expired():
                self._abandoned(call, name, began, hedged)
                raise
            error: StewardError = UpstreamTimeoutError(
                f"{target} did not answer within {timeout_s:.2f} s"
                f" ({_which_limit(call, timeout_s)})."
            )
            self._failed(call, name, began, error, hedged)
            raise error from None
        except StewardError as exc:
            timer.expired()
            self._failed(call, name, began, exc, hedged)
            raise
        except BaseException:
            timer.expired()
            self._abandoned(call, name, began, hedged)
            raise
        timer.expired()
        latency_ms = (time.perf_counter() - began) * 1000.0
        call.ctx.attempts.append(Attempt(name, 200, latency_ms, hedged=hedged))
        if isinstance(result, ChatStream):
            result.on_close(functools.partial(self._stream_closed, name, latency_ms))
        else:
            self._health.finished(name, latency_ms=latency_ms, ok=True)
            self._breakers.record(name, ok=True)
        return result

    def _failed(
        self, call: _Call, name: str, began: float, error: StewardError, hedged: bool
    ) -> None:
        latency_ms = (time.perf_counter() - began) * 1000.0
        status = getattr(error, "upstream_status", error.http_status)
        call.ctx.attempts.append(
            Attempt(name, status, latency_ms, error.error_type, error.message, hedged)
        )
        call.causes.append(error)
        # Only upstream trouble counts against a target; a 400 or a context-length error
        # means the target is up and answering.
        ok = verdict(error) != "retry"
        self._health.finished(name, latency_ms=latency_ms, ok=ok)
        self._breakers.record(name, ok=ok)

    def _abandoned(self, call: _Call, name: str, began: float, hedged: bool) -> None:
        """Cancelled (the client left, or a hedge lost): no verdict on the target."""
        latency_ms = (time.perf_counter() - began) * 1000.0
        call.ctx.attempts.append(
            Attempt(name, 499, latency_ms, "cancelled", "cancelled before it answered", hedged)
        )
        self._health.abandoned(name)
        self._breakers.release(name)

    async def _stream_closed(
        self, name: str, latency_ms: float, stream: ChatStream, error: BaseException | None
    ) -> None:
        if isinstance(error, ClientDisconnectedError):
            self._health.abandoned(name)  # the client left: no verdict on the target
            self._breakers.release(name)
            return
        ok = error is None or (isinstance(error, StewardError) and verdict(error) != "retry")
        self._health.finished(name, latency_ms=latency_ms, ok=ok)
        self._breakers.record(name, ok=ok)

    # Hedging.

    async def _race(self, call: _Call, first: Target, partner: Target) -> Result:
        """Start `partner` too if `first` has not answered within its recent p95."""
        p95 = self._health.latency_ms(str(first), 0.95) or 0.0
        delay_s = max(call.policy.hedge_min_delay_ms, p95) / 1000.0
        copies = [dataclasses.replace(call.ctx), dataclasses.replace(call.ctx)]
        tasks = {asyncio.ensure_future(self._attempt(call, first, copies[0])): copies[0]}
        try:
            done, _ = await asyncio.wait(tasks, timeout=delay_s)
            if not done and self._breakers.allow(str(partner)):
                hedge = self._attempt(call, partner, copies[1], hedged=True)
                tasks[asyncio.ensure_future(hedge)] = copies[1]
            return await self._first_success(call, tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _first_success(
        self, call: _Call, tasks: dict[asyncio.Task[Result], CallContext]
    ) -> Result:
        pending = set(tasks)
        error: BaseException | None = None
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task.exception() is None:
                    call.ctx.target = tasks[task].target
                    return task.result()
                error = error or task.exception()
        assert error is not None
        raise error

    # The outcome when nothing answered.

    def _failure(self, call: _Call) -> StewardError:
        attempts = call.ctx.attempts
        if call.context_error is not None and call.causes[-1] is call.context_error:
            return call.context_error  # no target with a larger window: the caller must shorten
        if not attempts:
            return self._none_tried(call)
        if len(call.causes) == 1 and not call.skipped and not call.limits.expired():
            return call.causes[0]
        tried = "; ".join(a.describe() for a in attempts)
        skipped = f"; skipped {'; '.join(call.skipped)}" if call.skipped else ""
        deadline = " The call's deadline passed." if call.limits.expired() else ""
        return AllTargetsFailedError(
            f"Model '{call.route.name}' could not be served: {len(attempts)} attempt(s) failed"
            f" ({tried}{skipped}).{deadline} Retry later; GET /api/health/targets shows each"
            " target's state.",
            causes=call.causes,
        )

    def _none_tried(self, call: _Call) -> StewardError:
        reasons = "; ".join(call.skipped) or "the call's deadline passed before any attempt"
        error = NoHealthyTargetError(
            f"No target of model '{call.route.name}' can serve {call.ctx.operation} now"
            f" ({reasons}). Check the providers' keys in the environment, GET"
            " /api/health/targets, or add a target."
        )
        waits = [self._breakers.opens_in_s(str(t)) for t in call.route.targets]
        known = [w for w in waits if w is not None]
        if known:
            error.retry_after = min(known)
        return error


class _Timer:
    """Cancels the current task after `timeout_s`: `asyncio.timeout` without its bookkeeping,
    which costs 13 µs per attempt on uvloop against 4 µs for this (docs/performance.md)."""

    __slots__ = ("_fired", "_handle", "_task")

    def __init__(self, timeout_s: float) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._fired = False
        self._handle = asyncio.get_running_loop().call_later(timeout_s, self._fire)

    def _fire(self) -> None:
        self._fired = True
        self._task.cancel()

    def expired(self) -> bool:
        """Stop the timer; True if it fired and its cancellation was the only one pending."""
        self._handle.cancel()
        if not self._fired:
            return False
        return self._task.uncancel() == 0


def _which_limit(call: _Call, timeout_s: float) -> str:
    attempt_s = call.limits.attempt_s
    if attempt_s is not None and timeout_s >= attempt_s:
        return "the attempt limit; x-steward-attempt-timeout-ms or attempt_timeout_s raise it"
    return "the call's deadline; x-steward-deadline-ms or deadline_s raise it"
