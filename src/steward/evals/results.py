"""What an evaluation produces: a dataset item, one scorer's verdict on one output, and the
result of one item's repeat. Every other evals module speaks these types."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Item", "ItemResult", "Score"]


@dataclass(frozen=True, slots=True)
class Item:
    """One dataset item: prompt variables or chat messages, an optional expected output, tags.

    Exactly one of `variables` (rendered through a prompt) and `messages` (sent as they are) is
    set. `expected` is whatever the scorers compare against: text, a number or JSON.
    """

    id: str
    variables: Mapping[str, Any] | None = None
    messages: Sequence[Mapping[str, Any]] | None = None
    expected: Any = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Score:
    """A scorer's verdict: `value` (in [0, 1] for bounded scorers) and, for scorers with a
    threshold, `passed`; `detail` says why, for the report."""

    value: float
    passed: bool | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class ItemResult:
    """One repeat of one item in one run. A failed call has `error` set and no scores."""

    item_id: str
    repeat: int
    scores: Mapping[str, Score] = field(default_factory=dict)
    output: str | None = None
    latency_ms: float = 0.0
    cost_usd: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    error: str | None = None
    request_id: str | None = None
