"""The semantic layer: how close each segment comes, in MiniLM space, to a corpus of known attacks.

The corpus (`corpus.py`) is embedded once, at the first call, and kept on the layer. A
segment's raw score is its best cosine to any corpus entry; `calibrate` maps cosines between
`floor` (unrelated text lands below it) and `ceiling` (paraphrases of an attack land above it)
linearly onto [0, 1], so the layer's score is comparable with the heuristics'.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from steward.guards.embedding import SharedEncoder
from steward.guards.injection.corpus import KNOWN_ATTACKS

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["CEILING", "FLOOR", "SemanticLayer", "calibrate"]

FLOOR = 0.35
CEILING = 0.75
"""Measured with bench/guard_quality.py: ordinary prompts sit mostly below a cosine of 0.35 to
the corpus, and attacks of a technique the corpus holds mostly above 0.6."""


def calibrate(cosine: float, floor: float = FLOOR, ceiling: float = CEILING) -> float:
    return min(1.0, max(0.0, (cosine - floor) / (ceiling - floor)))


class SemanticLayer:
    def __init__(self, encoder: SharedEncoder, corpus: Sequence[str] = KNOWN_ATTACKS) -> None:
        self._encoder = encoder
        self._corpus = tuple(corpus)
        self._matrix: npt.NDArray[np.float32] | None = None

    async def cosines(self, texts: Sequence[str]) -> list[float]:
        """Each text's best cosine similarity to the corpus."""
        if not texts:
            return []
        if self._matrix is None:  # once; kept out of the encoder's memo of recent texts
            self._matrix = await asyncio.to_thread(self._encoder.encode, self._corpus)
        rows = await self._encoder.vectors(texts)
        return [float(v) for v in (rows @ self._matrix.T).max(axis=1)]

    async def scores(self, texts: Sequence[str]) -> list[float]:
        return [calibrate(c) for c in await self.cosines(texts)]
