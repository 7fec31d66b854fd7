"""The PII guard: finds personal data in the request with Presidio and, per entity type,
blocks the request, masks the value (`<EMAIL_ADDRESS>`), or pseudonymises it reversibly: the
model sees `<PERSON_1>`, the caller gets the real name back in the answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from steward.config.guards_pii import PIIGuardConfig
from steward.guards.base import Decision, GuardInput, InputVerdict
from steward.guards.pii.engine import Finding, PIIEngine

__all__ = ["PIIGuard", "Rewrite"]

_FRIENDLY = {
    "EMAIL_ADDRESS": "an e-mail address",
    "PHONE_NUMBER": "a phone number",
    "CREDIT_CARD": "a payment card number",
    "IBAN_CODE": "a bank account number (IBAN)",
    "US_SSN": "a social security number",
    "PERSON": "a person's name",
    "IP_ADDRESS": "an IP address",
    "LOCATION": "a location",
}


@dataclass(slots=True)
class Rewrite:
    """The request's texts with findings replaced; one numbering per request, so the same
    value is the same placeholder in every message."""

    pseudonyms: dict[str, str] = field(default_factory=dict)
    _by_value: dict[tuple[str, str], str] = field(default_factory=dict)
    _counts: dict[str, int] = field(default_factory=dict)

    def apply(self, text: str, findings: Sequence[Finding], actions: Mapping[str, str]) -> str:
        parts: list[str] = []
        last = 0
        for finding in findings:
            action = actions[finding.entity]
            if action == "flag":
                continue
            value = text[finding.start : finding.end]
            parts += [text[last : finding.start], self._token(finding.entity, value, action)]
            last = finding.end
        parts.append(text[last:])
        return "".join(parts)

    def _token(self, entity: str, value: str, action: str) -> str:
        if action == "mask":
            return f"<{entity}>"
        key = (entity, value)
        if key not in self._by_value:
            self._counts[entity] = self._counts.get(entity, 0) + 1
            placeholder = f"<{entity}_{self._counts[entity]}>"
            self._by_value[key] = placeholder
            self.pseudonyms[placeholder] = value
        return self._by_value[key]


class PIIGuard:
    def __init__(self, config: PIIGuardConfig, engine: PIIEngine) -> None:
        self._config = config
        self._engine = engine
        self._actions = config.actions()
        self._inflight: dict[tuple[str, ...], asyncio.Future[list[list[Finding]]]] = {}

    @property
    def name(self) -> str:
        return "pii"

    async def prefetch(self, inputs: Sequence[GuardInput]) -> None:
        """Starts the analysis `check` will join (or find in the engine's memo)."""
        await self._found(tuple(i.text for i in self._scanned(inputs)))

    async def check(self, inputs: Sequence[GuardInput]) -> InputVerdict:
        started = time.perf_counter()
        scanned = self._scanned(inputs)
        found = await self._found(tuple(i.text for i in scanned))
        elapsed = (time.perf_counter() - started) * 1000.0
        findings = [f for per_input in found for f in per_input]
        if not findings:
            return InputVerdict(Decision("pii", "allow", 0.0, elapsed))
        entities = sorted({f.entity for f in findings})
        detail = ", ".join(f"{e} x{sum(f.entity == e for f in findings)}" for e in entities)
        top = max(f.score for f in findings)
        blocked = [e for e in entities if self._actions[e] == "block"]
        if blocked:
            return InputVerdict(
                Decision("pii", "block", top, elapsed, detail), message=_blocked_message(blocked)
            )
        return self._rewrite(scanned, found, top, elapsed, detail)

    def _rewrite(
        self,
        scanned: Sequence[GuardInput],
        found: Sequence[Sequence[Finding]],
        top: float,
        elapsed: float,
        detail: str,
    ) -> InputVerdict:
        rewrite = Rewrite()
        replacements = {}
        for item, findings in zip(scanned, found, strict=True):
            changed = rewrite.apply(item.text, findings, self._actions)
            if changed != item.text:
                replacements[item.message_index] = changed
        actions = {self._actions[f.entity] for per in found for f in per}
        action = next(a for a in ("pseudonymise", "mask", "flag") if a in actions)
        return InputVerdict(
            Decision("pii", action, top, elapsed, detail),
            replacements=replacements or None,
            pseudonyms=rewrite.pseudonyms or None,
        )

    def _scanned(self, inputs: Sequence[GuardInput]) -> list[GuardInput]:
        return [i for i in inputs if i.source in self._config.scan and i.text]

    async def _found(self, texts: tuple[str, ...]) -> list[list[Finding]]:
        """The findings per text, from one analysis in a worker thread however many callers
        (a prefetch, then `check`) ask for the same texts at once."""
        if not texts:
            return []
        if (future := self._inflight.get(texts)) is None:
            future = asyncio.ensure_future(asyncio.to_thread(self._analyze, texts))
            self._inflight[texts] = future
            future.add_done_callback(lambda _: self._inflight.pop(texts, None))
        return await asyncio.shield(future)

    def _analyze(self, texts: Sequence[str]) -> list[list[Finding]]:
        entities = list(self._actions)
        return [self._engine.analyze(t, entities, self._config.threshold) for t in texts]


def _blocked_message(entities: Sequence[str]) -> str:
    kinds = " and ".join(_FRIENDLY.get(e, e.lower().replace("_", " ")) for e in entities)
    return (
        f"The request was blocked by the pii guard: it contains {kinds}, which this model does "
        "not accept. Remove it and send the request again."
    )
