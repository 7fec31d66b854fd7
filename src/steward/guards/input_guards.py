"""The input guards a model's `[models.NAME.guards]` configures, built in the order they run.

`build_input_guards` is the one place a new input guard is added: build it from its table and
append it. A guard that also has `refusal(decision)` words its own block message (`Refusing`);
any other `InputGuard` gets the generic one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from steward.config.guards import GuardsConfig
from steward.guards.base import Decision, InputGuard
from steward.guards.embedding import SharedEncoder

if TYPE_CHECKING:
    from steward.guards.pii.engine import PIIEngine

__all__ = ["Refusing", "build_input_guards", "refusal_message"]


@runtime_checkable
class Refusing(Protocol):
    """An input guard that says, in its block message, what the caller can do."""

    def refusal(self, decision: Decision) -> str: ...


def build_input_guards(
    guards: GuardsConfig, encoder: SharedEncoder, pii: PIIEngine | None = None
) -> list[InputGuard]:
    """The model's input guards: limits first (cheap, and it spares the others a huge request),
    then injection, secrets, PII and topics. Models are loaded at first use, not here; a PII
    guard on a Python without Presidio is a `ConfigError` now, not at the first request."""
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
    if guards.pii is not None:
        require_presidio()
        built.append(PIIGuard(guards.pii, pii if pii is not None else PIIEngine()))
    if guards.topics is not None:
        built.append(TopicsGuard(guards.topics, encoder))
    return built


def refusal_message(guard: InputGuard, decision: Decision) -> str:
    if isinstance(guard, Refusing):
        return guard.refusal(decision)
    return (
        f"The request was blocked by the {guard.name} guard; change the input, or ask the "
        "operator to review the guard's settings."
    )
