"""Cheap signals in response text, for drift: refusals and language. Heuristics, documented.

- **Refusal**: the first 300 characters (lower-cased, curly apostrophes straightened) contain
  one of `REFUSAL_PHRASES` ("i can't help", "i'm unable to", "as an ai", ...). It misses polite
  deflections and flags the odd answer that quotes a refusal; what it is good for is a change
  in the rate between two windows, not the rate itself.
- **Language**: the Unicode script most of the letters are in (Cyrillic, Greek, Hebrew, Arabic,
  Devanagari, Thai, Hangul as `ko`, kana as `ja`, other Han as `zh`). Latin text is told apart
  by function words: the language among en, es, fr, de, pt and it whose dozen commonest words
  make up the largest share of the text's words (at least 8 %), else `latin`. English has a
  few more ("i", "but", "can", ...) so that short answers such as "I'm sorry, but I can't"
  count. Text without letters is `none`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from types import MappingProxyType

__all__ = [
    "REFUSAL_PHRASES",
    "is_refusal",
    "language",
    "language_mix",
    "total_variation",
]

REFUSAL_PHRASES = (
    "i can't help",
    "i cannot help",
    "i can't assist",
    "i cannot assist",
    "i can't provide",
    "i cannot provide",
    "i can't do that",
    "i'm not able to",
    "i am not able to",
    "i'm unable to",
    "i am unable to",
    "i won't be able to",
    "i must decline",
    "i'm sorry, but i",
    "i am sorry, but i",
    "i apologize, but i",
    "as an ai",
)
_HEAD_CHARS = 300
_SCRIPTS = (
    (0x0370, 0x03FF, "el"),
    (0x0400, 0x04FF, "cyrillic"),
    (0x0590, 0x05FF, "he"),
    (0x0600, 0x06FF, "ar"),
    (0x0900, 0x097F, "hi"),
    (0x0E00, 0x0E7F, "th"),
    (0x3040, 0x30FF, "ja"),
    (0x4E00, 0x9FFF, "zh"),
    (0xAC00, 0xD7AF, "ko"),
)
# fmt: off
_FUNCTION_WORDS: Mapping[str, frozenset[str]] = MappingProxyType({
    "en": frozenset({"the", "and", "is", "of", "to", "in", "that", "it", "you", "for", "with",
                     "this", "are", "i", "but", "not", "can", "be", "have", "your", "on"}),
    "es": frozenset({"el", "la", "de", "que", "y", "en", "los", "es", "por", "las", "una", "para",
                     "con"}),
    "fr": frozenset({"le", "la", "les", "de", "et", "est", "que", "une", "des", "pas", "pour",
                     "dans", "vous"}),
    "de": frozenset({"der", "die", "das", "und", "ist", "nicht", "ein", "eine", "zu", "mit", "ich",
                     "sie", "den"}),
    "pt": frozenset({"o", "a", "de", "que", "e", "do", "da", "em", "um", "não", "uma", "os",
                     "para"}),
    "it": frozenset({"il", "di", "che", "e", "la", "per", "un", "non", "una", "sono", "gli",
                     "del"}),
})
# fmt: on
_MIN_FUNCTION_SHARE = 0.08
_WORD = re.compile(r"[^\W\d_]+")


def is_refusal(text: str) -> bool:
    head = text[:_HEAD_CHARS].lower().replace("\u2019", "'")
    return any(phrase in head for phrase in REFUSAL_PHRASES)


def language(text: str) -> str:
    scripts: Counter[str] = Counter()
    for char in text:
        if char.isalpha():
            scripts[_script(ord(char))] += 1
    if not scripts:
        return "none"
    dominant = scripts.most_common(1)[0][0]
    if dominant == "zh" and scripts["ja"]:
        return "ja"  # Japanese mixes kanji with kana
    return _latin_language(text) if dominant == "latin" else dominant


def language_mix(texts: Iterable[str]) -> dict[str, float]:
    """The share of texts in each language, largest first."""
    counts = Counter(language(t) for t in texts)
    total = sum(counts.values())
    return {lang: n / total for lang, n in counts.most_common()} if total else {}


def total_variation(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """Half the L1 distance between two mixes: 0 when equal, 1 when they share nothing."""
    return 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in p.keys() | q.keys())


def _script(code: int) -> str:
    for low, high, name in _SCRIPTS:
        if low <= code <= high:
            return name
    return "latin" if code < 0x0370 or 0x1E00 <= code <= 0x1EFF else "other"


def _latin_language(text: str) -> str:
    words = _WORD.findall(text.lower())
    if not words:
        return "latin"
    shares = {
        lang: sum(w in vocabulary for w in words) / len(words)
        for lang, vocabulary in _FUNCTION_WORDS.items()
    }
    best = max(shares, key=lambda lang: shares[lang])
    return best if shares[best] >= _MIN_FUNCTION_SHARE else "latin"
