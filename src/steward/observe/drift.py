"""Drift of one public model: its recent records against a baseline window before them.

Compared, from request records alone: input and output token lengths (count, mean, p50, p95, and
a two-sample Kolmogorov-Smirnov test on the newest `sample_limit` successful records of each
window), and error rate, cache hit rate and mean cost per request.

From captured payloads, when a `PayloadSource` is given (`observe/stored_payloads.py` reads
and decrypts the `payloads` table): the refusal rate and the language mix of responses
(`observe/text_signals.py`), and with an `Embedder` the shift of the centroid of response
embeddings (MiniLM), with a permutation-test p-value. `steward drift` passes both; the alert
evaluator passes neither, since embedding hundreds of responses every evaluation would cost
seconds of CPU each time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from steward.observe.stats import Summary, ks_2samp, permutation_test, summarise
from steward.observe.text_signals import is_refusal, language_mix, total_variation
from steward.storage.aggregates import SampleColumn, Window, WindowCounts, sample, window_counts
from steward.types import JSONObject

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from sqlalchemy.engine import Engine

__all__ = [
    "DISTRIBUTIONS",
    "DistributionDrift",
    "DriftReport",
    "Embedder",
    "EmbeddingDrift",
    "PayloadSource",
    "RateDrift",
    "TextDrift",
    "drift_report",
    "drift_windows",
]

DISTRIBUTIONS: tuple[SampleColumn, ...] = ("input_tokens", "output_tokens")
DEFAULT_SAMPLE_LIMIT = 5_000
DEFAULT_TEXT_LIMIT = 256


class PayloadSource(Protocol):
    """Decrypted response texts of a window's records (newest first, at most `limit`)."""

    def response_texts(self, window: Window, *, limit: int) -> Sequence[str]: ...


class Embedder(Protocol):
    """`steward.embeddings.MiniLM` is one: unit vectors, one row per text."""

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...


@dataclass(frozen=True, slots=True)
class DistributionDrift:
    name: SampleColumn
    current: Summary
    baseline: Summary
    ks_statistic: float | None
    """None when either window has no values."""
    ks_p_value: float | None


@dataclass(frozen=True, slots=True)
class RateDrift:
    name: str
    current: float | None
    """None when the window has no records to take it over."""
    baseline: float | None


@dataclass(frozen=True, slots=True)
class EmbeddingDrift:
    current_texts: int
    baseline_texts: int
    centroid_shift: float
    """Euclidean distance between the mean response embeddings (unit vectors: 0 to 2)."""
    p_value: float


@dataclass(frozen=True, slots=True)
class TextDrift:
    """From response texts: refusals and languages (heuristics, see `text_signals`)."""

    current_texts: int
    baseline_texts: int
    refusal_rate: RateDrift
    languages_current: dict[str, float]
    languages_baseline: dict[str, float]
    language_shift: float
    """Total variation distance between the two mixes (0: the same, 1: nothing in common)."""


@dataclass(frozen=True, slots=True)
class DriftReport:
    model: str
    current: Window
    baseline: Window
    current_requests: int
    baseline_requests: int
    distributions: tuple[DistributionDrift, ...]
    rates: tuple[RateDrift, ...]
    text: TextDrift | None = None
    embedding: EmbeddingDrift | None = None

    def max_ks_statistic(self, min_samples: int = 1) -> float | None:
        """The largest KS statistic over distributions with `min_samples` in both windows."""
        stats = [d.ks_statistic for d in self._comparable(min_samples)]
        return max((s for s in stats if s is not None), default=None)

    def min_p_value(self, min_samples: int = 1) -> float | None:
        """The smallest p-value: of the KS tests, and of the embedding shift if measured."""
        values = [d.ks_p_value for d in self._comparable(min_samples)]
        embedding = self.embedding
        if embedding and min(embedding.current_texts, embedding.baseline_texts) >= min_samples:
            values.append(embedding.p_value)
        return min((v for v in values if v is not None), default=None)

    def _comparable(self, min_samples: int) -> list[DistributionDrift]:
        floor = max(min_samples, 1)
        return [d for d in self.distributions if min(d.current.n, d.baseline.n) >= floor]

    def to_json(self) -> JSONObject:
        return {
            "model": self.model,
            "current": _window_json(self.current, self.current_requests),
            "baseline": _window_json(self.baseline, self.baseline_requests),
            "distributions": {d.name: _distribution_json(d) for d in self.distributions},
            "rates": {r.name: {"current": r.current, "baseline": r.baseline} for r in self.rates},
            "text": asdict(self.text) if self.text else None,
            "embedding": asdict(self.embedding) if self.embedding else None,
            "max_ks_statistic": self.max_ks_statistic(),
            "min_p_value": self.min_p_value(),
        }


