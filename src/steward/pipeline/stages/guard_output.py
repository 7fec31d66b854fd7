"""The output guard stage: after `route`, once per attempt, it checks the answer a target gave
(schema, leaks, refusals), scores its confidence and escalates what it cannot vouch for.

Per attempt, for a model with `[models.NAME.guards.output]`:
1. The target is asked for a whole answer (`OutputGuards.upstream`: never streamed, logprobs
   when the confidence uses them, the canary in the system message when it is on).
2. With a schema (the model's, else the request's `response_format`) the answer is repaired
   and validated; an invalid one is re-asked with the validation errors, up to
   `reask_attempts` times; still invalid, `OutputGuardError` sends the loop to the next target.
3. PII, canary and refusals are scanned (`block` raises `GuardBlockedError`).
4. `samples` extra answers are drawn for self-consistency; the confidence is computed
   (`guards/output/confidence.py`), put on `ctx.confidence` and `x-steward-confidence`.
5. Below `escalate_below`, or when a guard said `escalate`, an escalation item is handed to the
   background writer, and the caller gets `fallback_answer` (or the answer) with
   `x-steward-escalated: true`.
A streamed request is answered from the checked whole answer, replayed as chunks: the first
byte waits for the whole answer, which is the price of never streaming what fails a check.
Re-asks and samples run inside the attempt, under its timeout, on the same target. Every answer
paid for and not returned (the re-asked, the samples, one turned down) goes on `ctx.spent`, so
its tokens and cost count on the record and against limits and budgets.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Protocol

from steward.cache.streams import replay_chunks, replay_rest
from steward.config.schema import StewardConfig
from steward.errors import ConfigError, GuardBlockedError, OutputGuardError, StewardError
from steward.guards.base import Decision
from steward.guards.output.answers import (
    contents,
    derive,
    messages_of,
    reask_messages,
    with_content,
    with_fallback,
    without_logprobs,
)
from steward.guards.output.confidence import (
    SchemaState,
    Signals,
    agreement,
    confidence,
    token_logprobs,
    token_probability,
)
from steward.guards.output.escalation import EscalationItem, escalation_item
from steward.guards.output.leaks import Canary, pii_redactor
from steward.guards.output.model import OutputGuards
from steward.guards.output.schema import SchemaCheck
from steward.pipeline.context import CallContext
from steward.pipeline.result import ChatStream, Completion, Result
from steward.pipeline.stage import Next
from steward.types import JSONObject
from steward.wire.openai import ChatRequest, usage_from_openai

__all__ = ["EscalationSink", "OutputGuardStage"]


class EscalationSink(Protocol):
    def submit(self, item: EscalationItem) -> None: ...


class OutputGuardStage:
    def __init__(
        self,
        config: StewardConfig,
        *,
        base_dir: Path | None = None,
        escalations: EscalationSink | None = None,
    ) -> None:
        canary, redactor = Canary(), pii_redactor()
        self._models = {
            name: OutputGuards(
                name,
                model.guards.output,
                base_dir=base_dir or Path.cwd(),
                canary=canary,
                redactor=redactor,
            )
            for name, model in config.models.items()
            if model.guards is not None and model.guards.output is not None
        }
        escalating = [n for n, g in self._models.items() if g.config.can_escalate()]
        if escalating and escalations is None:
            raise ConfigError(f"models {', '.join(escalating)} escalate, but nothing stores it")
        self._escalations = escalations

    async def __call__(self, ctx: CallContext, call_next: Next) -> Result:
        guards = self._models.get(ctx.public_model or "")
        if guards is None or not isinstance(ctx.request, ChatRequest):
            return await call_next(ctx)
        return await _GuardedCall(ctx, call_next, guards, self._escalations).run()


class _GuardedCall:
    """One attempt through the output guards."""

    def __init__(
        self,
        ctx: CallContext,
        call_next: Next,
        guards: OutputGuards,
        escalations: EscalationSink | None,
    ) -> None:
        self.ctx = ctx
        self.call_next = call_next
        self.guards = guards
        self.escalations = escalations
        self.request = ctx.chat_request()
        self.upstream = guards.upstream(self.request)
        self.decisions: list[Decision] = []
        self.answer: JSONObject | None = None
        """The latest upstream answer, before repair: what the caller gets unless a re-ask
        replaces it or a guard turns it down."""

    def _spend(self, body: JSONObject | None) -> None:
        """An upstream answer that was paid for and is not the one returned (`ctx.spent`)."""
        usage = usage_from_openai(body.get("usage")) if body is not None else None
        if usage is not None and self.ctx.target is not None:
            self.ctx.spent.append((self.ctx.target, usage))

    async def run(self) -> Result:
        try:
            first = await self.call_next(dataclasses.replace(self.ctx, request=self.upstream))
            if not isinstance(first, Completion):
                return first  # not a chat completion: nothing to check
            self.answer = first.body
            body, schema = await self._validated(first.body)
            scan = self.guards.scan(body, self.request)
        except BaseException as exc:
            if isinstance(exc, GuardBlockedError):
                self.decisions.append(Decision(exc.guard, "block"))
            self._spend(self.answer)  # paid for, and the caller will not get it
            raise
        finally:
            self.ctx.guards.extend(self.decisions)
            self.decisions = []
        self.decisions = scan.decisions
        signals = Signals(
            token_probability=token_probability(token_logprobs(body)),
            agreement=await self._agreement(scan.body),
            schema=schema,
            refusal=scan.refusal,
            leak=scan.leak,
        )
        answer = self._conclude(scan.body, body, signals)
        self.ctx.guards.extend(self.decisions)
        if not self.request.logprobs:
            answer = without_logprobs(answer)
        if self.request.stream:
            chunks = replay_chunks(answer)
            return ChatStream(chunks[0], replay_rest(chunks[1:]))
        return Completion(answer)

    async def _ask(self, request: ChatRequest) -> JSONObject | None:
        result = await self.call_next(dataclasses.replace(self.ctx, request=request))
        return result.body if isinstance(result, Completion) else None

    async def _validated(self, body: JSONObject) -> tuple[JSONObject, SchemaState]:
        """The answer, repaired if needed, valid against the schema; raises `OutputGuardError`."""
        check, skipped = self.guards.schema_check(self.request)
        if skipped is not None:
            self.decisions.append(skipped)
        if check is None:
            return body, "none"
        began = time.perf_counter()
        reasks = self.guards.config.reask_attempts
        for attempt in range(reasks + 1):
            fixed, failure, fixes = _check_choices(check, body)
            if failure is None:
                return self._valid(fixed, attempt, fixes, began)
            position, errors = failure
            if attempt == reasks:
                break
            answer = contents(body)[position][1]
            messages = reask_messages(messages_of(self.upstream), answer, errors)
            asked = await self._ask(derive(self.upstream, messages=messages))
            if asked is not None:
                self._spend(body)
                body = self.answer = asked
        latency_ms = (time.perf_counter() - began) * 1000.0
        self.decisions.append(Decision("schema", "block", None, latency_ms, "; ".join(errors)))
        target = self.ctx.target
        raise OutputGuardError(
            "schema",
            f"The answer of {target} failed the output guard 'schema' after {reasks} re-ask(s):"
            f" {errors[0]}. Check the schema and the prompt, or add a target.",
        )

    def _valid(
        self, body: JSONObject, reasks: int, fixes: tuple[str, ...], began: float
    ) -> tuple[JSONObject, SchemaState]:
        latency_ms = (time.perf_counter() - began) * 1000.0
        if fixes:
            repaired = ",".join(fixes)
            self.decisions.append(Decision("schema", "repair", None, latency_ms, repaired))
        else:
            detail = f"valid after {reasks} re-ask(s)" if reasks else None
            self.decisions.append(Decision("schema", "allow", None, latency_ms, detail))
        state: SchemaState = "reasked" if reasks else "repaired" if fixes else "valid"
        return body, state

    async def _agreement(self, body: JSONObject) -> float | None:
        """Self-consistency: the share of extra answers equal to this one (failures ignored)."""
        settings = self.guards.config.confidence
        texts = contents(body)
        if settings.samples == 0 or not texts:
            return None
        sample = derive(self.upstream, temperature=settings.sample_temperature, logprobs=None)
        asked = [self._ask(sample) for _ in range(settings.samples)]
        results = await asyncio.gather(*asked, return_exceptions=True)
        for paid in results:
            if isinstance(paid, dict):
                self._spend(paid)
        answers = [contents(r)[0][1] for r in results if isinstance(r, dict) and contents(r)]
        for error in results:
            if isinstance(error, BaseException) and not isinstance(error, StewardError):
                raise error
        return agreement(texts[0][1], answers)

    def _conclude(self, answer: JSONObject, given: JSONObject, signals: Signals) -> JSONObject:
        """Score the answer, escalate it if it must be, and return what the caller gets."""
        ctx, config = self.ctx, self.guards.config
        ctx.confidence = score = confidence(signals)
        ctx.response_headers["x-steward-confidence"] = f"{score:.4f}"
        reason = None
        if any(d.action == "escalate" for d in self.decisions):
            reason = "guard"
        elif config.escalate_below is not None and score < config.escalate_below:
            reason = "low_confidence"
        if reason is None or self.escalations is None:
            return answer
        scores = {**dataclasses.asdict(signals), "confidence": score}
        decisions = [*ctx.guards, *self.decisions]
        self.escalations.submit(escalation_item(ctx, given, reason, scores, decisions))
        ctx.escalated = True
        ctx.response_headers["x-steward-escalated"] = "true"
        self.decisions.append(Decision("escalation", "escalate", score, 0.0, reason))
        if config.fallback_answer is not None:
            return with_fallback(answer, config.fallback_answer)
        return answer


def _check_choices(
    check: SchemaCheck, body: JSONObject
) -> tuple[JSONObject, tuple[int, tuple[str, ...]] | None, tuple[str, ...]]:
    """(the body with repaired texts, the first invalid choice and its errors, the fixes)."""
    fixes: list[str] = []
    for position, text in contents(body):
        outcome = check.check(text)
        if not outcome.valid:
            return body, (position, outcome.errors), ()
        if outcome.fixes:
            body = with_content(body, position, outcome.text)
            fixes += [f for f in outcome.fixes if f not in fixes]
    return body, None, tuple(fixes)
