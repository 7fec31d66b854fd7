"""One public model's output guards, built once from its `[models.NAME.guards.output]` table.

`OutputGuards` holds the compiled schema and the shared canary and PII redactor; it prepares
the request a target is asked (`upstream`) and scans an answer for leaks and refusals (`scan`).
Everything here is pure CPU; the stage (`pipeline/stages/guard_output.py`) does the calls.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from steward.config.guards_output import OutputGuardsConfig
from steward.errors import GuardBlockedError
from steward.guards.base import Action, Decision
from steward.guards.output.answers import (
    contents,
    derive,
    messages_of,
    system_text,
    with_canary,
    with_content,
)
from steward.guards.output.leaks import (
    Canary,
    find_pii,
    is_refusal,
    quotes_system_prompt,
)
from steward.guards.output.schema import SchemaCheck, load_schema, schema_for
from steward.observe.redact import PatternRedactor
from steward.types import JSONObject
from steward.wire.openai import ChatRequest

__all__ = ["OutputGuards", "Scan"]


@dataclass(slots=True)
class Scan:
    """What `scan` found: the answer to return (masked), decisions, and the confidence signals."""

    body: JSONObject
    decisions: list[Decision] = field(default_factory=list)
    leak: bool = False
    refusal: bool = False


class OutputGuards:
    def __init__(
        self,
        name: str,
        config: OutputGuardsConfig,
        *,
        base_dir: Path,
        canary: Canary,
        redactor: PatternRedactor,
    ) -> None:
        self.name = name
        self.config = config
        schema = load_schema(config, base_dir, name)
        self._schema = SchemaCheck(schema, repair=config.repair) if schema is not None else None
        self._canary = canary
        self._redactor = redactor

    def schema_check(self, request: ChatRequest) -> tuple[SchemaCheck | None, Decision | None]:
        """The model's schema, else the request's; a request schema that is not valid is skipped
        with a decision saying so (the upstream refuses it, or it cannot be checked)."""
        if self._schema is not None:
            return self._schema, None
        schema = schema_for(request.response_format)
        if schema is None:
            return None, None
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError:
            return None, Decision("schema", "allow", detail="the request's schema is not valid")
        return SchemaCheck(schema, repair=self.config.repair), None

    def upstream(self, request: ChatRequest) -> ChatRequest:
        """The request a target is asked: whole (never streamed), with logprobs when the
        confidence uses them, and the canary in the system message when it is on."""
        changes: dict[str, object] = {}
        if self.config.confidence.logprobs:
            changes["logprobs"] = True
        if self.config.canary:
            changes["messages"] = with_canary(messages_of(request), self._canary.line())
        return derive(request, **changes)

    def scan(self, body: JSONObject, request: ChatRequest) -> Scan:
        """PII, canary, system prompt and refusals in every choice; raises `GuardBlockedError`
        for a `block` action."""
        began = time.perf_counter()
        scan = Scan(body)
        system = system_text(request)
        for position, text in contents(body):
            self._pii(scan, position, text)
            self._prompt_leak(scan, text, system)
            self._refusal(scan, text)
        elapsed_ms = (time.perf_counter() - began) * 1000.0
        scan.decisions = [
            Decision(d.guard, d.action, d.score, elapsed_ms, d.detail) for d in scan.decisions
        ]
        return scan

    def _pii(self, scan: Scan, position: int, text: str) -> None:
        action = self.config.pii
        if action == "off":
            return
        found = find_pii(text, self._redactor)
        if found is None:
            return
        detail = ",".join(found.labels)
        if action == "block":
            raise _blocked("pii", "it contained personal data")
        if action == "mask":
            scan.body = with_content(scan.body, position, found.masked)
        scan.decisions.append(Decision("output_pii", action, detail=detail))
        scan.leak = True

    def _prompt_leak(self, scan: Scan, text: str, system: str) -> None:
        if not self.config.canary:
            return
        if self._canary.found_in(text):
            detail = "canary token"
        elif system and quotes_system_prompt(text, system):
            detail = "verbatim system prompt"
        else:
            return
        action: Action = self.config.canary_action
        if action == "block":
            raise _blocked("canary", "it repeated the system prompt")
        scan.decisions.append(Decision("canary", action, detail=detail))
        scan.leak = True

    def _refusal(self, scan: Scan, text: str) -> None:
        if self.config.refusal == "off" or scan.refusal or not is_refusal(text):
            return
        scan.decisions.append(Decision("refusal", self.config.refusal))
        scan.refusal = True


def _blocked(guard: str, why: str) -> GuardBlockedError:
    return GuardBlockedError(
        guard,
        f"The answer was withheld by the output guard '{guard}': {why}. Rephrase the request;"
        " the operator can see the decision on the request record.",
    )
