"""Comparing two runs: hand-built flips, flakes, gaps and errors, and the verdict's error rates."""

from __future__ import annotations

import json
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np
import numpy.typing as npt
import pytest

from steward.evals.compare import Comparison, FlakyItem, compare
from steward.evals.results import ItemResult, Score


def result(
    item: str,
    repeat: int = 0,
    *,
    passed: bool | None = None,
    similarity: float | None = None,
    error: str | None = None,
    latency_ms: float = 100.0,
    cost_usd: float | None = None,
) -> ItemResult:
    scores: dict[str, Score] = {}
    if passed is not None:
        scores["exact"] = Score(value=float(passed), passed=passed)
    if similarity is not None:
        scores["similarity"] = Score(value=similarity)
    return ItemResult(
        item_id=item,
        repeat=repeat,
        scores={} if error else scores,
        latency_ms=latency_ms,
        cost_usd=cost_usd,
        error=error,
    )


def pass_fail_run(passed: Sequence[bool] | npt.NDArray[np.bool_]) -> list[ItemResult]:
    return [result(f"item-{i}", passed=bool(p)) for i, p in enumerate(passed)]


def continuous_run(values: npt.NDArray[np.float64], repeat: int = 0) -> list[ItemResult]:
    return [result(f"item-{i}", repeat, similarity=float(v)) for i, v in enumerate(values)]


def hand_built() -> tuple[list[ItemResult], list[ItemResult]]:
    baseline = [
        result("a", 0, passed=True, similarity=0.9, latency_ms=10, cost_usd=0.01),
        result("a", 1, passed=True, similarity=0.8, latency_ms=20, cost_usd=0.01),
        result("a", 2, passed=False, similarity=0.4, latency_ms=30, cost_usd=0.01),
        result("b", passed=True, similarity=1.0, latency_ms=40, cost_usd=0.01),
        result("c", passed=False, similarity=0.2, latency_ms=50, cost_usd=0.01),
        result("d", error="upstream timed out", latency_ms=9999),
        result("e", passed=True, similarity=0.7, latency_ms=60, cost_usd=0.01),
    ]
    candidate = [
        result("a", 0, passed=False, similarity=0.3, latency_ms=15),
        result("a", 1, passed=False, similarity=0.3, latency_ms=15),
        result("a", 2, passed=False, similarity=0.3, latency_ms=15),
        result("b", 0, passed=True, similarity=1.0, latency_ms=15),
        result("b", 1, error="rate limited", latency_ms=15),
        result("c", passed=True, similarity=0.9, latency_ms=15),
        result("d", passed=True, similarity=0.6, latency_ms=15),
        result("f", passed=True, similarity=0.8, latency_ms=15),
    ]
    return baseline, candidate


def test_flips_flakes_gaps_and_errors_on_hand_built_runs() -> None:
    comparison = compare(*hand_built())
    exact, similarity = comparison.scorers
    assert (exact.scorer, exact.kind, similarity.scorer, similarity.kind) == (
        "exact",
        "pass_fail",
        "similarity",
        "continuous",
    )
    # By majority: a passes (2 of 3) then fails; b passes then ties (pass, error) and fails.
    assert exact.flipped_to_fail == ("a", "b")
    assert exact.flipped_to_pass == ("c", "d")
    assert exact.mcnemar is not None
    assert (exact.mcnemar.b, exact.mcnemar.c, exact.mcnemar.p_value) == (2, 2, 1.0)
    assert exact.p_value == 1.0
    assert exact.verdict == comparison.verdict == "no significant change"
    assert exact.n == similarity.n == 4
    # Pass rates over repeats, the error counting as a fail: (2/3 + 1 + 0 + 0) / 4 and so on.
    assert exact.baseline_mean == pytest.approx(5 / 12)
    assert exact.candidate_mean == pytest.approx((0 + 0.5 + 1 + 1) / 4)
    assert exact.difference == pytest.approx(0.625 - 5 / 12)
    assert similarity.baseline_mean == pytest.approx((0.7 + 1.0 + 0.2 + 0.0) / 4)
    assert similarity.candidate_mean == pytest.approx((0.3 + 0.5 + 0.9 + 0.6) / 4)
    assert similarity.mcnemar is None
    assert similarity.flipped_to_fail == similarity.flipped_to_pass == ()
    assert exact.ci_low <= exact.difference <= exact.ci_high
    assert comparison.flaky == (
        FlakyItem("a", "exact", "baseline", passes=2, repeats=3),
        FlakyItem("b", "exact", "candidate", passes=1, repeats=2),
    )
    assert comparison.only_baseline == ("e",)
    assert comparison.only_candidate == ("f",)


