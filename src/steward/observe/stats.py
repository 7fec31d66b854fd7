"""Two-sample statistics for drift: summaries, Kolmogorov-Smirnov and a permutation test.

Written on NumPy rather than taken from SciPy, which Steward does not otherwise need.

- `ks_2samp` gives the statistic D = sup |F₁ - F₂| (ties handled: both empirical CDFs are
  evaluated at every distinct value) and its two-sided p-value: exact for small samples
  (n·m ≤ 10 000: the share of the C(n+m, n) lattice paths that leave the band |i/n - j/m| < D),
  else asymptotic with Stephens' correction, Q_KS((√nₑ + 0.12 + 0.11/√nₑ)·D), nₑ = nm/(n+m)
  (Numerical Recipes, 14.3). Both assume continuous data; on token counts, which tie, the
  p-value is conservative (too large), so a drift it reports is real.
- `permutation_test` compares the means of two samples of numbers or of vectors (the statistic
  is the Euclidean distance between the means; for numbers, |mean₁ - mean₂|) against the same
  statistic over `permutations` random relabellings of the pooled sample, drawn from a seeded
  generator: p = (1 + #{permuted ≥ observed}) / (1 + permutations), never 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "Comparison",
    "Summary",
    "kolmogorov_sf",
    "ks_2samp",
    "permutation_test",
    "summarise",
]

_EXACT_KS_CELLS = 10_000
"""Up to this n·m the KS p-value is counted exactly (at most 10 000 steps of a Python loop)."""
_CHUNK_VALUES = 2_000_000
"""Floats gathered per batch of permutations (16 MB), whatever the sample and vector sizes."""


@dataclass(frozen=True, slots=True)
class Summary:
    n: int
    mean: float | None
    p50: float | None
    p95: float | None


@dataclass(frozen=True, slots=True)
class Comparison:
    statistic: float
    p_value: float


def summarise(values: Sequence[float]) -> Summary:
    """Count, mean and linearly interpolated median and 95th percentile (None when empty)."""
    if not values:
        return Summary(n=0, mean=None, p50=None, p95=None)
    array = np.asarray(values, dtype=np.float64)
    p50, p95 = np.percentile(array, [50, 95])
    return Summary(n=len(array), mean=float(array.mean()), p50=float(p50), p95=float(p95))


def ks_2samp(x: Sequence[float], y: Sequence[float]) -> Comparison:
    """Two-sided two-sample Kolmogorov-Smirnov test; both samples must be non-empty."""
    a = np.sort(np.asarray(x, dtype=np.float64))
    b = np.sort(np.asarray(y, dtype=np.float64))
    n, m = len(a), len(b)
    if n == 0 or m == 0:
        raise ValueError("ks_2samp needs two non-empty samples")
    points = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, points, side="right") / n
    cdf_b = np.searchsorted(b, points, side="right") / m
    d = float(np.max(np.abs(cdf_a - cdf_b)))
    if n * m <= _EXACT_KS_CELLS:
        return Comparison(statistic=d, p_value=_exact_ks_sf(n, m, d))
    root = math.sqrt(n * m / (n + m))
    return Comparison(statistic=d, p_value=kolmogorov_sf((root + 0.12 + 0.11 / root) * d))


def _exact_ks_sf(n: int, m: int, d: float) -> float:
    """P(D >= d) under the null: 1 - (paths from (0,0) to (n,m) with every |i·m - j·n| < d·n·m)
    / C(n+m, n). D is a multiple of 1/(n·m), so the band is compared in integers."""
    band = round(d * n * m)
    paths = [0.0] * (m + 1)
    for i in range(n + 1):
        for j in range(m + 1):
            if abs(i * m - j * n) >= band:
                paths[j] = 0.0
            elif i or j:
                paths[j] = (paths[j] if i else 0.0) + (paths[j - 1] if j else 0.0)
            else:
                paths[j] = 1.0
    return min(1.0, max(0.0, 1.0 - paths[m] / math.comb(n + m, n)))


def kolmogorov_sf(lam: float) -> float:
    """P(K > lam) for the Kolmogorov distribution K, the limit of √n·D.

    Two series, each converging fast where it is used: Q = 2 Σ (-1)^(j-1) e^(-2j²λ²) for large
    λ, and Q = 1 - (√(2π)/λ) Σ e^(-(2j-1)²π²/(8λ²)) for small λ.
    """
    if lam <= 0:
        return 1.0
    if lam < 1.18:
        y = math.exp(-(math.pi**2) / (8 * lam * lam))
        cdf = math.sqrt(2 * math.pi) / lam * (y + y**9 + y**25 + y**49)
        return min(1.0, max(0.0, 1.0 - cdf))
    x = math.exp(-2 * lam * lam)
    return min(1.0, max(0.0, 2 * (x - x**4 + x**9 - x**16)))


def permutation_test(
    x: Sequence[float] | npt.NDArray[np.floating],
    y: Sequence[float] | npt.NDArray[np.floating],
    *,
    permutations: int = 999,
    seed: int = 0,
) -> Comparison:
    """Difference of means of `x` and `y` (numbers, or rows of vectors) and its permutation
    p-value; the same seed gives the same p-value."""
    a, b = _rows(x), _rows(y)
    n, m = len(a), len(b)
    if n == 0 or m == 0:
        raise ValueError("permutation_test needs two non-empty samples")
    if a.shape[1] != b.shape[1]:
        raise ValueError("permutation_test needs samples of the same dimension")
    pooled = np.concatenate([a, b])
    total = pooled.sum(axis=0)
    observed = float(np.linalg.norm(a.mean(axis=0) - b.mean(axis=0)))
    # Equal arrangements must count as "as extreme", whatever the order of summation.
    floor = observed - 1e-9 * max(1.0, observed)
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_VALUES // (len(pooled) * pooled.shape[1]))
    extreme = 0
    for start in range(0, permutations, chunk):
        k = min(chunk, permutations - start)
        order = rng.permuted(np.tile(np.arange(n + m), (k, 1)), axis=1)[:, :n]
        sums = pooled[order].sum(axis=1)
        stats = np.linalg.norm(sums / n - (total - sums) / m, axis=1)
        extreme += int(np.count_nonzero(stats >= floor))
    return Comparison(statistic=observed, p_value=(1 + extreme) / (1 + permutations))


def _rows(values: Sequence[float] | npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        return array[:, None]
    if array.ndim != 2:
        raise ValueError("samples must be numbers or rows of vectors")
    return array
