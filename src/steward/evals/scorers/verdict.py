"""Reading a judge model's verdict out of whatever it answered: JSON, near-JSON or prose."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

__all__ = ["MAX_SCORE", "MIN_SCORE", "Verdict", "parse_verdict"]

MIN_SCORE = 1
MAX_SCORE = 5
_MAX_CANDIDATE_CHARS = 4000
"""Longer brace-delimited spans are not fed to the decoders: a verdict is a short object."""
_REASON_CHARS = 300

_FENCED = re.compile(r"```[ \t]*(?:json)?[ \t]*\n?(.*?)```", re.DOTALL | re.IGNORECASE)
_FLAT_OBJECT = re.compile(r"\{[^{}]*\}")
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_NUMBER = r"(\d+(?:\.\d+)?)"
_SCORE_FIELD = re.compile(
    rf"\b(?:score|rating)\b[\s*\"'_]*(?:[:=]|is|of|was)?[\s*\"'_]*{_NUMBER}"
    rf"(?:\s*(?:/|out\s+of)\s*{_NUMBER})?",
    re.IGNORECASE,
)
_OUT_OF = re.compile(rf"(?<![\d.]){_NUMBER}\s*(?:/|out\s+of)\s*{MAX_SCORE}\b", re.IGNORECASE)
_BARE = re.compile(rf"\A[\s*_\"'`]*{_NUMBER}[\s*_\"'`.]*\Z")
_REASON_FIELD = re.compile(
    r"[\"']?\b(?:reason|reasoning|explanation)\b[\"']?\s*[:=]\s*[\"'](.*?)[\"']\s*(?:[,}]|\Z)",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A judge's score on the 1-5 scale and its reason."""

    score: float
    reason: str


def parse_verdict(answer: str) -> Verdict | None:
    """The verdict in a judge's answer, or None when there is none to be had.

    Tried in order: a JSON object (fenced, the whole answer, or embedded in prose; single
    quotes and trailing commas forgiven) with a `score` field; "score: 4", "Score: 4/5";
    "4 out of 5" or "4/5"; an answer that is a bare number. Scores outside 1-5 do not count.
    """
    for candidate in _object_candidates(answer):
        verdict = _from_object(_decode(candidate))
        if verdict is not None:
            return verdict
    score = _score_in_prose(answer)
    if score is None:
        return None
    reason_match = _REASON_FIELD.search(answer)
    reason = reason_match.group(1) if reason_match else answer
    return Verdict(score=score, reason=_short(reason))


def _object_candidates(answer: str) -> Iterator[str]:
    for fence in _FENCED.finditer(answer):
        yield fence.group(1).strip()
    yield answer.strip()
    for match in _FLAT_OBJECT.finditer(answer):
        yield match.group(0)


def _decode(text: str) -> object:
    """A JSON or Python-literal object from `text`, or None."""
    if len(text) > _MAX_CANDIDATE_CHARS or not text.startswith("{"):
        return None
    repaired = _TRAILING_COMMA.sub(r"\1", text)
    attempts = [repaired] if '"' in repaired else [repaired, repaired.replace("'", '"')]
    for attempt in attempts:
        try:
            return json.loads(attempt)
        except ValueError:
            pass
    try:
        return ast.literal_eval(text)  # single-quoted keys and strings, as Python prints dicts
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _from_object(decoded: object) -> Verdict | None:
    if not isinstance(decoded, Mapping):
        return None
    fields = {str(k).strip().lower(): v for k, v in decoded.items()}
    raw = fields.get("score", fields.get("rating"))
    score = _in_range(raw)
    if score is None:
        return None
    reason = fields.get("reason", fields.get("reasoning", fields.get("explanation", "")))
    return Verdict(score=score, reason=_short(str(reason)))


def _in_range(raw: object) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, str):
        found = _OUT_OF.search(raw) or _BARE.match(raw)
        raw = float(found.group(1)) if found else None
    if isinstance(raw, int | float) and MIN_SCORE <= raw <= MAX_SCORE:
        return float(raw)
    return None


def _score_in_prose(answer: str) -> float | None:
    for match in _SCORE_FIELD.finditer(answer):
        scale = match.group(2)
        if scale is None or float(scale) == MAX_SCORE:
            score = _in_range(float(match.group(1)))
            if score is not None:
                return score
    for pattern in (_OUT_OF, _BARE):
        for match in pattern.finditer(answer):
            score = _in_range(float(match.group(1)))
            if score is not None:
                return score
    return None


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 1] + "…"
