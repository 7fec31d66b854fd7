"""Comparing a candidate run with a baseline run, scorer by scorer, and the gate's verdict.

How the two runs are read:

- Results are grouped by `item_id`; an item's repeats are all its results in that run. Items
  in both runs are paired (in the baseline's order); items in only one run are listed in
  `only_baseline` / `only_candidate` and left out of every statistic.
- The scorers are every scorer name seen in either run. A scorer is pass/fail when any of its
  scores has `passed` set, else continuous. A result without that scorer's score, such as an
  errored result (which has no scores), counts as value 0 and as a fail. So a scorer that
  stops producing scores in the candidate reads as a drop, never as nothing to compare.
- An item's value for a scorer is the mean over its repeats: of `Score.value` for a continuous
  scorer, of passed (1) / failed (0) for a pass/fail one, so that scorer's means are pass rates.
  For McNemar an item passes by majority over its repeats (more than half passed; a tie fails).
- `difference` is candidate mean - baseline mean over the paired items, with the paired
  bootstrap's percentile interval at confidence 1 - alpha (95 % at the default alpha).

The verdict per scorer (alpha is the significance level, margin ≥ 0 a tolerated drop):

- pass/fail: regressed iff McNemar p < alpha, b > c (more items went pass → fail than
  fail → pass) and difference < -margin; improved iff McNemar p < alpha, c > b and
  difference > 0. `p_value` is the McNemar p.
- continuous: regressed iff the interval's upper bound < -margin (significantly worse by more
  than the margin); improved iff its lower bound > 0. `p_value` is the bootstrap's two-sided
  p-value, reported but not used by the verdict.
- anything else is "no significant change", including a significant drop within the margin.

The overall verdict is "regressed" if any scorer regressed, else "improved" if any improved,
else "no significant change". The margin tolerates drops only; an improvement needs only
significance. Every scorer's interval and McNemar test are at the same alpha, uncorrected for
the number of scorers: with several scorers the chance that one of them regresses by luck alone
grows, which a gate errs on the side of.

For a pass/fail scorer the margin is held against the estimate, not the interval: a true drop
just inside the margin is called regressed when its estimate overshoots the margin and is
significant. On 200 items that needs a drop of about 6 points to be significant at all, so the
margin matters on large runs. The tests measure, at alpha 0.05 and margin 0: identical systems
called regressed 1.7 % (pass/fail) and 3.0 % (continuous) of the time; a 10-point drop in pass
rate on 200 items detected 90 % of the time.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from steward.evals.results import ItemResult
from steward.evals.stats import McNemar, majority_pass, mcnemar, paired_bootstrap

__all__ = [
    "Comparison",
    "FlakyItem",
    "RunName",
    "RunSummary",
    "ScorerComparison",
    "ScorerKind",
    "Verdict",
    "compare",
]

Verdict = Literal["improved", "regressed", "no significant change"]
ScorerKind = Literal["pass_fail", "continuous"]
RunName = Literal["baseline", "candidate"]
_NO_CHANGE: Verdict = "no significant change"
_Groups = Mapping[str, Sequence[ItemResult]]


@dataclass(frozen=True, slots=True)
class ScorerComparison:
    """One scorer over the paired items; `mcnemar` and the flips only for pass/fail scorers."""

    scorer: str
    kind: ScorerKind
    n: int
    baseline_mean: float
    candidate_mean: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    verdict: Verdict
    mcnemar: McNemar | None = None
    flipped_to_fail: tuple[str, ...] = ()
    flipped_to_pass: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FlakyItem:
    """An item whose repeats in one run disagree on a pass/fail scorer (errors count as fails)."""

    item_id: str
    scorer: str
    run: RunName
    passes: int
    repeats: int


@dataclass(frozen=True, slots=True)
class RunSummary:
    """Counts, latency of the successful results and cost of all results of one run."""

    results: int
    items: int
    errors: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    total_cost_usd: float | None
    cost_per_item_usd: float | None
    latencies_ms: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Comparison:
    """Everything `steward eval compare` shows and `steward eval gate` decides on."""

    verdict: Verdict
    alpha: float
    margin: float
    resamples: int
    seed: int
    scorers: tuple[ScorerComparison, ...]
    flaky: tuple[FlakyItem, ...]
    only_baseline: tuple[str, ...]
    only_candidate: tuple[str, ...]
    baseline: RunSummary
    candidate: RunSummary

    @property
    def confidence(self) -> float:
        """The level of every interval: 1 - alpha."""
        return 1 - self.alpha

    def to_dict(self) -> dict[str, object]:
        """Plain JSON types only: dicts, lists, strings, numbers, booleans and None."""
        data = {key: _jsonable(value) for key, value in dataclasses.asdict(self).items()}
        data["confidence"] = self.confidence
        return data


@dataclass(frozen=True, slots=True)
class _Settings:
    margin: float
    alpha: float
    seed: int
    resamples: int


def compare(
    baseline: Sequence[ItemResult],
    candidate: Sequence[ItemResult],
    *,
    margin: float = 0.0,
    alpha: float = 0.05,
    seed: int = 0,
    resamples: int = 10_000,
) -> Comparison:
    """Compare two runs of the same dataset; at least one item must be in both."""
    if margin < 0 or not 0 < alpha < 1:
        raise ValueError("compare needs margin ≥ 0 and 0 < alpha < 1")
    base, cand = _group(baseline), _group(candidate)
    paired = tuple(item for item in base if item in cand)
    if not paired:
        raise ValueError("compare needs at least one item present in both runs")
    kinds = _scorer_kinds([*baseline, *candidate])
    settings = _Settings(margin=margin, alpha=alpha, seed=seed, resamples=resamples)
    base_rows, cand_rows = [base[i] for i in paired], [cand[i] for i in paired]
    scorers = tuple(
        _compare_scorer(name, kind, base_rows, cand_rows, paired, settings)
        for name, kind in kinds.items()
    )
    return Comparison(
        verdict=_overall(scorers),
        alpha=alpha,
        margin=margin,
        resamples=resamples,
        seed=seed,
        scorers=scorers,
        flaky=_flaky(kinds, base, "baseline") + _flaky(kinds, cand, "candidate"),
        only_baseline=tuple(item for item in base if item not in cand),
        only_candidate=tuple(item for item in cand if item not in base),
        baseline=_summarise(baseline, len(base)),
        candidate=_summarise(candidate, len(cand)),
    )


def _group(run: Sequence[ItemResult]) -> dict[str, list[ItemResult]]:
    groups: dict[str, list[ItemResult]] = {}
    for result in run:
        groups.setdefault(result.item_id, []).append(result)
    return groups


def _scorer_kinds(results: Sequence[ItemResult]) -> dict[str, ScorerKind]:
    kinds: dict[str, ScorerKind] = {}
    for result in results:
        for name, score in result.scores.items():
            if score.passed is not None:
                kinds[name] = "pass_fail"
            else:
                kinds.setdefault(name, "continuous")
    return kinds


def _passes(repeats: Sequence[ItemResult], scorer: str) -> list[bool]:
    passes = []
    for result in repeats:
        score = None if result.error is not None else result.scores.get(scorer)
        passes.append(score is not None and score.passed is True)
    return passes


def _item_value(repeats: Sequence[ItemResult], scorer: str, kind: ScorerKind) -> float:
    if kind == "pass_fail":
        return sum(_passes(repeats, scorer)) / len(repeats)
    values = []
    for result in repeats:
        score = None if result.error is not None else result.scores.get(scorer)
        values.append(0.0 if score is None else score.value)
    return math.fsum(values) / len(values)


def _compare_scorer(
    name: str,
    kind: ScorerKind,
    base: Sequence[Sequence[ItemResult]],
    cand: Sequence[Sequence[ItemResult]],
    paired: Sequence[str],
    settings: _Settings,
) -> ScorerComparison:
    margin, alpha = settings.margin, settings.alpha
    base_values = np.array([_item_value(repeats, name, kind) for repeats in base])
    cand_values = np.array([_item_value(repeats, name, kind) for repeats in cand])
    boot = paired_bootstrap(
        base_values,
        cand_values,
        resamples=settings.resamples,
        confidence=1 - alpha,
        seed=settings.seed,
    )
    test: McNemar | None = None
    to_fail: tuple[str, ...] = ()
    to_pass: tuple[str, ...] = ()
    if kind == "continuous":
        p_value, verdict = boot.p_value, _continuous_verdict(boot.ci_low, boot.ci_high, margin)
    else:
        test, to_fail, to_pass = _flips(name, base, cand, paired)
        p_value = test.p_value
        verdict = _pass_fail_verdict(test, boot.difference, margin=margin, alpha=alpha)
    return ScorerComparison(
        scorer=name,
        kind=kind,
        n=len(paired),
        baseline_mean=float(base_values.mean()),
        candidate_mean=float(cand_values.mean()),
        difference=boot.difference,
        ci_low=boot.ci_low,
        ci_high=boot.ci_high,
        p_value=p_value,
        verdict=verdict,
        mcnemar=test,
        flipped_to_fail=to_fail,
        flipped_to_pass=to_pass,
    )


def _flips(
    name: str,
    base: Sequence[Sequence[ItemResult]],
    cand: Sequence[Sequence[ItemResult]],
    paired: Sequence[str],
) -> tuple[McNemar, tuple[str, ...], tuple[str, ...]]:
    """McNemar on the majority passes, and the items that went pass → fail and fail → pass."""
    base_pass = [majority_pass(_passes(repeats, name)) for repeats in base]
    cand_pass = [majority_pass(_passes(repeats, name)) for repeats in cand]
    flips = list(zip(paired, base_pass, cand_pass, strict=True))
    return (
        mcnemar(base_pass, cand_pass),
        tuple(item for item, was, now in flips if was and not now),
        tuple(item for item, was, now in flips if now and not was),
    )


def _pass_fail_verdict(test: McNemar, difference: float, *, margin: float, alpha: float) -> Verdict:
    if test.p_value >= alpha:
        return _NO_CHANGE
    if test.b > test.c and difference < -margin:
        return "regressed"
    if test.c > test.b and difference > 0:
        return "improved"
    return _NO_CHANGE


def _continuous_verdict(ci_low: float, ci_high: float, margin: float) -> Verdict:
    if ci_high < -margin:
        return "regressed"
    if ci_low > 0:
        return "improved"
    return _NO_CHANGE


def _overall(scorers: Sequence[ScorerComparison]) -> Verdict:
    verdicts = {scorer.verdict for scorer in scorers}
    for verdict in ("regressed", "improved"):
        if verdict in verdicts:
            return verdict
    return _NO_CHANGE


def _flaky(kinds: Mapping[str, ScorerKind], groups: _Groups, run: RunName) -> tuple[FlakyItem, ...]:
    flaky = []
    pass_fail = [name for name, kind in kinds.items() if kind == "pass_fail"]
    for item, repeats in groups.items():
        for name in pass_fail:
            passes = sum(_passes(repeats, name))
            if 0 < passes < len(repeats):
                flaky.append(FlakyItem(item, name, run, passes=passes, repeats=len(repeats)))
    return tuple(flaky)


def _summarise(run: Sequence[ItemResult], items: int) -> RunSummary:
    latencies = [result.latency_ms for result in run if result.error is None]
    costs = [result.cost_usd for result in run if result.cost_usd is not None]
    p50, p95 = np.percentile(latencies, [50, 95]) if latencies else (None, None)
    total = math.fsum(costs) if costs else None
    return RunSummary(
        results=len(run),
        items=items,
        errors=sum(1 for result in run if result.error is not None),
        latency_p50_ms=None if p50 is None else float(p50),
        latency_p95_ms=None if p95 is None else float(p95),
        total_cost_usd=total,
        cost_per_item_usd=None if total is None or items == 0 else total / items,
        latencies_ms=tuple(latencies),
    )


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {str(key): _jsonable(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(inner) for inner in value]
    return value
