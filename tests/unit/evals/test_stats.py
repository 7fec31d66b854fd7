"""Eval statistics against known answers: exact McNemar, bootstrap coverage, majority passes."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from steward.evals import stats
from steward.evals.stats import majority_pass, mcnemar, mcnemar_p, paired_bootstrap


@pytest.mark.parametrize(
    ("b", "c", "p"),
    [
        (0, 5, 0.0625),  # 2·(1/2)^5
        (5, 0, 0.0625),
        (1, 9, 0.021484375),  # 2·(1 + 10)/2^10 = 22/1024
        (2, 8, 0.109375),  # 2·(1 + 10 + 45)/1024 = 112/1024
        (0, 1, 1.0),  # 2·(1/2), capped at 1
        (3, 3, 1.0),
        (0, 0, 1.0),
        (10, 10, 1.0),
    ],
)
def test_mcnemar_exact_hand_computed(b: int, c: int, p: float) -> None:
    assert mcnemar_p(b, c) == pytest.approx(p, rel=1e-12)


def test_mcnemar_large_counts_do_not_overflow() -> None:
    # b + c = 2000 by exact integers: P(X ≤ 900) for Bin(2000, 1/2), about z = -4.45.
    p = mcnemar_p(900, 1100)
    assert 0 < p < 1e-4
    assert p == pytest.approx(8.457089535503927e-06, rel=1e-9)
    assert mcnemar_p(1000, 1000) == 1.0
    assert mcnemar_p(0, 2000) == pytest.approx(2 * 0.5**2000, rel=1e-9)  # 2^-1999, subnormal-free
    # Far beyond the exact path: log space, with the normal approximation as a sanity check.
    p_big = mcnemar_p(49_500, 50_500)
    z = (49_500 + 0.5 - 50_000) / math.sqrt(100_000 / 4)
    assert p_big == pytest.approx(math.erfc(-z / math.sqrt(2)), rel=0.01)
    assert mcnemar_p(0, 1_000_000) == 0.0  # underflows to 0 instead of raising


def test_mcnemar_log_space_agrees_with_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    cases = [(0, 5), (1, 9), (40, 70), (900, 1100), (480, 520), (7, 7)]
    exact = [mcnemar_p(b, c) for b, c in cases]
    monkeypatch.setattr(stats, "_EXACT_MCNEMAR_PAIRS", 0)
    assert [mcnemar_p(b, c) for b, c in cases] == pytest.approx(exact, rel=1e-9)


def test_mcnemar_counts_discordant_pairs() -> None:
    base = [True, True, True, False, False, True]
    cand = [True, False, False, True, False, True]
    result = mcnemar(base, cand)
    assert (result.b, result.c) == (2, 1)
    assert result.p_value == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same length"):
        mcnemar([True], [])
    with pytest.raises(ValueError, match="non-negative"):
        mcnemar_p(-1, 3)


@pytest.mark.parametrize(
    ("passes", "expected"),
    [
        ([True], True),
        ([False], False),
        ([True, False], False),  # a tie fails
        ([True, True, False], True),
        ([True, False, False], False),
        ([True, True, False, False], False),
        ([], False),
    ],
)
def test_majority_pass(passes: list[bool], expected: bool) -> None:
    assert majority_pass(passes) is expected


def test_bootstrap_on_a_constant_difference() -> None:
    result = paired_bootstrap([0.0, 1.0, 0.5, 0.2], [0.25, 1.25, 0.75, 0.45], resamples=500)
    assert result.difference == pytest.approx(0.25)
    assert result.ci_low == pytest.approx(0.25)
    assert result.ci_high == pytest.approx(0.25)
    assert result.p_value == pytest.approx(2 / 501)  # never 0
    same = paired_bootstrap([0.1, 0.9, 0.4], [0.1, 0.9, 0.4], resamples=500)
    assert (same.difference, same.ci_low, same.ci_high, same.p_value) == (0, 0, 0, 1)


def test_bootstrap_is_seeded_and_validates() -> None:
    rng = np.random.default_rng(1)
    base, cand = rng.random(50), rng.random(50)
    assert paired_bootstrap(base, cand, seed=3) == paired_bootstrap(base, cand, seed=3)
    assert paired_bootstrap(base, cand, seed=3) != paired_bootstrap(base, cand, seed=4)
    with pytest.raises(ValueError, match="same length"):
        paired_bootstrap([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="same length"):
        paired_bootstrap([], [])
    with pytest.raises(ValueError, match="confidence"):
        paired_bootstrap([1.0], [2.0], confidence=1.0)


def test_bootstrap_interval_is_close_to_the_normal_interval() -> None:
    rng = np.random.default_rng(2)
    base = rng.normal(0.0, 1.0, size=400)
    cand = base + 0.1 + rng.normal(0.0, 0.5, size=400)
    result = paired_bootstrap(base, cand)
    diffs = cand - base
    half = 1.96 * diffs.std(ddof=1) / math.sqrt(len(diffs))
    assert result.ci_low == pytest.approx(diffs.mean() - half, abs=0.01)
    assert result.ci_high == pytest.approx(diffs.mean() + half, abs=0.01)
    z = diffs.mean() / (diffs.std(ddof=1) / math.sqrt(len(diffs)))  # about 2.6
    assert result.p_value == pytest.approx(math.erfc(z / math.sqrt(2)), abs=0.003)


def test_bootstrap_covers_the_true_difference_at_the_nominal_rate() -> None:
    """200 datasets of 100 paired items with a skewed per-item difference of known mean 0.05."""
    rng = np.random.default_rng(3)
    covered = 0
    for seed in range(200):
        difficulty = rng.beta(2, 5, size=100)
        base = difficulty + rng.normal(0, 0.1, size=100)
        # Exponential noise, mean 0.05: a skewed difference, as bounded scores tend to have.
        cand = difficulty + rng.normal(0, 0.1, size=100) + rng.exponential(0.05, size=100)
        result = paired_bootstrap(base, cand, resamples=2000, seed=seed)
        covered += result.ci_low <= 0.05 <= result.ci_high
    assert 0.91 <= covered / 200 <= 0.98


def test_bootstrap_of_a_thousand_items_is_fast() -> None:
    rng = np.random.default_rng(4)
    base, cand = rng.random(1000), rng.random(1000)
    paired_bootstrap(base, cand)  # warm up
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        paired_bootstrap(base, cand)
        timings.append(time.perf_counter() - start)
    # Typically about 40 ms on one core; the bound leaves room for a busy CI machine.
    assert min(timings) < 0.1
