"""Request bodies of the admin API, strict like the config: unknown fields are errors."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TeamCreate(Body):
    name: str = Field(min_length=1, max_length=200)
    rpm: int | None = Field(default=None, ge=1, description="Requests per minute for the team.")
    tpm: int | None = Field(default=None, ge=1, description="Tokens per minute for the team.")


class TeamUpdate(Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)


class AppCreate(Body):
    name: str = Field(min_length=1, max_length=200)
    team_id: str | None = Field(default=None, description="Required for admins; else yours.")
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)


class AppUpdate(Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)


Role = Literal["admin", "owner", "developer", "reviewer", "viewer", "app"]


class KeyCreate(Body):
    name: str = Field(min_length=1, max_length=200)
    role: Role = "app"
    app_id: str | None = Field(default=None, description="The app an `app` key belongs to.")
    team_id: str | None = Field(default=None, description="The team of a person's key.")
    expires_in_days: float | None = Field(default=None, gt=0)
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)


class KeyRotate(Body):
    overlap_s: float = Field(
        default=3600.0, ge=0, le=30 * 86400, description="How long the old key keeps working."
    )


class BudgetCreate(Body):
    scope: Literal["key", "app", "team", "model"]
    scope_id: str = Field(min_length=1, description="The key, app or team id, or model name.")
    period: Literal["daily", "monthly", "total"]
    limit_usd: float = Field(gt=0)
    thresholds: tuple[float, ...] = Field(
        default=(0.5, 0.8, 1.0), description="Soft alert thresholds, fractions of the limit."
    )
    team_id: str | None = Field(
        default=None, description="For a model budget: limit it to one team's calls."
    )
