"""Text as a detector should read it: look-alikes folded, hidden characters removed, payloads decoded.

`normalize(text)` returns the folded text and the other *views* worth scanning: text hidden in
Unicode tag characters, embedded base64 and hex payloads decoded, and the whole text read as
rot13, as leetspeak, backwards and with spaced-out letters joined. Views only feed detection;
the text sent upstream is never the normalised one. `hidden_score` rates the presence of
invisible and bidirectional control characters, which ordinary prompts rarely carry.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
from dataclasses import dataclass

__all__ = ["Normalized", "fold", "normalize", "strip_hidden"]

# The common Cyrillic, Greek and Armenian look-alikes of Latin letters (NFKC already maps
# fullwidth and mathematical letters to ASCII).
_CONFUSABLES: dict[int, str] = {
    **dict.fromkeys(
        (
            0x430,
            0x251,
        ),
        "a",
    ),
    **dict.fromkeys((0x435,), "e"),
    **dict.fromkeys(
        (
            0x43E,
            0x3BF,
            0x585,
        ),
        "o",
    ),
    **dict.fromkeys((0x440,), "p"),
    **dict.fromkeys((0x441,), "c"),
    **dict.fromkeys((0x443,), "y"),
    **dict.fromkeys((0x445,), "x"),
    **dict.fromkeys(
        (
            0x456,
            0x3B9,
        ),
        "i",
    ),
    **dict.fromkeys((0x458,), "j"),
    **dict.fromkeys((0x455,), "s"),
    **dict.fromkeys((0x501,), "d"),
    **dict.fromkeys((0x51B,), "q"),
    **dict.fromkeys((0x51D,), "w"),
    **dict.fromkeys(
        (
            0x4BB,
            0x570,
        ),
        "h",
    ),
    **dict.fromkeys((0x4CF,), "l"),
    **dict.fromkeys((0x3BD,), "v"),
    **dict.fromkeys((0x3C4,), "t"),
    **dict.fromkeys((0x43A,), "k"),
    **dict.fromkeys((0x43C,), "m"),
    **dict.fromkeys((0x432,), "b"),
    **dict.fromkeys(
        (
            0x410,
            0x391,
        ),
        "A",
    ),
    **dict.fromkeys(
        (
            0x412,
            0x392,
        ),
        "B",
    ),
    **dict.fromkeys(
        (
            0x415,
            0x395,
        ),
        "E",
    ),
    **dict.fromkeys(
        (
            0x41A,
            0x39A,
        ),
        "K",
    ),
    **dict.fromkeys(
        (
            0x41C,
            0x39C,
        ),
        "M",
    ),
    **dict.fromkeys(
        (
            0x41D,
            0x397,
        ),
        "H",
    ),
    **dict.fromkeys(
        (
            0x41E,
            0x39F,
        ),
        "O",
    ),
    **dict.fromkeys(
        (
            0x420,
            0x3A1,
        ),
        "P",
    ),
    **dict.fromkeys((0x421,), "C"),
    **dict.fromkeys(
        (
            0x422,
            0x3A4,
        ),
        "T",
    ),
    **dict.fromkeys(
        (
            0x425,
            0x3A7,
        ),
        "X",
    ),
    **dict.fromkeys((0x405,), "S"),
    **dict.fromkeys(
        (
            0x406,
            0x399,
        ),
        "I",
    ),
    **dict.fromkeys((0x408,), "J"),
    **dict.fromkeys((0x51C,), "W"),
    **dict.fromkeys((0x396,), "Z"),
    **dict.fromkeys((0x39D,), "N"),
    **dict.fromkeys((0x3A5,), "Y"),
    **dict.fromkeys((0x57D,), "u"),
    **dict.fromkeys((0x581,), "g"),
    **dict.fromkeys((0x578,), "n"),
}
_INVISIBLE = re.compile("[\u00ad\u180e\u200b\u200c\u2060-\u2064\ufeff\ufe00-\ufe0f]")
_ZWJ = "\u200d"
_BIDI = re.compile("[\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")
_TAGS = re.compile("[\U000e0000-\U000e007f]+")
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])")
_HEX = re.compile(r"(?<![0-9A-Fa-f])(?:(?:\\x|0x)?[0-9A-Fa-f]{2}[ :]?){12,}")
_SPACED = re.compile(r"(?<!\S)(?:\S {1,2}){5,}\S(?!\S)")
_LEET = str.maketrans(
    {"4": "a", "@": "a", "3": "e", "1": "i", "!": "i", "0": "o", "5": "s", "$": "s", "7": "t"}
)
_LEET_WORD = re.compile(r"\b(?=\w*[a-z])(?=\w*[013457])\w{3,}\b", re.IGNORECASE)
_MIN_PRINTABLE = 0.9
_TRIGGER = re.compile(
    r"\b(?:ignore|disregard|forget|instructions?|rules|system|prompt|reply|respond|output|"
    r"reveal|print|answer|assistant|override|pretend|mode|follow|obey)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Normalized:
    """`text` folded; `decoded` payloads found inside it (scanned by every layer); `views`
    re-readings of the whole text (scanned by the heuristics only); `hidden_score` in [0, 1]."""

    text: str
    decoded: tuple[str, ...] = ()
    views: tuple[str, ...] = ()
    hidden_score: float = 0.0
    hidden: tuple[str, ...] = ()


def strip_hidden(text: str) -> str:
    """`text` without tag characters, zero-width characters and bidi controls."""
    return _INVISIBLE.sub("", _BIDI.sub("", _TAGS.sub("", text))).replace(_ZWJ, "")


def fold(text: str) -> str:
    """NFKC, look-alikes to ASCII, invisible and bidi controls removed."""
    return unicodedata.normalize("NFKC", strip_hidden(text)).translate(_CONFUSABLES)


def normalize(text: str) -> Normalized:
    hidden: list[str] = []
    score = 0.0
    tagged = _TAGS.findall(text)
    decoded: list[str] = []
    if tagged:
        hidden.append("tag characters")
        score = 0.9  # no prompt has a reason to carry invisible ASCII
        decoded += ["".join(chr(ord(c) - 0xE0000) for c in run) for run in tagged]
    if _BIDI.search(text):
        hidden.append("bidi controls")
        score = max(score, 0.5)
    if _INVISIBLE.search(text) or _zwj_outside_emoji(text):
        hidden.append("zero-width characters")
        score = max(score, 0.3)
    folded = fold(text)
    decoded += _payloads(folded)
    return Normalized(folded, tuple(decoded), _views(folded), score, tuple(hidden))


def _zwj_outside_emoji(text: str) -> bool:
    """A zero-width joiner between letters (emoji sequences use it between pictographs)."""
    start = 0
    while (i := text.find(_ZWJ, start)) >= 0:
        before, after = text[i - 1 : i], text[i + 1 : i + 2]
        if before.isalnum() or after.isalnum():
            return True
        start = i + 1
    return False


def _payloads(text: str) -> list[str]:
    found: list[str] = []
    for match in _BASE64.finditer(text):
        token = match.group(0)
        if token.isalpha() or token.isdigit():
            continue  # a long word or number, not an encoding
        found += _printable(_b64(token))
    for match in _HEX.finditer(text):
        digits = re.sub(r"\\x|0x|[ :]", "", match.group(0))
        try:
            found += _printable(bytes.fromhex(digits[: len(digits) // 2 * 2]))
        except ValueError:
            continue
    return found


def _b64(token: str) -> bytes:
    try:
        return base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
    except (binascii.Error, ValueError):
        return b""


def _printable(raw: bytes) -> list[str]:
    if len(raw) < 8:
        return []
    text = raw.decode("utf-8", errors="replace")
    printable = sum(c.isprintable() or c in "\n\t" for c in text)
    letters = sum(c.isalpha() or c == " " for c in text)
    if printable / len(text) < _MIN_PRINTABLE or letters / len(text) < 0.6:
        return []
    return [fold(text)]


def _views(text: str) -> tuple[str, ...]:
    """Re-readings that hold at least one word an instruction would (an ordinary text read as
    rot13 or backwards is gibberish, so most views cost one search and are dropped)."""
    views = [v for v in (codecs.encode(text, "rot13"), text[::-1]) if _TRIGGER.search(v)]
    if _LEET_WORD.search(text):
        views.append(_LEET_WORD.sub(lambda m: m.group(0).translate(_LEET), text))
        views = views if _TRIGGER.search(views[-1]) else views[:-1]
    if _SPACED.search(text):
        views.append(
            _SPACED.sub(
                lambda m: m.group(0).replace("  ", "\0").replace(" ", "").replace("\0", " "), text
            )
        )
    return tuple(views)
