"""Repairing the JSON models commonly get wrong: fences, prose, commas, quotes, literals, cut-offs.

`repair_json` tries the text as it is first; then it takes the fenced block (```json ... ```) or
the span from the first `{`/`[` to the last `}`/`]`, and rewrites it with one scan that turns
single-quoted strings into double-quoted ones, Python's `True`/`False`/`None` into JSON's,
drops commas before a closing bracket, and closes what a truncated answer left open (a string,
a dangling key or comma, every open array and object). The result is parsed again; `None`
means it still is not JSON.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

__all__ = ["Repair", "repair_json"]

_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)(?:```|\Z)", re.DOTALL)
_LITERALS = {"True": "true", "False": "false", "None": "null"}
_CLOSERS = {"{": "}", "[": "]"}


@dataclass(frozen=True, slots=True)
class Repair:
    """A parsed answer, the JSON text it was parsed from, and the fixes that took."""

    value: object
    text: str
    fixes: tuple[str, ...]


def repair_json(text: str) -> Repair | None:
    """The answer as JSON, repaired if needed; None when no repair makes it JSON."""
    stripped = text.strip()
    value = _loads(stripped)
    if value is not _INVALID:
        return Repair(value, stripped, ())
    fixes: list[str] = []
    candidate = stripped
    fenced = _FENCE.search(candidate)
    if fenced is not None:
        candidate = fenced.group(1).strip()
        fixes.append("fence")
    outermost = _outermost(candidate, fixes)
    if outermost is None:
        return None
    candidate = outermost
    value = _loads(candidate)
    if value is not _INVALID:
        return Repair(value, candidate, tuple(fixes))
    scanned = _Scanner(candidate).run()
    fixes.extend(scanned.fixes)
    value = _loads(scanned.text)
    if value is _INVALID:
        return None
    return Repair(value, scanned.text, tuple(fixes))


_INVALID = object()


def _loads(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return _INVALID


def _outermost(text: str, fixes: list[str]) -> str | None:
    """From the first opening bracket to the last closing one (or to the end, if cut off)."""
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        return None
    start = min(starts)
    end = max(text.rfind("}"), text.rfind("]"))
    span = text[start : end + 1] if end > start else text[start:]
    if span != text:
        fixes.append("prose")
    return span


@dataclass(slots=True)
class _Scanned:
    text: str
    fixes: list[str]


class _Scanner:
    """One pass over almost-JSON, rewriting it as JSON; see the module docstring."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._out: list[str] = []
        self._stack: list[str] = []
        self._fixes: list[str] = []
        self._key_open = False
        """The last thing written is an object key not yet followed by a colon."""

    def _fix(self, name: str) -> None:
        if name not in self._fixes:
            self._fixes.append(name)

    def run(self) -> _Scanned:
        text, i = self._text, 0
        while i < len(text):
            char = text[i]
            if char in "\"'":
                i = self._string(i, char)
                continue
            if char.isalpha() or char == "_":
                i = self._word(i)
                continue
            self._punctuation(char)
            i += 1
        self._close()
        return _Scanned("".join(self._out), self._fixes)

    def _string(self, start: int, quote: str) -> int:
        if quote == "'":
            self._fix("single_quotes")
        self._key_open = bool(self._stack) and self._stack[-1] == "{" and self._last() in "{,"
        text, i = self._text, start + 1
        parts = ['"']
        while i < len(text):
            char = text[i]
            if char == "\\" and i + 1 < len(text):
                nxt = text[i + 1]
                parts.append(nxt if nxt == "'" else char + nxt)
                i += 2
                continue
            if char == quote:
                parts.append('"')
                self._out.append("".join(parts))
                return i + 1
            parts.append('\\"' if char == '"' else "\\n" if char == "\n" else char)
            i += 1
        self._fix("truncation")
        parts.append('"')
        self._out.append("".join(parts))
        return i

    def _word(self, start: int) -> int:
        text, i = self._text, start
        while i < len(text) and (text[i].isalnum() or text[i] == "_"):
            i += 1
        word = text[start:i]
        if word in _LITERALS:
            self._fix("python_literals")
            word = _LITERALS[word]
        self._out.append(word)
        self._key_open = False
        return i

    def _punctuation(self, char: str) -> None:
        if char in "{[":
            self._stack.append(char)
        elif char in "}]":
            self._drop_trailing_comma()
            if self._stack and _CLOSERS[self._stack[-1]] == char:
                self._stack.pop()
        if not char.isspace():
            self._key_open = False
        self._out.append(char)

    def _drop_trailing_comma(self, fix: str = "trailing_comma") -> None:
        while self._out and self._out[-1].isspace():
            self._out.pop()
        if self._out and self._out[-1] == ",":
            self._out.pop()
            self._fix(fix)

    def _last(self) -> str:
        """The last character written that is not whitespace ("" at the start)."""
        for piece in reversed(self._out):
            stripped = piece.strip()
            if stripped:
                return stripped[-1]
        return ""

    def _close(self) -> None:
        if not self._stack:
            return
        self._fix("truncation")
        self._drop_trailing_comma("truncation")
        if self._key_open:
            self._out.append(": null")
        elif self._last() == ":":
            self._out.append(" null")
        while self._stack:
            self._out.append(_CLOSERS[self._stack.pop()])
