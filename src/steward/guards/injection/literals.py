"""Literals that every match of a pattern contains, so a rule can be skipped with a substring
test instead of a regex search.

Python's `re` tries a rule's leading alternation at every word boundary of the text: the
heuristic layer's rules cost about 2.5 ms on 1,000 characters, nearly all of it on texts none
of them matches. `needles` reads a compiled pattern's syntax tree and returns strings of which
each match holds at least one ("instruction" or "rule" or ... for the override rule); a text
that holds none of them cannot match, and testing the substrings with `in` costs a small
fraction of the search. The test is only ever a shortcut: a rule whose needles are present
still runs its regex, and one without usable needles always runs.

Case: for a case-insensitive pattern, needles and text are compared `caseless`-mapped, which maps any
two characters that `re.IGNORECASE` matches to each other onto the same character (simple
lower case, then `re`'s own table of extra equivalences such as dotless and dotted i).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["MIN_LENGTH", "Needles", "caseless", "needles"]

MIN_LENGTH = 3
"""Needles shorter than this rule out too little to be worth a test."""
_LIMIT = 256
"""The most strings a set of exact matches may hold before it is given up."""
PREFIX = 10
"""Needles are cut to this many characters."""
_SETS = 3
"""Sets kept per pattern: each holds strings to test, and two or three rule out most text."""
_RARE = 6
"""Needles this long are rare enough in ordinary text; past it, fewer needles beat longer."""

_PARSER: Any = None
_OPS: Any = None
_CANON: dict[int, str] = {}
try:  # the regex parser's internals (Python 3.11+)
    _PARSER = importlib.import_module("re._parser")
    _OPS = importlib.import_module("re._constants")
    for _lower, _others in importlib.import_module("re._casefix")._EXTRA_CASES.items():
        _group = sorted({chr(_lower), *map(chr, _others)})
        _CANON.update(dict.fromkeys(map(ord, _group), _group[0]))
except (ImportError, AttributeError):  # a Python without them: every rule runs, unfiltered
    _PARSER = None


def caseless(text: str) -> str:
    """`text` with each character replaced by a representative of the characters that
    `re.IGNORECASE` takes for equal (length kept)."""
    if text.isascii():
        return text.lower()
    # str.lower is the full lower case; re compares simple lower cases, which differ only for
    # U+0130 ('İ' lowers to 'i' + a combining dot).
    return text.replace("\u0130", "i").lower().translate(_CANON)


class _Info:
    """What the parser learns of a part of a pattern: every string it can match (`exact`,
    when few), or sets of strings such that each of its matches contains a string of every
    set (`required`: a conjunction of disjunctions)."""

    __slots__ = ("exact", "required")

    def __init__(
        self, exact: frozenset[str] | None = None, required: tuple[frozenset[str], ...] = ()
    ) -> None:
        self.exact = exact
        self.required = required

    def one(self) -> frozenset[str] | None:
        """The most selective single set of strings every match holds one of."""
        if self.exact is not None:
            return _usable(self.exact)
        return _ranked(self.required)[0] if self.required else None


_EMPTY = _Info(frozenset({""}))
_UNKNOWN = _Info()


def needles(pattern: re.Pattern[str]) -> tuple[frozenset[str], ...]:
    """Sets of strings (folded if `pattern` ignores case) such that every match holds a string
    of each set, at most `_SETS` of them, each string at least `MIN_LENGTH` long; empty when
    none is found."""
    if _PARSER is None:
        return ()
    try:
        tree = _PARSER.parse(pattern.pattern, pattern.flags)
    except Exception:  # an unparseable pattern is simply not pre-filtered
        return ()
    info = _sequence(list(tree), bool(pattern.flags & re.IGNORECASE))
    if info.exact is not None:
        found = _usable(info.exact)
        return (found,) if found is not None else ()
    return info.required


def _usable(found: frozenset[str]) -> frozenset[str] | None:
    if not found or min(map(len, found)) < MIN_LENGTH:
        return None
    # A match holding a needle holds each of its parts: cut to `PREFIX` characters, the set
    # shrinks (many strings share a start). A string containing another of the set is
    # implied by it: one test covers both.
    cut = {s[:PREFIX] for s in found}
    return frozenset(s for s in cut if not any(o != s and o in s for o in cut))


def _ranked(sets: Iterable[frozenset[str]]) -> tuple[frozenset[str], ...]:
    """The sets, most selective first, at most `_SETS`: the longer the shortest string (the
    rarer, roughly) up to `_RARE` characters, then the fewer strings (each is a test)."""
    unique = set(sets)
    order = sorted(unique, key=lambda s: (-min(_RARE, *map(len, s)), len(s), sorted(s)))
    return tuple(order[:_SETS])


def _sequence(items: Sequence[tuple[Any, Any]], ignore_case: bool) -> _Info:
    run: frozenset[str] | None = frozenset({""})
    complete = True
    candidates: list[frozenset[str] | None] = []
    for op, value in items:
        info = _node(op, value, ignore_case)
        if info.exact is not None and run is not None and len(run) * len(info.exact) <= _LIMIT:
            run = frozenset(a + b for a in run for b in info.exact)
            continue
        complete = False
        if run is not None:
            candidates.append(_usable(run))
        run = info.exact
        candidates += info.required
    if complete and run is not None:
        return _Info(exact=run)
    if run is not None:
        candidates.append(_usable(run))
    return _Info(required=_ranked(c for c in candidates if c is not None))


def _node(op: Any, value: Any, ignore_case: bool) -> _Info:
    o = _OPS
    if op is o.LITERAL:
        char = chr(value)
        return _Info(frozenset({caseless(char) if ignore_case else char}))
    if op is o.IN:
        return _charset(value, ignore_case)
    if op in (o.AT, o.ASSERT, o.ASSERT_NOT):
        return _EMPTY  # zero width; what a lookaround asks is ignored, which is safe
    if op is o.SUBPATTERN:
        _group, add_flags, del_flags, inner = value
        if add_flags or del_flags:
            return _UNKNOWN
        return _sequence(list(inner), ignore_case)
    if op is o.BRANCH:
        return _branch(value[1], ignore_case)
    if op in (o.MAX_REPEAT, o.MIN_REPEAT):
        return _repeat(value, ignore_case)
    return _UNKNOWN  # any character, categories, backreferences, atomic groups...


def _charset(items: Sequence[tuple[Any, Any]], ignore_case: bool) -> _Info:
    chars: set[str] = set()
    for op, value in items:
        if op is not _OPS.LITERAL:
            return _UNKNOWN  # ranges, categories, negation
        chars.add(caseless(chr(value)) if ignore_case else chr(value))
    return _Info(frozenset(chars)) if len(chars) <= 8 else _UNKNOWN


def _branch(branches: Sequence[Any], ignore_case: bool) -> _Info:
    infos = [_sequence(list(b), ignore_case) for b in branches]
    if all(info.exact is not None for info in infos):
        exact = frozenset().union(*(info.exact or () for info in infos))
        if len(exact) <= _LIMIT:
            return _Info(exact=exact)
    # Each match is one branch's: it holds a string of that branch's best set.
    required: set[str] = set()
    for info in infos:
        found = info.one()
        if found is None:
            return _UNKNOWN
        required |= found
    return _Info(required=(frozenset(required),))


def _repeat(value: Any, ignore_case: bool) -> _Info:
    low, high, inner = value
    info = _sequence(list(inner), ignore_case)
    if info.exact is not None and high <= 2:
        exact = {""} if low == 0 else set()
        power = frozenset({""})
        for count in range(1, high + 1):
            power = frozenset(a + b for a in power for b in info.exact)
            if count >= low:
                exact |= power
        if len(exact) <= _LIMIT:
            return _Info(exact=frozenset(exact))
    if low == 0:
        return _UNKNOWN
    found = info.one() if info.exact is not None else None
    return _Info(required=(found,) if found is not None else info.required)


def _trie(strings: Iterable[str]) -> str:
    """A regex matching any of `strings`, factored by common prefixes so that `re` tries a
    few characters at each position rather than every string; it matches the longest."""
    root: dict[str, Any] = {}
    for string in strings:
        node = root
        for char in string:
            node = node.setdefault(char, {})
        node[""] = {}

    def pattern(node: dict[str, Any]) -> str:
        ends = "" in node
        branches = [re.escape(c) + pattern(child) for c, child in sorted(node.items()) if c]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if ends:
            return body + "?" if len(branches) == 1 and len(branches[0]) == 1 else f"(?:{body})?"
        return body

    return pattern(root)


class Needles:
    """Per pattern, its needles; `possible(text)` tells which patterns may match `text`."""

    def __init__(self, patterns: Sequence[re.Pattern[str]]) -> None:
        self._sets = [needles(p) for p in patterns]
        folded = [bool(p.flags & re.IGNORECASE) for p in patterns]
        every = {
            (f, n) for sets, f in zip(self._sets, folded, strict=True) for s in sets for n in s
        }
        self._scans = [(f, *self._scanner({n for g, n in every if g == f})) for f in (True, False)]

    @staticmethod
    def _scanner(strings: set[str]) -> tuple[re.Pattern[str] | None, dict[str, list[str]]]:
        """One search for all `strings` at every position, longest first; a found string also
        stands for the strings that are prefixes of it."""
        if not strings:
            return None, {}
        implied = {s: [s[:k] for k in range(1, len(s) + 1) if s[:k] in strings] for s in strings}
        return re.compile(f"(?=({_trie(strings)}))", re.DOTALL), implied

    @property
    def sets(self) -> list[tuple[frozenset[str], ...]]:
        return list(self._sets)

    def possible(self, text: str) -> list[bool]:
        """Per pattern, False when `text` lacks a string of one of its sets (so it cannot
        match)."""
        present: set[str] = set()
        for folded, scanner, implied in self._scans:
            if scanner is not None:
                for found in set(scanner.findall(caseless(text) if folded else text)):
                    present.update(implied[found])
        return [all(not present.isdisjoint(s) for s in sets) for sets in self._sets]
