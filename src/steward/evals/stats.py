"""Paired statistics for comparing two eval runs: the bootstrap interval and exact McNemar test.

Written on NumPy rather than taken from SciPy, which Steward does not otherwise need.

- `paired_bootstrap` takes one number per item from each run, paired by position, and resamples
  the items (not the two runs separately), so what the items share, such as how hard each one
  is, cancels out of the difference. Its interval is the percentile interval of the resampled
  mean differences (candidate - baseline). Its two-sided p-value is read off the same
  resamples: p = min(1, 2·(1 + #{d* on the far side of 0}) / (1 + resamples)), where the far
  side is whichever of d* ≤ 0 and d* ≥ 0 is rarer; it is never 0, and up to the resampling
  noise it is below 1 - confidence exactly when the interval leaves out 0.
- `mcnemar_p` is the exact two-sided McNemar test on the discordant pairs: b items that passed
  in the baseline and failed in the candidate, c the other way round. Under no change each
  discordant item is a fair coin, so p = min(1, 2·P(X ≤ min(b, c))) with X ~ Bin(b + c, 1/2),
  and p = 1 when b + c = 0. Up to `_EXACT_MCNEMAR_PAIRS` pairs the tail is summed in exact
  integer arithmetic; beyond, in log space, which neither overflows nor underflows early.
- `majority_pass` turns an item's repeats into one pass or fail: passed when more than half of
  the repeats passed. A tie is a fail, so a result that is right only half the time does not
  count as working.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "Bootstrap",
    "McNemar",
    "majority_pass",
    "mcnemar",
    "mcnemar_p",
    "paired_bootstrap",
]

_CHUNK_INDICES = 1 << 18
"""Resampled indices drawn per batch (512 kB as uint16): small enough to stay in cache."""
_EXACT_MCNEMAR_PAIRS = 10_000
"""Up to this many discordant pairs the binomial tail is an exact sum of integers."""


@dataclass(frozen=True, slots=True)
class Bootstrap:
    """The mean paired difference (candidate - baseline), its percentile interval and p-value."""

    difference: float
    ci_low: float
    ci_high: float
    p_value: float


@dataclass(frozen=True, slots=True)
class McNemar:
    """Discordant pairs (b: pass to fail, c: fail to pass) and the exact two-sided p-value."""

    b: int
    c: int
    p_value: float


def paired_bootstrap(
    baseline: Sequence[float] | npt.NDArray[np.float64],
    candidate: Sequence[float] | npt.NDArray[np.float64],
    *,
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Bootstrap:
    """Bootstrap the mean of candidate[i] - baseline[i] over items drawn with replacement."""
    base = np.asarray(baseline, dtype=np.float64)
    cand = np.asarray(candidate, dtype=np.float64)
    if base.ndim != 1 or base.shape != cand.shape or len(base) == 0:
        raise ValueError("paired_bootstrap needs two non-empty sequences of the same length")
    if resamples < 1 or not 0 < confidence < 1:
        raise ValueError("paired_bootstrap needs resamples ≥ 1 and 0 < confidence < 1")
    diffs = cand - base
    means = _resampled_means(diffs, resamples, np.random.default_rng(seed))
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    rarer = min(np.count_nonzero(means <= 0), np.count_nonzero(means >= 0))
    return Bootstrap(
        difference=float(diffs.mean()),
        ci_low=float(low),
        ci_high=float(high),
        p_value=min(1.0, 2 * (1 + int(rarer)) / (1 + resamples)),
    )


def _resampled_means(
    diffs: npt.NDArray[np.float64], resamples: int, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    n = len(diffs)
    # Narrow indices are drawn faster and gather faster; the draws are the same bootstrap.
    dtype = np.uint16 if n <= 1 << 16 else np.uint32 if n <= 1 << 32 else np.int64
    rows = max(1, _CHUNK_INDICES // n)
    means = np.empty(resamples, dtype=np.float64)
    for start in range(0, resamples, rows):
        stop = min(start + rows, resamples)
        indices = rng.integers(0, n, size=(stop - start, n), dtype=dtype)
        means[start:stop] = diffs[indices].sum(axis=1)
    means /= n
    return means


def mcnemar_p(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value for b and c discordant pairs."""
    if b < 0 or c < 0:
        raise ValueError("mcnemar_p needs non-negative counts")
    n, k = b + c, min(b, c)
    if n == 0:
        return 1.0
    if n <= _EXACT_MCNEMAR_PAIRS:
        term, tail = 1, 1  # C(n, 0), then C(n, i) = C(n, i - 1)·(n - i + 1)/i, exactly
        for i in range(1, k + 1):
            term = term * (n - i + 1) // i
            tail += term
        return min(1.0, 2 * tail / (1 << n))  # int / int rounds correctly at any size
    steps = np.arange(1, k + 1, dtype=np.float64)
    log_terms = np.concatenate([[0.0], np.cumsum(np.log(n - steps + 1) - np.log(steps))])
    top = float(log_terms.max())
    log_tail = top + math.log(float(np.exp(log_terms - top).sum()))
    return min(1.0, math.exp(math.log(2) + log_tail - n * math.log(2)))


def mcnemar(baseline_passed: Sequence[bool], candidate_passed: Sequence[bool]) -> McNemar:
    """Count the discordant pairs of two paired pass/fail sequences and test them."""
    if len(baseline_passed) != len(candidate_passed):
        raise ValueError("mcnemar needs two sequences of the same length")
    pairs = list(zip(baseline_passed, candidate_passed, strict=True))
    b = sum(1 for base, cand in pairs if base and not cand)
    c = sum(1 for base, cand in pairs if cand and not base)
    return McNemar(b=b, c=c, p_value=mcnemar_p(b, c))


def majority_pass(passes: Sequence[bool]) -> bool:
    """Whether more than half of an item's repeats passed (a tie fails; no repeats fail)."""
    return 2 * sum(1 for passed in passes if passed) > len(passes)
