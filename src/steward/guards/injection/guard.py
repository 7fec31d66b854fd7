"""The injection and jailbreak guard: normalisation, heuristics and semantic similarity per
segment of every scanned message, the best layer score against one threshold.

A message's score is the highest of: its hidden-character score (`normalize.py`), the
heuristics on its whole text and its re-readings (rot13, leetspeak, backwards, spaced letters),
and per segment the heuristics and the semantic similarity of the segment and of any payload
decoded inside it. With the judge layer (`judge.py`), a message the others score in the grey
band below the threshold is put to a model, whose P(injection) then counts as a layer score.
`strip` removes the segments at or above the threshold, and empties a message
whose remainder still scores above it (an attack spread over segments).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from steward.config.guards_input import InjectionGuardConfig
from steward.guards.base import Decision, GuardInput, InputVerdict
from steward.guards.embedding import SharedEncoder
from steward.guards.injection.heuristics import score_texts
from steward.guards.injection.judge import JudgeLayer
from steward.guards.injection.normalize import normalize, strip_hidden
from steward.guards.injection.segments import pick, segments, without
from steward.guards.injection.semantic import SemanticLayer

__all__ = ["InjectionGuard", "MessageScore"]

REFUSAL = (
    "The request was blocked by the injection guard; remove instructions aimed at the "
    "assistant from the input, or ask the operator to review the guard's settings."
)

_REMEMBERED = 64
"""Messages whose segments are kept (`InjectionGuard._segments`)."""


@dataclass(slots=True)
class _Segment:
    span: tuple[int, int]
    texts: tuple[str, ...]
    """The folded segment and any payload decoded in it: what the semantic layer embeds."""
    heuristic: float = 0.0
    """Filled in only for `strip`, which must find the segments to remove."""
    semantic: float = 0.0

    @property
    def score(self) -> float:
        return max(self.heuristic, self.semantic)


@dataclass(slots=True)
class MessageScore:
    """One message's layer scores, for the decision's detail and for `strip`."""

    item: GuardInput
    source: str
    hidden: float
    hidden_kinds: tuple[str, ...]
    whole: float
    rules: list[str]
    segments: list[_Segment] = field(default_factory=list)
    judged: float | None = None
    """The judge's P(injection), for a message it was asked about and answered."""
    judge_note: str | None = None
    """Why a message put to the judge has no verdict (timed out, failed, ...)."""

    @property
    def heuristic(self) -> float:
        return self.whole

    @property
    def semantic(self) -> float:
        return max([0.0, *(s.semantic for s in self.segments)])

    @property
    def score(self) -> float:
        return max(self.hidden, self.heuristic, self.semantic, self.judged or 0.0)


