"""`input_guards.verdicts`: guards in order, each on the text the previous left, the heavy parts
(MiniLM encode, Presidio) prefetched once and joined by `check`."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from tests.unit.guards.test_semantic import BagOfWords

from steward.config.guards_input import (
    InjectionGuardConfig,
    LimitsGuardConfig,
    TopicsGuardConfig,
)
from steward.config.guards_pii import PIIGuardConfig
from steward.guards.base import Decision, GuardInput, InputGuard, InputVerdict
from steward.guards.embedding import SharedEncoder
from steward.guards.injection import InjectionGuard
from steward.guards.input_guards import Prefetching, verdicts
from steward.guards.limits import LimitsGuard
from steward.guards.pii import PIIGuard
from steward.guards.pii.engine import Finding, PIIEngine
from steward.guards.topics import TopicsGuard

TEXT = "Plan a team offsite in the mountains. List venues and costs per person."


def run(guards: Sequence[InputGuard], text: str = TEXT) -> list[tuple[str, InputVerdict]]:
    async def chain() -> list[tuple[str, InputVerdict]]:
        out = []
        async for guard, verdict in verdicts(guards, [GuardInput(0, "user", text)]):
            out.append((guard.name, verdict))
            if verdict.decision.action == "block":
                break
        return out

    return asyncio.run(chain())


class Replacing:
    """A guard that rewrites message 0, as `strip` or `mask` would."""

    name = "replacing"

    async def check(self, inputs: Sequence[GuardInput]) -> InputVerdict:
        return InputVerdict(Decision(self.name, "mask"), replacements={0: "rewritten text"})


class CountingEngine(PIIEngine):
    """The real engine's interface; counts analyses and finds a fixed e-mail address."""

    def __init__(self) -> None:
        super().__init__(memo_size=0)
        self.texts: list[str] = []
        self.lock = threading.Lock()

    def analyze(self, text: str, entities: Sequence[str], threshold: float) -> list[Finding]:
        with self.lock:
            self.texts.append(text)
        start = text.find("ann@example.com")
        return [] if start < 0 else [Finding("EMAIL_ADDRESS", start, start + 15, 1.0)]


def test_injection_and_topics_encode_each_segment_once() -> None:
    model = BagOfWords()
    encoder = SharedEncoder(lambda: model)
    injection = InjectionGuard(InjectionGuardConfig(layers=["heuristics", "semantic"]), encoder)
    topics = TopicsGuard(TopicsGuardConfig(allow=["team offsites and venues"]), encoder)
    assert isinstance(injection, Prefetching) and isinstance(topics, Prefetching)
    decisions = [v.decision.guard for _, v in run([injection, topics])]
    assert decisions == ["injection", "topics"]
    segment_encodes = [t for call in model.calls for t in call if "mountains" in t]
    assert segment_encodes == ["Plan a team offsite in the mountains."]


def test_limits_turns_a_huge_request_away_before_any_encode() -> None:
    model = BagOfWords()
    encoder = SharedEncoder(lambda: model)
    limits = LimitsGuard(LimitsGuardConfig(max_chars=20))
    injection = InjectionGuard(InjectionGuardConfig(layers=["semantic"]), encoder)
    result = run([limits, injection])
    assert [(n, v.decision.action) for n, v in result] == [("limits", "block")]
    assert model.calls == []


def test_a_later_guard_sees_the_text_an_earlier_one_left() -> None:
    model = BagOfWords()
    encoder = SharedEncoder(lambda: model)
    injection = InjectionGuard(InjectionGuardConfig(layers=["semantic"]), encoder)
    topics = TopicsGuard(TopicsGuardConfig(deny=["rewritten text"], action="flag"), encoder)
    result = dict(run([injection, Replacing(), topics]))
    # The prefetch embedded the original; the topic guard judged the rewritten text.
    assert result["topics"].decision.action == "flag"
    assert any("rewritten text" in call for call in model.calls)


def test_pii_prefetch_and_check_share_one_analysis() -> None:
    engine = CountingEngine()
    pii = PIIGuard(PIIGuardConfig(entities={"EMAIL_ADDRESS": "mask"}), engine)  # type: ignore[arg-type]
    text = "Write to ann@example.com about the offsite."
    result = run([LimitsGuard(LimitsGuardConfig(max_chars=1000)), pii], text)
    assert result[-1][1].replacements == {0: "Write to <EMAIL_ADDRESS> about the offsite."}
    assert engine.texts == [text]


class Early:
    """A prefetching guard whose check runs synchronous work first, as the injection guard's
    heuristics do; it notes whether the other guards' prefetches had begun by then."""

    name = "early"

    def __init__(self, started: list[str]) -> None:
        self.started = started
        self.seen: list[str] = []

    async def prefetch(self, inputs: Sequence[GuardInput]) -> None:
        self.started.append(self.name)

    async def check(self, inputs: Sequence[GuardInput]) -> InputVerdict:
        self.seen = list(self.started)  # before this check's first await
        return InputVerdict(Decision(self.name, "allow"))


class Later(Early):
    name = "later"


def test_every_prefetch_has_begun_before_the_first_check_runs() -> None:
    started: list[str] = []
    first, second = Early(started), Later(started)
    assert isinstance(first, Prefetching)

    run([first, second])

    assert first.seen == ["early", "later"]
