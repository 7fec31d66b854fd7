"""Puts the real values back where the model repeated a pseudonym (`<PERSON_1>`), in whole
answers and in streams, where a placeholder can arrive split over several chunks."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from steward.types import JSONObject

__all__ = ["PseudonymRestorer", "restore_completion", "restore_text", "stream_rewriter"]

_PLACEHOLDER = re.compile(r"<[A-Z_]+_\d+>")
_LONGEST = 40
"""No placeholder is longer than this; a `<` further back than this cannot start one."""


def restore_text(text: str, pseudonyms: Mapping[str, str]) -> str:
    if "<" not in text:
        return text
    return _PLACEHOLDER.sub(lambda m: pseudonyms.get(m.group(0), m.group(0)), text)


class PseudonymRestorer:
    """Feed stream text deltas in order; each `feed` returns what can be sent now. A `<` that
    may start a placeholder is held back until it is complete or cannot be one; `flush` returns
    whatever is still held when the stream ends."""

    def __init__(self, pseudonyms: Mapping[str, str]) -> None:
        self._pseudonyms = pseudonyms
        self._held = ""

    def feed(self, delta: str) -> str:
        text = self._held + delta
        cut = _hold_from(text)
        self._held = text[cut:]
        return restore_text(text[:cut], self._pseudonyms)

    def flush(self) -> str:
        held, self._held = self._held, ""
        return restore_text(held, self._pseudonyms)


def _hold_from(text: str) -> int:
    """Where the unfinished tail begins: the last `<` with no `>` after it, if it is recent
    enough and could still become a placeholder."""
    start = text.rfind("<")
    if start == -1 or ">" in text[start:] or len(text) - start > _LONGEST:
        return len(text)
    tail = text[start + 1 :]
    if tail and not re.fullmatch(r"[A-Z_]*\d*", tail):
        return len(text)
    return start


def restore_completion(body: JSONObject, pseudonyms: Mapping[str, str]) -> JSONObject:
    """A non-streamed answer with the real values back in every choice's content."""
    for choice in body.get("choices") or ():
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            message["content"] = restore_text(message["content"], pseudonyms)
    return body


def stream_rewriter(pseudonyms: Mapping[str, str]) -> Callable[[JSONObject], JSONObject]:
    """A `ChatStream.rewrite` function: restores deltas of the first choice, holding back a
    placeholder split across chunks and releasing it with the chunk that finishes the choice."""
    restorer = PseudonymRestorer(pseudonyms)

    def rewrite(chunk: JSONObject) -> JSONObject:
        choices = chunk.get("choices")
        if not choices or not isinstance(choices[0], dict):
            return chunk
        choice = choices[0]
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return chunk
        text = delta.get("content")
        out = restorer.feed(text) if isinstance(text, str) else ""
        if choice.get("finish_reason"):
            out += restorer.flush()
        if isinstance(text, str) or out:
            delta["content"] = out
        return chunk

    return rewrite