def test_run_summaries_count_errors_latency_and_cost() -> None:
    comparison = compare(*hand_built())
    base, cand = comparison.baseline, comparison.candidate
    assert (base.results, base.items, base.errors) == (7, 5, 1)
    assert (cand.results, cand.items, cand.errors) == (8, 5, 1)
    # The errored call's latency is left out: 10..60 ms, linearly interpolated percentiles.
    assert base.latencies_ms == (10, 20, 30, 40, 50, 60)
    assert (base.latency_p50_ms, base.latency_p95_ms) == pytest.approx((35.0, 57.5))
    assert base.total_cost_usd == pytest.approx(0.06)
    assert base.cost_per_item_usd == pytest.approx(0.012)
    assert (cand.total_cost_usd, cand.cost_per_item_usd) == (None, None)


def test_to_dict_is_plain_json() -> None:
    comparison = compare(*hand_built())
    data = comparison.to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert data["verdict"] == "no significant change"
    assert data["confidence"] == pytest.approx(0.95)
    scorers = data["scorers"]
    assert isinstance(scorers, list)
    assert scorers[0]["mcnemar"] == {"b": 2, "c": 2, "p_value": 1.0}
    assert scorers[0]["flipped_to_fail"] == ["a", "b"]
    assert scorers[1]["mcnemar"] is None


def test_compare_refuses_runs_with_nothing_in_common() -> None:
    with pytest.raises(ValueError, match="both runs"):
        compare([result("a", passed=True)], [result("b", passed=True)])
    with pytest.raises(ValueError, match="alpha"):
        compare([result("a", passed=True)], [result("a", passed=True)], alpha=0)
    with pytest.raises(ValueError, match="margin"):
        compare([result("a", passed=True)], [result("a", passed=True)], margin=-0.1)


def flip_counts(*, to_fail: int, to_pass: int, both: int, neither: int) -> list[bool]:
    return [True] * (to_fail + both) + [False] * (to_pass + neither)


def test_margin_tolerates_a_significant_two_point_drop() -> None:
    # 1000 items: 30 went pass → fail, 10 fail → pass; a drop of exactly 2 points, p ≈ 0.002.
    base = flip_counts(to_fail=30, to_pass=10, both=770, neither=190)
    cand = [True] * 770 + [False] * 30 + [True] * 10 + [False] * 190
    baseline, candidate = pass_fail_run(base), pass_fail_run(cand)
    strict = compare(baseline, candidate)
    assert strict.scorers[0].difference == pytest.approx(-0.02)
    assert strict.scorers[0].p_value < 0.01
    assert strict.verdict == "regressed"
    assert compare(baseline, candidate, margin=0.019).verdict == "regressed"
    assert compare(baseline, candidate, margin=0.05).verdict == "no significant change"
    # The same flips the other way round are an improvement, whatever the margin.
    assert compare(candidate, baseline, margin=0.05).verdict == "improved"


def test_continuous_verdict_follows_the_interval_and_the_margin() -> None:
    rng = np.random.default_rng(7)
    base = rng.random(300)
    worse = compare(continuous_run(base), continuous_run(base - 0.1))
    (score,) = worse.scorers
    assert score.difference == pytest.approx(-0.1)
    assert score.ci_high == pytest.approx(-0.1)
    assert worse.verdict == "regressed"
    tolerated = compare(continuous_run(base), continuous_run(base - 0.1), margin=0.2)
    assert tolerated.verdict == "no significant change"
    assert compare(continuous_run(base), continuous_run(base + 0.1)).verdict == "improved"


def test_any_regression_outweighs_an_improvement() -> None:
    base = [result(f"i{k}", passed=True, similarity=0.5) for k in range(40)]
    cand = [result(f"i{k}", passed=False, similarity=0.9) for k in range(40)]
    comparison = compare(base, cand)
    assert [s.verdict for s in comparison.scorers] == ["regressed", "improved"]
    assert comparison.verdict == "regressed"


