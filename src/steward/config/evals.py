"""The `[evals]` section: how `steward eval run` and `steward eval gate` drive the gateway and
how strict the gate is."""

from __future__ import annotations

from pydantic import Field, field_validator

from steward.config.section import Section

__all__ = ["EvalsConfig"]


class EvalsConfig(Section):
    base_url: str | None = None
    """The gateway the runs call; None: this config's own `[server]` host and port."""
    api_key: str = "env:STEWARD_API_KEY"
    """The key runs call with, as a secret reference."""
    concurrency: int = Field(default=8, ge=1, le=1024)
    retries: int = Field(default=2, ge=0, le=10)
    timeout_s: float = Field(default=120.0, gt=0)
    margin: float = Field(default=0.02, ge=0, le=1)
    """A regression smaller than this (absolute, on a [0, 1] score) never fails the gate."""
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    """The significance level of the gate's tests."""

    @field_validator("api_key")
    @classmethod
    def _reference(cls, value: str) -> str:
        if not value.startswith("env:") or value == "env:":
            raise ValueError(
                'must be a reference such as "env:STEWARD_API_KEY", never a literal key'
            )
        return value
