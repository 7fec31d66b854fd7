"""Budgets in memory: which apply to a call, their current period, and the counter rule each
becomes; soft thresholds are checked against the spend the database reports."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from steward.auth.keyring import Principal
from steward.limits.base import Rule
from steward.storage.budgets import BudgetRow

__all__ = [
    "BudgetBook",
    "Crossing",
    "PeriodWindow",
    "ThresholdWatch",
    "budget_label",
    "budget_rule",
    "period_of",
]

log = structlog.get_logger("steward.limits")


@dataclass(frozen=True, slots=True)
class PeriodWindow:
    key: str
    """Names the period in counter keys: `2026-12-02`, `2026-12` or `total`."""
    starts: datetime | None
    ends: datetime | None


def period_of(period: str, now: datetime) -> PeriodWindow:
    """The UTC day or calendar month containing `now`, or all time."""
    now = now.astimezone(UTC)
    if period == "daily":
        starts = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return PeriodWindow(starts.strftime("%Y-%m-%d"), starts, starts + timedelta(days=1))
    if period == "monthly":
        starts = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        ends = (starts + timedelta(days=32)).replace(day=1)
        return PeriodWindow(starts.strftime("%Y-%m"), starts, ends)
    return PeriodWindow("total", None, None)


def budget_rule(row: BudgetRow, amount_usd: float, seed_usd: float, now: datetime) -> Rule:
    window = period_of(row.period, now)
    return Rule(
        key=f"budget:{row.id}:{window.key}",
        label=budget_label(row),
        kind="budget",
        limit=row.limit_usd,
        amount=amount_usd,
        seed=seed_usd,
        expires_at=window.ends.timestamp() if window.ends else None,
    )


def budget_label(row: BudgetRow) -> str:
    return f"{row.period} budget {row.id} of {row.scope} {row.scope_id} (${row.limit_usd:.2f})"


@dataclass(frozen=True, slots=True)
class _Current:
    """One budget's rule fields for the period in progress; valid until `until` (epoch s)."""

    key: str
    label: str
    seed: float
    expires_at: float | None
    until: float


class BudgetBook:
    """Budgets indexed by what they limit; replaced whole on every refresh, read lock-free."""

    def __init__(
        self, rows: Iterable[BudgetRow], spent: Mapping[str, float], loaded_at: datetime
    ) -> None:
        self.rows = list(rows)
        self._spent = dict(spent)
        self._periods = {r.id: period_of(r.period, loaded_at).key for r in self.rows}
        self._index: dict[tuple[str, str], list[BudgetRow]] = {}
        for row in self.rows:
            self._index.setdefault((row.scope, row.scope_id), []).append(row)
        self._current: dict[str, _Current] = {}

    @classmethod
    def empty(cls) -> BudgetBook:
        return cls((), {}, datetime.now(UTC))

    def __bool__(self) -> bool:
        return bool(self.rows)

    def applicable(self, principal: Principal, public_model: str | None) -> list[BudgetRow]:
        index = self._index
        found = list(index.get(("key", principal.key_id), ()))
        if principal.app_id:
            found += index.get(("app", principal.app_id), ())
        if principal.team_id:
            found += index.get(("team", principal.team_id), ())
        if public_model:
            found += [
                b
                for b in index.get(("model", public_model), ())
                if b.team_id is None or b.team_id == principal.team_id
            ]
        return found

    def rules(self, budgets: Sequence[BudgetRow], amount_usd: float, now_s: float) -> list[Rule]:
        """Rules for these budgets at `now_s` (epoch s); the period's key, label and seed are
        worked out once per period, not per call."""
        rules = []
        for row in budgets:
            current = self._current.get(row.id)
            if current is None or now_s >= current.until:
                current = self._enter_period(row, now_s)
            rules.append(
                Rule(
                    current.key,
                    current.label,
                    "budget",
                    row.limit_usd,
                    amount_usd,
                    seed=current.seed,
                    expires_at=current.expires_at,
                )
            )
        return rules

    def _enter_period(self, row: BudgetRow, now_s: float) -> _Current:
        now = datetime.fromtimestamp(now_s, UTC)
        rule = budget_rule(row, 0.0, self.seed(row, now), now)
        until = rule.expires_at if rule.expires_at is not None else float("inf")
        current = _Current(rule.key, rule.label, rule.seed, rule.expires_at, until)
        self._current[row.id] = current
        return current

    def seed(self, row: BudgetRow, now: datetime) -> float:
        """The spend the database had for the budget's current period when this book loaded."""
        if self._periods.get(row.id) != period_of(row.period, now).key:
            return 0.0
        return self._spent.get(row.id, 0.0)

    def spent(self, budget_id: str) -> float:
        return self._spent.get(budget_id, 0.0)


@dataclass(frozen=True, slots=True)
class Crossing:
    """A budget's spend reached one of its soft thresholds in a period."""

    row: BudgetRow
    period: str
    threshold: float
    spent_usd: float
    window_s: float
    """The period's length (for a total budget, the time since the budget was created)."""


class ThresholdWatch:
    """Raises each soft threshold once per budget period, from the spend the database reports."""

    def __init__(self) -> None:
        self._raised: set[tuple[str, str, float]] = set()

    def check(self, book: BudgetBook, now: datetime) -> list[Crossing]:
        crossed = []
        for row in book.rows:
            window = period_of(row.period, now)
            spent = book.seed(row, now)
            fraction = spent / row.limit_usd if row.limit_usd > 0 else 1.0
            for threshold in row.thresholds:
                mark = (row.id, window.key, threshold)
                if fraction >= threshold and mark not in self._raised:
                    self._raised.add(mark)
                    starts = window.starts or row.created_at
                    ends = window.ends or now
                    crossed.append(
                        Crossing(row, window.key, threshold, spent, (ends - starts).total_seconds())
                    )
                    log.warning(
                        "budget.threshold_crossed",
                        budget=row.id,
                        scope=row.scope,
                        scope_id=row.scope_id,
                        period=window.key,
                        threshold=threshold,
                        spent_usd=round(spent, 6),
                        limit_usd=row.limit_usd,
                    )
        return crossed