def test_a_candidate_that_only_errors_or_drops_a_scorer_regresses() -> None:
    base = [result(f"i{k}", passed=True, similarity=0.8) for k in range(30)]
    errored = [result(f"i{k}", error="connection refused") for k in range(30)]
    comparison = compare(base, errored)
    assert comparison.verdict == "regressed"
    assert comparison.candidate.errors == 30
    assert comparison.candidate.latency_p50_ms is None
    assert [s.verdict for s in comparison.scorers] == ["regressed", "regressed"]
    without_exact = [result(f"i{k}", similarity=0.8) for k in range(30)]
    (exact, similarity) = compare(base, without_exact).scorers
    assert (exact.verdict, similarity.verdict) == ("regressed", "no significant change")


def regressed_share(runs: Sequence[tuple[list[ItemResult], list[ItemResult]]]) -> float:
    verdicts = [compare(b, c, seed=k, resamples=2000).verdict for k, (b, c) in enumerate(runs)]
    return verdicts.count("regressed") / len(verdicts)


def test_identical_pass_fail_systems_are_rarely_called_regressed() -> None:
    """300 pairs of runs of one system on 200 items, each item with its own pass probability
    p_i ~ Beta(2, 0.7) (mean 0.74). Measured: 1.7 % regressed (5 of 300), at most alpha / 2
    expected."""
    rng = np.random.default_rng(11)
    runs = []
    for _ in range(300):
        p = rng.beta(2, 0.7, size=200)
        runs.append((pass_fail_run(rng.random(200) < p), pass_fail_run(rng.random(200) < p)))
    assert regressed_share(runs) <= 0.05


def noisy_run(rng: np.random.Generator, mu: npt.NDArray[np.float64]) -> list[ItemResult]:
    """Two repeats of each item: its mean plus N(0, 0.15) noise, clipped to [0, 1]."""
    draws = [np.clip(mu + rng.normal(0, 0.15, size=len(mu)), 0, 1) for _ in range(2)]
    return [r for repeat, values in enumerate(draws) for r in continuous_run(values, repeat)]


def test_identical_continuous_systems_are_rarely_called_regressed() -> None:
    """300 pairs of runs of one system on 200 items with two repeats each: item means
    mu_i ~ Beta(2, 2), scores mu_i + N(0, 0.15) clipped to [0, 1]. Measured: 3.0 % regressed
    (9 of 300), alpha / 2 expected."""
    rng = np.random.default_rng(12)
    runs = []
    for _ in range(300):
        mu = rng.beta(2, 2, size=200)
        runs.append((noisy_run(rng, mu), noisy_run(rng, mu)))
    assert regressed_share(runs) <= 0.05


def correlated_runs(
    rng: np.random.Generator, n: int, base_rate: float, cand_rate: float, rho: float = 0.8
) -> tuple[list[ItemResult], list[ItemResult]]:
    """Paired runs as real systems give them: a shared item difficulty z (Gaussian copula), so
    an item that is hard for the baseline is hard for the candidate too."""
    normal = NormalDist()
    z = rng.normal(size=n)

    def latent() -> npt.NDArray[np.float64]:
        return np.sqrt(rho) * z + np.sqrt(1 - rho) * rng.normal(size=n)

    return (
        pass_fail_run(latent() < normal.inv_cdf(base_rate)),
        pass_fail_run(latent() < normal.inv_cdf(cand_rate)),
    )


def test_a_ten_point_drop_at_two_hundred_items_is_detected() -> None:
    """Pass rate 0.80 → 0.70 on 200 items, latent item correlation 0.8 (about 18 % of items
    flip between the runs), 200 simulations. Measured power: 0.905. With a weaker item effect
    (correlation 0.5, 27 % flips) it falls to about 0.70: 200 items are then too few."""
    rng = np.random.default_rng(13)
    runs = [correlated_runs(rng, 200, 0.80, 0.70) for _ in range(200)]
    assert regressed_share(runs) >= 0.8


def test_a_real_two_point_drop_within_the_margin_is_not_regressed() -> None:
    """Pass rate 0.80 → 0.78 on 2000 items, 30 simulations: margin 0 catches most of them
    (measured 0.63), margin 0.05 none, since the observed drop never reaches 5 points."""
    rng = np.random.default_rng(14)
    runs = [correlated_runs(rng, 2000, 0.80, 0.78) for _ in range(30)]
    with_margin = [compare(b, c, margin=0.05, resamples=1000).verdict for b, c in runs]
    assert with_margin.count("regressed") == 0
    assert regressed_share(runs) >= 0.4


def test_comparison_is_a_frozen_value() -> None:
    comparison = compare(*hand_built())
    assert isinstance(comparison, Comparison)
    with pytest.raises(AttributeError):
        comparison.verdict = "improved"  # type: ignore[misc]
