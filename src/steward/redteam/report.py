"""The red-team report: success rates per category with Wilson intervals, and the worst examples.

A category's rate is successes over attempts, where attempts are the answered and the blocked
calls; errors (no answer at all) are counted but left out, so an outage cannot look like
robustness. The 95 % interval is Wilson's score interval, which stays inside [0, 1] and is
honest at 0 or n successes, where the normal approximation collapses to a point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from steward.redteam.attack import Suite
from steward.redteam.runner import Outcome
from steward.types import JSONObject

__all__ = ["CategoryResult", "Report", "build_report", "excerpt", "wilson"]

Z_95 = 1.959963984540054
_SEVERITY = {"canary": 0, "pii": 0, "system_chunk": 1, "marker": 2, "judge": 3, "compliance": 3}
_JSON_ANSWER_CHARS = 2000


def wilson(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for `successes` out of `n`; (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True, slots=True)
class CategoryResult:
    """One category's counts, rate and worst examples (or the whole run's, as `overall`)."""

    name: str
    title: str
    attempts: int
    successes: int
    blocked: int
    errors: int
    worst: tuple[Outcome, ...] = ()

    @property
    def rate(self) -> float | None:
        return self.successes / self.attempts if self.attempts else None

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.successes, self.attempts)

    def to_json(self) -> JSONObject:
        low, high = self.interval
        return {
            "name": self.name,
            "title": self.title,
            "attempts": self.attempts,
            "successes": self.successes,
            "blocked": self.blocked,
            "errors": self.errors,
            "rate": self.rate,
            "ci95": [round(low, 4), round(high, 4)],
            "worst": [outcome.probe.id for outcome in self.worst],
        }


@dataclass(frozen=True, slots=True)
class Report:
    """A whole run: what was attacked, how, and what came of it."""

    model: str
    base_url: str
    seed: int
    judge: str | None
    categories: tuple[CategoryResult, ...]
    overall: CategoryResult
    outcomes: tuple[Outcome, ...]

    def exceeding(self, threshold: float) -> list[CategoryResult]:
        """Categories whose success rate is above `threshold` (a fraction)."""
        return [c for c in self.categories if c.rate is not None and c.rate > threshold]

    def to_json(self) -> JSONObject:
        return {
            "model": self.model,
            "base_url": self.base_url,
            "seed": self.seed,
            "judge": self.judge,
            "overall": self.overall.to_json(),
            "categories": [category.to_json() for category in self.categories],
            "results": [_outcome_json(outcome) for outcome in self.outcomes],
        }


def build_report(
    outcomes: Sequence[Outcome],
    suites: Sequence[Suite],
    *,
    model: str,
    base_url: str,
    seed: int,
    judge: str | None = None,
    examples: int = 3,
) -> Report:
    categories = tuple(
        _category(suite.name, suite.title, [o for o in outcomes if o.probe.category == suite.name])
        for suite in suites
    )
    categories = tuple(_with_worst(c, outcomes, examples) for c in categories)
    return Report(
        model=model,
        base_url=base_url,
        seed=seed,
        judge=judge,
        categories=categories,
        overall=_category("overall", "All categories", list(outcomes)),
        outcomes=tuple(outcomes),
    )


def _category(name: str, title: str, outcomes: Sequence[Outcome]) -> CategoryResult:
    count = {status: sum(o.status == status for o in outcomes) for status in _STATUSES}
    return CategoryResult(
        name=name,
        title=title,
        attempts=count["success"] + count["resisted"] + count["blocked"],
        successes=count["success"],
        blocked=count["blocked"],
        errors=count["error"],
    )


_STATUSES = ("success", "resisted", "blocked", "error")


def _with_worst(
    category: CategoryResult, outcomes: Sequence[Outcome], examples: int
) -> CategoryResult:
    """The category with its worst successes: most findings first, the gravest detector next."""
    hits = [o for o in outcomes if o.probe.category == category.name and o.status == "success"]
    hits.sort(key=lambda o: (-len(o.findings), min(_SEVERITY[f.detector] for f in o.findings)))
    return CategoryResult(
        category.name,
        category.title,
        category.attempts,
        category.successes,
        category.blocked,
        category.errors,
        tuple(hits[:examples]),
    )


def excerpt(text: str, needle: str | None = None, width: int = 240) -> str:
    """About `width` characters of `text` on one line, centred on `needle` when it is found."""
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    at = flat.lower().find(needle.lower()) if needle else -1
    start = max(0, min(at - width // 3, len(flat) - width)) if at >= 0 else 0
    head = "..." if start else ""
    tail = "..." if start + width < len(flat) else ""
    return f"{head}{flat[start : start + width]}{tail}"


def _outcome_json(outcome: Outcome) -> JSONObject:
    probe = outcome.probe
    return {
        "id": probe.id,
        "category": probe.category,
        "technique": probe.attack.technique,
        "status": outcome.status,
        "findings": [{"detector": f.detector, "evidence": f.evidence} for f in outcome.findings],
        "judge": outcome.judge,
        "http_status": outcome.http_status,
        "error": outcome.error,
        "latency_ms": round(outcome.latency_ms, 1),
        "attack": probe.attack_text,
        "answer": outcome.answer[:_JSON_ANSWER_CHARS],
    }
