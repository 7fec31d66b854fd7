"""Settings of the output guards: schema validation and repair, leaks, refusals, confidence and
escalation."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from steward.config.section import Section
from steward.types import JSONObject

__all__ = ["CanaryAction", "ConfidenceConfig", "OutputGuardsConfig", "PIIAction", "RefusalAction"]

PIIAction = Literal["off", "flag", "mask", "block"]
CanaryAction = Literal["flag", "block", "escalate"]
RefusalAction = Literal["off", "flag", "escalate"]


class ConfidenceConfig(Section):
    """`confidence = { ... }`: the signals the confidence score uses besides the checks."""

    logprobs: bool = False
    """Ask the target for token log-probabilities and score their geometric mean."""
    samples: int = Field(default=0, ge=0, le=8)
    """Extra answers sampled for self-consistency (0: none)."""
    sample_temperature: float = Field(default=0.8, gt=0, le=2)


class OutputGuardsConfig(Section):
    output_schema: JSONObject | None = Field(default=None, alias="schema")
    """A JSON Schema (Draft 2020-12) every answer must match; `schema` in TOML."""
    schema_file: str | None = None
    """The same, read from a JSON file; relative paths are relative to the config file."""
    repair: bool = True
    reask_attempts: int = Field(default=1, ge=0, le=5)
    pii: PIIAction = "off"
    canary: bool = False
    canary_action: CanaryAction = "flag"
    refusal: RefusalAction = "flag"
    confidence: ConfidenceConfig = Field(default_factory=ConfidenceConfig)
    escalate_below: float | None = Field(default=None, ge=0, le=1)
    fallback_answer: str | None = None

    @field_validator("output_schema")
    @classmethod
    def _valid_schema(cls, value: JSONObject | None) -> JSONObject | None:
        if value is not None:
            from jsonschema import Draft202012Validator
            from jsonschema.exceptions import SchemaError

            try:
                Draft202012Validator.check_schema(value)
            except SchemaError as exc:
                raise ValueError(f"schema is not a valid JSON Schema: {exc.message}") from None
        return value

    @model_validator(mode="after")
    def _one_schema(self) -> OutputGuardsConfig:
        if self.output_schema is not None and self.schema_file is not None:
            raise ValueError("set schema or schema_file, not both")
        return self

    def can_escalate(self) -> bool:
        """Whether a call of this model may store an escalation item."""
        return (
            self.escalate_below is not None
            or self.refusal == "escalate"
            or (self.canary and self.canary_action == "escalate")
        )
