"""The input guard stage: runs the guards a public model configures on the request, before
limits, the cache and the model.

Guards run one after another, in `build_input_guards` order, each on the text the previous
ones left (a masked secret is not seen again by the injection guard; a stripped sentence is
not sent to the topic guard). Their heavy parts, the MiniLM encode (shared through one
`SharedEncoder`) and Presidio, are prefetched in worker threads when the chain reaches the first
guard that has one, so they overlap each other and the heuristics. A block stops the chain at
once; every decision made is on `ctx.guards`, and the replacements of `strip` and `mask` are
written into the request before the next stage sees it.

With `[models.NAME.guards] overlap`, the guards that only block or flag (`overlappable`) decide
after the call has started, on the text as received (`_overlapped`); the rest decide first.

An injection guard with a judge asks its model through `judge_asker`: the question runs down the
rest of the chain (limits onward) as a call of its own to the judge model, uncached and outside
the caller's rate limits, and the tokens it spent go on `ctx.spent`, so the request judged is
charged for them (on its record, its cost and its budgets).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass

from steward.config.schema import StewardConfig
from steward.errors import GuardBlockedError, UpstreamProtocolError
from steward.guards.base import ASK, Ask, GuardInput, InputGuard, InputVerdict
from steward.guards.embedding import SharedEncoder
from steward.guards.input_guards import build_input_guards, refusal_message, verdicts
from steward.guards.messages import apply_replacements, guard_inputs
from steward.guards.pii.engine import PIIEngine
from steward.guards.pii.restore import restore_completion, stream_rewriter
from steward.pipeline.context import CallContext
from steward.pipeline.result import ChatStream, Completion, Result
from steward.pipeline.stage import Next
from steward.types import JSONObject
from steward.wire.openai import ChatRequest, usage_from_openai

__all__ = ["InputGuardStage"]


@dataclass(frozen=True, slots=True)
class _ModelGuards:
    first: Sequence[InputGuard]
    """Guards that decide before the upstream call starts, in order."""
    overlapped: Sequence[InputGuard] = ()
    """With `overlap`: guards that decide while it runs, on the text as received."""


def _split(guards: Sequence[InputGuard], overlap: bool) -> _ModelGuards:
    if not overlap:
        return _ModelGuards(guards)
    later = [g for g in guards if getattr(g, "overlappable", False)]
    return _ModelGuards([g for g in guards if g not in later], later)


class InputGuardStage:
    def __init__(self, config: StewardConfig, encoder: SharedEncoder | None = None) -> None:
        encoder = encoder if encoder is not None else SharedEncoder()
        pii = PIIEngine()  # loads nothing until a PII guard's first call
        self._models: Mapping[str, _ModelGuards] = {
            name: _split(build_input_guards(model.guards, encoder, pii), model.guards.overlap)
            for name, model in config.models.items()
            if model.guards is not None and model.guards.has_input_guards()
        }

    async def __call__(self, ctx: CallContext, call_next: Next) -> Result:
        guards = self._models.get(ctx.public_model) if ctx.public_model else None
        if guards is None or not isinstance(ctx.request, ChatRequest):
            return await call_next(ctx)
        token = ASK.set(judge_asker(ctx, call_next))
        try:
            original = guard_inputs(ctx.request)
            await self._check(ctx, ctx.request, guards.first, original)
        finally:
            ASK.reset(token)
        if guards.overlapped:
            result = await _overlapped(ctx, call_next(ctx), guards.overlapped, original)
        else:
            result = await call_next(ctx)
        if ctx.pseudonyms:
            # The model saw `<PERSON_1>`; the caller gets the real value back.
            if isinstance(result, Completion):
                restore_completion(result.body, ctx.pseudonyms)
            elif isinstance(result, ChatStream):
                result.rewrite(stream_rewriter(ctx.pseudonyms))
        return result

    async def _check(
        self,
        ctx: CallContext,
        request: ChatRequest,
        guards: Sequence[InputGuard],
        inputs: list[GuardInput],
    ) -> None:
        replaced: dict[int, str] = {}
        async for guard, verdict in verdicts(guards, inputs):
            _decided(ctx, guard, verdict)
            if verdict.pseudonyms:
                ctx.pseudonyms.update(verdict.pseudonyms)
            if verdict.replacements:
                replaced.update(verdict.replacements)
        if replaced:
            apply_replacements(request, replaced)


def judge_asker(ctx: CallContext, call_next: Next) -> Ask:
    """Runs a judge's question to its model down the rest of the chain, charged to `ctx`."""

    async def ask(request: ChatRequest) -> JSONObject:
        call = dataclasses.replace(
            ctx,
            request=request,
            public_model=request.model,
            principal=None,  # outside the caller's rate limits: its tokens are charged below
            headers={"cache-control": "no-store"},
            target=None,
            stream=False,
            usage=None,
            spent=[],
            response_headers={},
            attempts=[],
            guards=[],
            pseudonyms={},
            error=None,
        )
        result = await call_next(call)
        if not isinstance(result, Completion):
            raise UpstreamProtocolError("the injection judge's model did not return a completion")
        usage = usage_from_openai(result.body.get("usage"))
        if usage is not None and call.target is not None:
            ctx.spent.append((call.target, usage))
        ctx.spent.extend(call.spent)
        return result.body

    return ask


def _decided(ctx: CallContext, guard: InputGuard, verdict: InputVerdict) -> None:
    """Notes the decision; raises for a block."""
    ctx.guards.append(verdict.decision)
    if verdict.decision.action == "block":
        message = verdict.message or refusal_message(guard, verdict.decision)
        raise GuardBlockedError(guard.name, message)


async def _overlapped(
    ctx: CallContext,
    upstream: Awaitable[Result],
    guards: Sequence[InputGuard],
    inputs: list[GuardInput],
) -> Result:
    """The guards decide while the upstream call runs; its result is returned only once they
    have all let the request through, and a block cancels it (or closes its stream). Their
    encode starts only now, not beside the guards before the call: it would slow those down
    (PII's analysis took 15-18 ms instead of 6.5 with the encode beside it), and they are
    what the call waits for."""
    call = asyncio.ensure_future(upstream)
    try:
        await asyncio.sleep(0)  # the call runs to its first wait (the request sent) first
        for guard in guards:
            _decided(ctx, guard, await guard.check(inputs))
    except BaseException:
        call.cancel()
        try:
            result = await call
        except BaseException:  # cancelled, or failed on its own: nothing to close
            pass
        else:
            if isinstance(result, ChatStream):
                await result.aclose()
        raise
    return await call
