"""A message cut into segments (lines and sentences, merged up to a size) the guard scores one by
one, so an instruction hidden in a long document stands out and `strip` can remove just it."""

from __future__ import annotations

import re

__all__ = ["MAX_SEGMENT_CHARS", "pick", "segments", "without"]

MAX_SEGMENT_CHARS = 320
"""About 80 tokens: well inside MiniLM's 256, and short enough that one injected sentence is
most of its segment's meaning."""
_MIN_SEGMENT_CHARS = 60
_BREAK = re.compile(r"\n+|(?<=[.!?])\s+(?=\S)")


def segments(text: str) -> list[tuple[int, int]]:
    """Spans of `text`: its sentences and lines, short neighbours merged, long ones cut at a
    space, none empty."""
    pieces: list[tuple[int, int]] = []
    start = 0
    for match in _BREAK.finditer(text):
        pieces += _cut(text, start, match.start())
        start = match.end()
    pieces += _cut(text, start, len(text))
    merged: list[tuple[int, int]] = []
    for begin, end in pieces:
        if merged and (end - merged[-1][0] <= _MIN_SEGMENT_CHARS):
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((begin, end))
    return merged


def _cut(text: str, start: int, end: int) -> list[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    out: list[tuple[int, int]] = []
    while end - start > MAX_SEGMENT_CHARS:
        space = text.rfind(" ", start + MAX_SEGMENT_CHARS // 2, start + MAX_SEGMENT_CHARS)
        stop = space if space > start else start + MAX_SEGMENT_CHARS
        out.append((start, stop))
        start = stop + 1 if space > start else stop
    if end > start:
        out.append((start, end))
    return out


def pick(spans: list[tuple[int, int]], limit: int) -> list[tuple[int, int]]:
    """At most `limit` spans: the first and last halves when there are more (instructions
    planted in documents sit mostly at their start or end)."""
    if len(spans) <= limit:
        return spans
    head = (limit + 1) // 2
    return spans[:head] + spans[len(spans) - (limit - head) :]


def without(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with the spans removed, the rest joined with single spaces or newlines."""
    kept: list[str] = []
    position = 0
    for start, end in sorted(spans):
        kept.append(text[position:start])
        position = end
    kept.append(text[position:])
    joined = "".join(kept)
    return re.sub(r"[ \t]{2,}", " ", re.sub(r"\n{3,}", "\n\n", joined)).strip()
