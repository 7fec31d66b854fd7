"""Settings of the PII guard: which entity types, and block, mask or pseudonymise each."""

from __future__ import annotations

from typing import Literal, TypeAlias

from pydantic import Field, field_validator

from steward.config.section import Section

__all__ = ["ENTITIES", "PIIAction", "PIIGuardConfig"]

PIIAction: TypeAlias = Literal["block", "mask", "pseudonymise", "flag"]
ENTITIES = (
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_SSN",
    "PERSON",
    "IP_ADDRESS",
    "LOCATION",
)
_DEFAULTS: dict[str, PIIAction] = {
    "EMAIL_ADDRESS": "pseudonymise",
    "PHONE_NUMBER": "pseudonymise",
    "CREDIT_CARD": "block",
    "IBAN_CODE": "block",
    "US_SSN": "block",
    "PERSON": "pseudonymise",
}


class PIIGuardConfig(Section):
    entities: dict[str, PIIAction] = Field(default_factory=lambda: dict(_DEFAULTS))
    """Entity type to action; types left out are not looked for."""
    threshold: float = Field(default=0.35, ge=0, le=1)
    """Presidio's score a finding needs (pattern matches with a valid checksum score 1.0, names
    from spaCy 0.85, phone numbers 0.4 without a context word such as "call" or "phone")."""
    scan: tuple[Literal["user", "system", "assistant", "tool"], ...] = ("user", "tool")
    """Which parts of the request are scanned (the app's own system prompt is not, by default)."""

    @field_validator("entities")
    @classmethod
    def _known(cls, entities: dict[str, PIIAction]) -> dict[str, PIIAction]:
        unknown = sorted(set(entities) - set(ENTITIES))
        if unknown:
            raise ValueError(
                f"unknown entity type(s) {', '.join(unknown)}; known: {', '.join(ENTITIES)}"
            )
        if not entities:
            raise ValueError("name at least one entity type")
        return entities

    def actions(self) -> dict[str, PIIAction]:
        return dict(self.entities)