def drift_windows(
    model: str, now: datetime, current_s: float, baseline_s: float
) -> tuple[Window, Window]:
    """The current window ends at `now`; the baseline ends where the current one starts."""
    start = now - timedelta(seconds=current_s)
    return (
        Window(since=start, until=now, model=model),
        Window(since=start - timedelta(seconds=baseline_s), until=start, model=model),
    )


def drift_report(
    engine: Engine,
    model: str,
    *,
    now: datetime,
    current_s: float = 86_400.0,
    baseline_s: float = 7 * 86_400.0,
    sample_limit: int = DEFAULT_SAMPLE_LIMIT,
    payloads: PayloadSource | None = None,
    embedder: Embedder | None = None,
    permutations: int = 999,
) -> DriftReport:
    current, baseline = drift_windows(model, now, current_s, baseline_s)
    counts = window_counts(engine, current), window_counts(engine, baseline)
    distributions = tuple(
        _distribution(
            name,
            sample(engine, current, name, limit=sample_limit),
            sample(engine, baseline, name, limit=sample_limit),
        )
        for name in DISTRIBUTIONS
    )
    text, embedding = None, None
    if payloads is not None:
        texts = (
            list(payloads.response_texts(current, limit=DEFAULT_TEXT_LIMIT)),
            list(payloads.response_texts(baseline, limit=DEFAULT_TEXT_LIMIT)),
        )
        if all(texts):
            text = _text(*texts)
            if embedder is not None:
                embedding = _embedding(embedder, *texts, permutations)
    return DriftReport(
        model=model,
        current=current,
        baseline=baseline,
        current_requests=counts[0].requests,
        baseline_requests=counts[1].requests,
        distributions=distributions,
        rates=_rates(*counts),
        text=text,
        embedding=embedding,
    )


def _distribution(
    name: SampleColumn, current: list[float], baseline: list[float]
) -> DistributionDrift:
    test = ks_2samp(current, baseline) if current and baseline else None
    return DistributionDrift(
        name=name,
        current=summarise(current),
        baseline=summarise(baseline),
        ks_statistic=test.statistic if test else None,
        ks_p_value=test.p_value if test else None,
    )


def _rates(current: WindowCounts, baseline: WindowCounts) -> tuple[RateDrift, ...]:
    def rate(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    return (
        RateDrift(
            "error_rate",
            rate(current.errors, current.requests),
            rate(baseline.errors, baseline.requests),
        ),
        RateDrift(
            "cache_hit_rate",
            rate(current.cache_hits, current.requests),
            rate(baseline.cache_hits, baseline.requests),
        ),
        RateDrift(
            "cost_per_request_usd",
            current.cost_usd / current.priced if current.priced else None,
            baseline.cost_usd / baseline.priced if baseline.priced else None,
        ),
    )


def _text(now_texts: list[str], then_texts: list[str]) -> TextDrift:
    def refusals(texts: list[str]) -> float:
        return sum(map(is_refusal, texts)) / len(texts)

    now_mix, then_mix = language_mix(now_texts), language_mix(then_texts)
    return TextDrift(
        current_texts=len(now_texts),
        baseline_texts=len(then_texts),
        refusal_rate=RateDrift("refusal_rate", refusals(now_texts), refusals(then_texts)),
        languages_current=now_mix,
        languages_baseline=then_mix,
        language_shift=total_variation(now_mix, then_mix),
    )


def _embedding(
    embedder: Embedder, now_texts: list[str], then_texts: list[str], permutations: int
) -> EmbeddingDrift:
    # Each distinct text is encoded once, in one batch: a text in both windows gets the same
    # vector in both, not two that differ in the last float32 bits with the batch's padding.
    distinct = list(dict.fromkeys([*now_texts, *then_texts]))
    row = {text: i for i, text in enumerate(distinct)}
    vectors = embedder.encode(distinct)
    test = permutation_test(
        vectors[[row[t] for t in now_texts]],
        vectors[[row[t] for t in then_texts]],
        permutations=permutations,
    )
    return EmbeddingDrift(
        current_texts=len(now_texts),
        baseline_texts=len(then_texts),
        centroid_shift=test.statistic,
        p_value=test.p_value,
    )


def _window_json(window: Window, requests: int) -> JSONObject:
    return {
        "since": window.since.isoformat(),
        "until": window.until.isoformat(),
        "requests": requests,
    }


def _distribution_json(d: DistributionDrift) -> JSONObject:
    return {
        "current": asdict(d.current),
        "baseline": asdict(d.baseline),
        "ks_statistic": d.ks_statistic,
        "ks_p_value": d.ks_p_value,
    }
