"""Response texts from the `payloads` table, decrypted, as the drift report's `PayloadSource`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from steward.errors import PayloadKeyError
from steward.payloads.sealing import open_row
from steward.storage.aggregates import Window
from steward.storage.payload_samples import recent_payloads
from steward.types import JSONObject

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from sqlalchemy.engine import Engine

    from steward.embeddings import MiniLM
    from steward.payloads.keys import PayloadKeyring

__all__ = ["LazyEmbedder", "StoredPayloads", "response_text"]


class StoredPayloads:
    """Decrypts with the configured keys; rows it cannot open are skipped and counted."""

    def __init__(self, engine: Engine, keyring: PayloadKeyring | None) -> None:
        self._engine = engine
        self._keyring = keyring
        self.unreadable = 0

    def response_texts(self, window: Window, *, limit: int) -> Sequence[str]:
        texts = []
        for row in recent_payloads(self._engine, window, limit=limit):
            try:
                document = open_row(row, self._keyring)
            except PayloadKeyError:
                self.unreadable += 1
                continue
            text = response_text(document)
            if text:
                texts.append(text)
        return texts


def response_text(document: JSONObject) -> str | None:
    """The first choice's message content of a stored (OpenAI-shaped) response, if any."""
    response = document.get("response")
    choices = response.get("choices") if isinstance(response, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, str) and content else None


class LazyEmbedder:
    """The bundled MiniLM, loaded at the first `encode` (about a second): a drift report with
    no payloads to embed never pays for it."""

    def __init__(self) -> None:
        self._model: MiniLM | None = None

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if self._model is None:
            from steward.embeddings import MiniLM

            self._model = MiniLM.load()
        return self._model.encode(texts)
