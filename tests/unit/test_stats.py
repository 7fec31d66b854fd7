"""Drift statistics against known answers: the Kolmogorov distribution, KS, permutations."""

from __future__ import annotations

import numpy as np
import pytest

from steward.observe.stats import kolmogorov_sf, ks_2samp, permutation_test, summarise


@pytest.mark.parametrize(
    ("lam", "p"),
    # Critical values of the Kolmogorov distribution (Smirnov 1948): P(K > lam) = p.
    [(1.2238, 0.10), (1.3581, 0.05), (1.6276, 0.01), (1.9495, 0.001), (0.5, 0.9639), (1.0, 0.27)],
)
def test_kolmogorov_survival_function(lam: float, p: float) -> None:
    assert kolmogorov_sf(lam) == pytest.approx(p, abs=2e-4 if p < 0.5 else 1e-3)


def test_kolmogorov_series_agree_where_they_meet() -> None:
    assert kolmogorov_sf(1.1799) == pytest.approx(kolmogorov_sf(1.1801), abs=1e-3)
    assert kolmogorov_sf(0) == 1.0
    assert kolmogorov_sf(10) == pytest.approx(0.0, abs=1e-12)


def test_ks_exact_small_samples() -> None:
    # Disjoint samples of three: only 2 of the C(6, 3) = 20 orderings are that extreme.
    result = ks_2samp([1, 2, 3], [4, 5, 6])
    assert result.statistic == 1.0
    assert result.p_value == pytest.approx(0.1)
    # n = m = 4, D = 3/4: 16 of the C(8, 4) = 70 paths reach the band.
    assert ks_2samp([1, 2, 3, 4], [2.5, 5, 6, 7]).p_value == pytest.approx(16 / 70)
    same = ks_2samp([1, 2, 3], [3, 2, 1])
    assert (same.statistic, same.p_value) == (0.0, 1.0)


def test_ks_statistic_with_ties() -> None:
    # F1 jumps to 1/2 at 1 and 1 at 2; F2 to 1/4 at 1 and 1 at 2: D = 1/4.
    assert ks_2samp([1, 2], [1, 2, 2, 2]).statistic == pytest.approx(0.25)


def test_ks_shifted_normals_have_a_tiny_p_value_and_equal_ones_do_not() -> None:
    rng = np.random.default_rng(7)
    shifted = ks_2samp(rng.normal(0, 1, 2000), rng.normal(0.3, 1, 2000))
    assert shifted.statistic > 0.08
    assert shifted.p_value < 1e-6
    same = ks_2samp(rng.normal(0, 1, 2000), rng.normal(0, 1, 2000))
    assert same.p_value > 0.01


def test_ks_p_values_are_uniform_under_the_null() -> None:
    rng = np.random.default_rng(11)
    p = np.array([ks_2samp(rng.normal(size=300), rng.normal(size=300)).p_value for _ in range(300)])
    assert 0.01 <= float(np.mean(p < 0.05)) <= 0.10
    assert 0.4 <= float(np.median(p)) <= 0.65


def test_permutation_test_exact_answer() -> None:
    # |mean difference| 3 is reached by 2 of the 20 splits of {1..6} into halves: p = 0.1.
    result = permutation_test([1, 2, 3], [4, 5, 6], permutations=20_000, seed=3)
    assert result.statistic == pytest.approx(3.0)
    assert result.p_value == pytest.approx(0.1, abs=0.01)


def test_permutation_test_is_seeded() -> None:
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=40), rng.normal(0.2, 1, size=40)
    assert permutation_test(x, y, seed=1) == permutation_test(x, y, seed=1)


def test_permutation_p_values_are_uniform_under_the_null_and_small_for_a_shift() -> None:
    rng = np.random.default_rng(13)
    p = np.array(
        [
            permutation_test(
                rng.normal(size=30), rng.normal(size=30), permutations=199, seed=i
            ).p_value
            for i in range(200)
        ]
    )
    assert 0.01 <= float(np.mean(p < 0.05)) <= 0.11
    assert 0.35 <= float(np.mean(p)) <= 0.65
    shifted = permutation_test(rng.normal(size=50), rng.normal(1, 1, size=50), permutations=999)
    assert shifted.p_value == pytest.approx(1 / 1000)


def test_permutation_test_on_vectors_measures_centroid_distance() -> None:
    rng = np.random.default_rng(17)
    a = rng.normal(size=(60, 8))
    b = rng.normal(size=(60, 8)) + np.eye(8)[0]
    result = permutation_test(a, b, permutations=499)
    assert result.statistic == pytest.approx(float(np.linalg.norm(a.mean(0) - b.mean(0))))
    assert result.p_value < 0.01
    assert permutation_test(a, a.copy(), permutations=99).p_value == 1.0


def test_bad_samples_are_refused() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        ks_2samp([], [1.0])
    with pytest.raises(ValueError, match="same dimension"):
        permutation_test(np.ones((3, 2)), np.ones((3, 3)))


def test_summary() -> None:
    summary = summarise([float(v) for v in range(1, 101)])
    assert (summary.n, summary.mean, summary.p50) == (100, 50.5, 50.5)
    assert summary.p95 == pytest.approx(95.05)
    assert summarise([]).mean is None
