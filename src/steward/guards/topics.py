"""Topic rules: the user's last message compared, in MiniLM space, with allowed or denied topics.

With `allow`, a message whose best cosine to the allowed topics is below `threshold` is off
topic; with `deny`, one whose best cosine to a denied topic reaches `deny_threshold` (by
default `threshold`) is on a denied topic (bench/topics_quality.py measures both). Topic
descriptions are embedded once, at the first call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from steward.config.guards_input import TopicsGuardConfig
from steward.guards.base import Decision, GuardInput, InputVerdict
from steward.guards.embedding import SharedEncoder
from steward.guards.injection.normalize import fold
from steward.guards.injection.segments import pick, segments

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["TopicsGuard", "last_user_text"]

MAX_SEGMENTS = 16
"""As the injection guard's default `max_segments`, so both pick the same segments."""

REFUSAL = (
    "The request was blocked by the topics guard: it is outside the topics this assistant "
    "answers; ask about something else, or ask the operator to review the guard's settings."
)


def last_user_text(inputs: Sequence[GuardInput]) -> str | None:
    for item in reversed(inputs):
        if item.role == "user" and item.text.strip():
            return item.text
    return None


class TopicsGuard:
    name = "topics"

    def __init__(self, config: TopicsGuardConfig, encoder: SharedEncoder) -> None:
        self._config = config
        self._encoder = encoder
        self._topics = (*config.allow, *config.deny)
        self._matrix: npt.NDArray[np.float32] | None = None

    overlappable = True
    """It only blocks or flags: it may decide while the upstream call runs."""

    def refusal(self, decision: Decision) -> str:
        return self._config.message or REFUSAL

    async def prefetch(self, inputs: Sequence[GuardInput]) -> None:
        """Starts the encode `check` will need (the `SharedEncoder` keeps it)."""
        if (text := last_user_text(inputs)) is not None:
            await self.similarities(text)

    async def check(self, inputs: Sequence[GuardInput]) -> InputVerdict:
        started = time.perf_counter()
        text = last_user_text(inputs)
        if text is None:
            return InputVerdict(Decision(self.name, "allow", None, _ms(started)))
        allowed, denied = await self.similarities(text)
        config = self._config
        reasons: list[str] = []
        if config.allow and allowed < config.threshold:
            reasons.append(f"best allowed topic {allowed:.2f} < {config.threshold:g}")
        if config.deny and denied >= config.deny_at:
            reasons.append(f"denied topic {denied:.2f} >= {config.deny_at:g}")
        score = denied if config.deny and not config.allow else allowed
        action = config.action if reasons else "allow"
        detail = "; ".join(reasons) or None
        return InputVerdict(Decision(self.name, action, score, _ms(started), detail))

    async def similarities(self, text: str) -> tuple[float, float]:
        """The best cosine of `text` to the allowed topics, and to the denied ones (0 if none)."""
        import numpy as np

        if self._matrix is None:
            self._matrix = await asyncio.to_thread(self._encoder.encode, self._topics)
        # The mean of the segments' vectors, the segments folded as the injection guard's are,
        # so with its semantic layer on the text is encoded once for both (`SharedEncoder`).
        spans = pick(segments(text), MAX_SEGMENTS)
        rows = await self._encoder.vectors([fold(text[a:b]) for a, b in spans])
        row = rows.mean(axis=0)
        row /= max(float(np.linalg.norm(row)), 1e-12)
        cosines = [float(c) for c in self._matrix @ row]
        split = len(self._config.allow)
        allowed, denied = cosines[:split], cosines[split:]
        return max(allowed, default=0.0), max(denied, default=0.0)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
