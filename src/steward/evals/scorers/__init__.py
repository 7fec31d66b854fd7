"""Scorers: what judges one model output for one dataset item, and how a run names them."""

from __future__ import annotations

from steward.evals.scorers.base import Scorer, ScorerFactory
from steward.evals.scorers.json import JsonSchemaScorer, JsonScorer
from steward.evals.scorers.judge import DEFAULT_RUBRIC, Completer, JudgeScorer
from steward.evals.scorers.numeric import NumericScorer, Tolerance, extract_number
from steward.evals.scorers.registry import (
    ENTRY_POINT_GROUP,
    ScorerRegistry,
    ScorerSpec,
    build_scorers,
)
from steward.evals.scorers.semantic import Encoder, LazyEncoder, SemanticScorer
from steward.evals.scorers.text import ContainsScorer, ExactScorer, RegexScorer
from steward.evals.scorers.verdict import Verdict, parse_verdict

__all__ = [
    "DEFAULT_RUBRIC",
    "ENTRY_POINT_GROUP",
    "Completer",
    "ContainsScorer",
    "Encoder",
    "ExactScorer",
    "JsonSchemaScorer",
    "JsonScorer",
    "JudgeScorer",
    "LazyEncoder",
    "NumericScorer",
    "RegexScorer",
    "Scorer",
    "ScorerFactory",
    "ScorerRegistry",
    "ScorerSpec",
    "SemanticScorer",
    "Tolerance",
    "Verdict",
    "build_scorers",
    "extract_number",
    "parse_verdict",
]
