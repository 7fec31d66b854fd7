"""The confidence score of an answer, in [0, 1], and the signals it is made of.

    base       = geometric mean of the signals present, 1.0 when none is:
                   token probability  exp(mean(logprob of each generated token)), the geometric
                                      mean of the tokens' probabilities (`confidence.logprobs`)
                   agreement          the share of `samples` extra answers that, normalised, equal
                                      the answer (`confidence.samples`)
    confidence = base x schema x refusal x leak
                   schema   1.0 valid as given (or no schema), 0.85 repaired, 0.7 valid only
                            after a re-ask, 0.0 invalid
                   refusal  0.3 when the answer is a refusal, else 1.0
                   leak     0.5 when a leak (PII, canary, system prompt) was flagged, else 1.0

Without logprobs or samples the score reflects the checks alone, so a clean answer scores 1.0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import orjson

from steward.types import JSONObject

__all__ = [
    "SCHEMA_FACTORS",
    "Signals",
    "agreement",
    "confidence",
    "normalise_answer",
    "token_logprobs",
    "token_probability",
]

SchemaState = Literal["none", "valid", "repaired", "reasked", "invalid"]
SCHEMA_FACTORS: dict[SchemaState, float] = {
    "none": 1.0,
    "valid": 1.0,
    "repaired": 0.85,
    "reasked": 0.7,
    "invalid": 0.0,
}
REFUSAL_FACTOR = 0.3
LEAK_FACTOR = 0.5
_MIN_LOGPROB = -50.0
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Signals:
    """What the score is computed from; None means the signal was not measured."""

    token_probability: float | None = None
    agreement: float | None = None
    schema: SchemaState = "none"
    refusal: bool = False
    leak: bool = False


def confidence(signals: Signals) -> float:
    present = [s for s in (signals.token_probability, signals.agreement) if s is not None]
    base = math.prod(present) ** (1.0 / len(present)) if present else 1.0
    score = base * SCHEMA_FACTORS[signals.schema]
    if signals.refusal:
        score *= REFUSAL_FACTOR
    if signals.leak:
        score *= LEAK_FACTOR
    return round(min(1.0, max(0.0, score)), 4)


def token_logprobs(body: JSONObject) -> list[float]:
    """The first choice's token log-probabilities (`choices[0].logprobs.content[*].logprob`)."""
    choices = body.get("choices") or []
    logprobs = choices[0].get("logprobs") if choices and isinstance(choices[0], dict) else None
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(content, list):
        return []
    values = [t.get("logprob") for t in content if isinstance(t, dict)]
    return [
        max(_MIN_LOGPROB, float(v))
        for v in values
        if isinstance(v, int | float) and not math.isnan(v)
    ]


def token_probability(logprobs: Sequence[float]) -> float | None:
    """The geometric mean of the tokens' probabilities; None without tokens."""
    if not logprobs:
        return None
    return math.exp(min(0.0, sum(logprobs) / len(logprobs)))


def normalise_answer(text: str) -> str:
    """JSON in canonical form (sorted keys); other text lowercased, spaces collapsed, trimmed."""
    try:
        return orjson.dumps(orjson.loads(text), option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONDecodeError:
        return _SPACE.sub(" ", text).strip().strip(".!").lower()


def agreement(answer: str, samples: Sequence[str]) -> float | None:
    """The share of samples equal to the answer once normalised; None without samples."""
    if not samples:
        return None
    target = normalise_answer(answer)
    return sum(normalise_answer(s) == target for s in samples) / len(samples)
