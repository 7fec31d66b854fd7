"""The input guards a model's `[models.NAME.guards]` configures, built in the order they run.

`build_input_guards` is the one place a new input guard is added: build it from its table and
append it. A guard that also has `refusal(decision)` words its own block message (`Refusing`);
any other `InputGuard` gets the generic one. A guard whose heavy part runs in a worker thread
(the MiniLM encode, Presidio) has `prefetch(inputs)` (`Prefetching`): `verdicts` starts it early,
so the encode on one core overlaps the heuristics and PII on the other.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from steward.config.guards import GuardsConfig
from steward.guards.base import Decision, GuardInput, InputGuard, InputVerdict
from steward.guards.embedding import SharedEncoder

if TYPE_CHECKING:
    from steward.guards.pii.engine import PIIEngine

__all__ = ["Prefetching", "Refusing", "build_input_guards", "refusal_message", "verdicts"]


@runtime_checkable
class Refusing(Protocol):
    """An input guard that says, in its block message, what the caller can do."""

    def refusal(self, decision: Decision) -> str: ...


@runtime_checkable
class Prefetching(Protocol):
    """An input guard whose costly part can start before its turn: `prefetch` computes what
    `check` will need for these inputs (into a memo or an in-flight future `check` joins). If an
    earlier guard changes the text, `check` sees other text and computes afresh: order holds."""

    async def prefetch(self, inputs: Sequence[GuardInput]) -> None: ...


def build_input_guards(
    guards: GuardsConfig, encoder: SharedEncoder, pii: PIIEngine | None = None
) -> list[InputGuard]:
    """The model's input guards: limits first (cheap, and it spares the others a huge request),
    then injection, secrets, topics and PII (topics on the text the injection guard encoded,
    not a pseudonymised copy: one encode for both; docs/guardrails.md). Models are loaded at
    first use, not here; a PII guard on a Python without Presidio is a `ConfigError` now, not at the first request."""
    from steward.guards.injection import InjectionGuard
    from steward.guards.limits import LimitsGuard
    from steward.guards.pii import PIIGuard
    from steward.guards.pii.engine import PIIEngine, require_presidio
    from steward.guards.secrets import SecretsGuard
    from steward.guards.topics import TopicsGuard

    built: list[InputGuard] = []
    if guards.limits is not None:
        built.append(LimitsGuard(guards.limits))
    if guards.injection is not None:
        built.append(InjectionGuard(guards.injection, encoder))
    if guards.secrets is not None:
        built.append(SecretsGuard(guards.secrets))
    if guards.topics is not None:
        built.append(TopicsGuard(guards.topics, encoder))
    if guards.pii is not None:
        require_presidio()
        built.append(PIIGuard(guards.pii, pii if pii is not None else PIIEngine()))
    return built


def refusal_message(guard: InputGuard, decision: Decision) -> str:
    if isinstance(guard, Refusing):
        return guard.refusal(decision)
    return (
        f"The request was blocked by the {guard.name} guard; change the input, or ask the "
        "operator to review the guard's settings."
    )


async def verdicts(
    guards: Sequence[InputGuard], inputs: list[GuardInput]
) -> AsyncIterator[tuple[InputGuard, InputVerdict]]:
    """Each guard's verdict in order, each guard on the text the previous ones left. The
    prefetches start when the first prefetching guard is reached, so the cheap guards before it
    (limits) turn a huge request away before any encode begins."""
    started = False
    for n, guard in enumerate(guards):
        if not started and isinstance(guard, Prefetching):
            started = True
            for later in guards[n:]:
                if isinstance(later, Prefetching):
                    task = asyncio.ensure_future(later.prefetch(inputs))
                    task.add_done_callback(_retrieved)
            # Let each prefetch run to its first await, which hands its work to a thread:
            # otherwise they would start only when this guard's `check` first awaits, after
            # its synchronous part (the injection heuristics: 2-4 ms for 1,000 characters).
            await asyncio.sleep(0)
        verdict = await guard.check(inputs)
        yield guard, verdict
        if verdict.replacements:
            inputs = _with_text(inputs, verdict.replacements)


def _retrieved(task: asyncio.Future[None]) -> None:
    """A prefetch's failure is `check`'s to report (it computes again); none is left unread."""
    if not task.cancelled():
        task.exception()


def _with_text(inputs: list[GuardInput], replacements: Mapping[int, str]) -> list[GuardInput]:
    return [
        GuardInput(i.message_index, i.role, replacements[i.message_index], i.source)
        if i.message_index in replacements
        else i
        for i in inputs
    ]
