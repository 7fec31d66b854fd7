"""What a limiter counts: rules (rate limits and budgets), reservations, refusals; the protocol."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

RuleKind = Literal["rate", "budget"]


@dataclass(frozen=True, slots=True)
class Rule:
    """One limit a request counts against, with what this request would reserve.

    A `rate` rule is a sliding window of `window_s` seconds holding at most `limit` units
    (requests or tokens). A `budget` rule is a spend counter in USD for one period, stored under
    `key` (which names the period, e.g. `budget:bud_x:2026-12`), that expires at `expires_at`
    (epoch seconds; None for a total budget); `seed` is the spend the database already knows,
    used when the counter does not exist yet (first use, or after Redis lost it).
    """

    key: str
    """Counter name, unique per limit, e.g. `rate:team:team_x:tpm` or `budget:bud_x:2026-12`."""
    label: str
    """Names the limit for people, e.g. "tokens per minute of team ops"."""
    kind: RuleKind
    limit: float
    amount: float
    """What this request reserves: 1 request, its worst-case tokens, its worst-case cost."""
    window_s: float = 60.0
    seed: float = 0.0
    expires_at: float | None = None


@dataclass(slots=True)
class Reservation:
    """What `reserve` counted, so `settle` can replace it with the real amounts."""

    rules: Sequence[Rule]
    now: float
    """The clock reading the reservation was made at (its window for rate rules)."""
    degraded: bool = False
    """True when the shared backend was unreachable and only this replica counted."""
    settled: bool = field(default=False)


@dataclass(frozen=True, slots=True)
class Refusal:
    """The first rule a request would break, and how long until it would fit."""

    rule: Rule
    retry_after_s: float
    used: float
    """How much of the limit is taken (window count, or spend), before this request."""


class Limiter(Protocol):
    """Counts rules atomically: either every rule takes the request, or none does."""

    async def reserve(self, rules: Sequence[Rule], now: float) -> Reservation | Refusal: ...

    async def settle(self, reservation: Reservation, actual: Mapping[str, float]) -> None:
        """Replace each rule's reserved amount by `actual[rule.key]` (rules absent: unchanged).

        Called once per reservation, after the call (cost and token rules get the real usage;
        0 refunds the whole reservation, e.g. when the call failed)."""
        ...

    async def usage(self, keys: Sequence[str | Rule], now: float) -> dict[str, float]:
        """Current counts of these rules (for reports; not on the request path), by key.

        Pass the `Rule` where you have it: a rate count depends on its window, which a bare
        key does not say (Redis reads a bare key as a budget if one exists, else as a rate
        rule of the default 60 s window)."""
        ...