class InjectionGuard:
    name = "injection"

    def __init__(self, config: InjectionGuardConfig, encoder: SharedEncoder) -> None:
        self._config = config
        self._scan = frozenset(config.scan)
        self._semantic = SemanticLayer(encoder) if "semantic" in config.layers else None
        self._heuristics = "heuristics" in config.layers
        judge = config.judge if "judge" in config.layers else None
        self._judge = JudgeLayer(judge) if judge is not None else None
        self._cut: OrderedDict[
            tuple[str, int | None], tuple[tuple[tuple[int, int], tuple[str, ...]], ...]
        ] = OrderedDict()

    def refusal(self, decision: Decision) -> str:
        return REFUSAL

    @property
    def overlappable(self) -> bool:
        """Whether it may decide while the upstream call runs: it changes no text (`strip`
        does) and charges nothing to the call (a judge does)."""
        return self._config.action != "strip" and self._judge is None

    def source_of(self, item: GuardInput) -> str:
        """A user turn as long as `document_chars` is content the app pasted in: a document."""
        if item.source == "user" and len(item.text) >= self._config.document_chars:
            return "document"
        return item.source

    async def check(self, inputs: Sequence[GuardInput]) -> InputVerdict:
        started = time.perf_counter()
        scores = await self.score(inputs)
        if self._judge is not None:
            await self._ask_judge(scores)
        best = max(scores, key=lambda s: s.score, default=None)
        top = best.score if best is not None else 0.0
        hit = best is not None and top >= self._config.threshold
        action = self._config.action if hit else "allow"
        replacements = self._strip(scores) if action == "strip" else None
        detail = _detail(best) if best is not None and top > 0 else None
        decision = Decision(
            self.name, action, top, (time.perf_counter() - started) * 1000.0, detail
        )
        return InputVerdict(decision, replacements)

    async def prefetch(self, inputs: Sequence[GuardInput]) -> None:
        """Starts the semantic layer's encode of the segments `check` will score."""
        if self._semantic is None:
            return
        limit = self._config.max_segments
        scanned = [i for i in inputs if self.source_of(i) in self._scan]
        texts = [t for i in scanned for seg in self._segments(i.text, limit) for t in seg.texts]
        await self._semantic.cosines(texts)

    async def score(self, inputs: Sequence[GuardInput]) -> list[MessageScore]:
        """The layer scores of every input this guard scans."""
        scores = [self._prepare(item) for item in inputs if self.source_of(item) in self._scan]
        if self._semantic is not None:
            chosen = [seg for s in scores for seg in s.segments]
            texts = [t for seg in chosen for t in seg.texts]
            cosines = iter(await self._semantic.scores(texts))
            for seg in chosen:
                seg.semantic = max(next(cosines) for _ in seg.texts)
        return scores

    async def _ask_judge(self, scores: list[MessageScore]) -> None:
        """The judge's verdict on the highest-scoring messages in the grey band."""
        assert self._judge is not None
        config = self._judge.config
        band = [s for s in scores if config.band <= s.score < self._config.threshold]
        band = sorted(band, key=lambda s: s.score, reverse=True)[: config.max_messages]
        if not band:
            return
        verdicts = await self._judge.judge([s.item.text for s in band])
        for message, verdict in zip(band, verdicts, strict=True):
            if verdict.score is not None:
                message.judged = verdict.score
            else:
                message.judge_note = verdict.problem
                if config.unavailable == "block":
                    message.judged = 1.0

    def _prepare(self, item: GuardInput) -> MessageScore:
        whole = normalize(item.text)
        texts = [whole.text, *whole.decoded, *whole.views]
        result = score_texts(texts) if self._heuristics else None
        message = MessageScore(
            item,
            self.source_of(item),
            whole.hidden_score,
            whole.hidden,
            result.score if result else 0.0,
            list(result.rules) if result else [],
        )
        if self._semantic is not None:  # the heuristics need no segments until `strip`
            message.segments = self._segments(item.text, self._config.max_segments)
        return message

    def _segments(self, text: str, limit: int | None) -> list[_Segment]:
        """`_segments`, remembered for the last few texts: `prefetch` and `check` cut the same
        message, and a conversation resends its history."""
        key = (text, limit)
        if (cut := self._cut.get(key)) is None:
            cut = tuple((s.span, s.texts) for s in _segments(text, limit))
            self._cut[key] = cut
            if len(self._cut) > _REMEMBERED:
                self._cut.popitem(last=False)
        else:
            self._cut.move_to_end(key)
        return [_Segment(span, texts) for span, texts in cut]

    def _strip(self, scores: list[MessageScore]) -> dict[int, str]:
        threshold = self._config.threshold
        replacements: dict[int, str] = {}
        for message in scores:
            if message.score < threshold:
                continue
            if not message.segments:
                message.segments = _segments(message.item.text, None)
            if self._heuristics:
                for segment in message.segments:
                    segment.heuristic = score_texts(segment.texts).score
            spans = [s.span for s in message.segments if s.score >= threshold]
            rest = strip_hidden(without(message.item.text, spans))
            residue = normalize(rest)
            judged = message.judged is not None and message.judged >= threshold
            if judged or score_texts([residue.text, *residue.decoded, *residue.views]).score >= (
                threshold
            ):
                # Spread over segments, only visible as a whole, or the judge's verdict on the
                # whole message: drop it all.
                rest = ""
            replacements[message.item.message_index] = rest
        return replacements


def _segments(text: str, limit: int | None) -> list[_Segment]:
    spans = segments(text)
    out: list[_Segment] = []
    for span in pick(spans, limit) if limit is not None else spans:
        part = normalize(text[span[0] : span[1]])
        out.append(_Segment(span, (part.text, *part.decoded)))
    return out


def _detail(message: MessageScore) -> str:
    parts = [f"{message.source} message {message.item.message_index}"]
    if message.heuristic > 0:
        rules = sorted(set(message.rules))
        parts.append(f"heuristics {message.heuristic:.2f} ({', '.join(rules[:6])})")
    if message.semantic > 0:
        parts.append(f"semantic {message.semantic:.2f}")
    if message.hidden > 0:
        parts.append(f"hidden {message.hidden:.2f} ({', '.join(message.hidden_kinds)})")
    if message.judge_note is not None:
        parts.append(f"judge unavailable: {message.judge_note}")
    elif message.judged is not None:
        parts.append(f"judge {message.judged:.2f}")
    return "; ".join(parts)
