"""The configuration schema: strict (unknown keys are errors), frozen, validated at startup."""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_STAGES = ("record", "auth", "parse", "route")
KNOWN_STAGES = frozenset(DEFAULT_STAGES)
REQUIRED_STAGES = ("record", "parse", "route")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8787, ge=0, le=65535)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    shutdown_timeout_s: float = Field(default=30.0, ge=0)


class StorageConfig(Section):
    url: str = "sqlite:///.steward/steward.db"
    spool_dir: str = ".steward/spool"
    batch_size: int = Field(default=500, ge=1)
    flush_interval_s: float = Field(default=0.2, gt=0)
    retry_interval_s: float = Field(default=2.0, gt=0)


class AuthConfig(Section):
    required: bool = True
    refresh_interval_s: float = Field(default=2.0, gt=0)


class LoggingConfig(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"


class PipelineConfig(Section):
    stages: tuple[str, ...] = DEFAULT_STAGES

    @field_validator("stages")
    @classmethod
    def _known_and_ordered(cls, stages: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [s for s in stages if s not in KNOWN_STAGES]
        if unknown:
            raise ValueError(
                f"unknown stage(s) {', '.join(unknown)}; known: {', '.join(DEFAULT_STAGES)}"
            )
        missing = [s for s in REQUIRED_STAGES if s not in stages]
        if missing:
            raise ValueError(f"required stage(s) missing: {', '.join(missing)}")
        if len(set(stages)) != len(stages):
            raise ValueError("a stage is listed twice")
        if stages[0] != "record" or stages[-1] != "route":
            raise ValueError('"record" must come first and "route" last')
        return stages


class HTTPProviderConfig(Section):
    base_url: str
    api_key: str | None = None
    timeout_s: float = Field(default=600.0, gt=0)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    stream_idle_timeout_s: float = Field(default=60.0, gt=0)

    @field_validator("api_key")
    @classmethod
    def _is_reference(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("env:"):
            raise ValueError(
                'secrets must be references such as "env:OPENAI_API_KEY", never literal keys'
            )
        return value


class OpenAIProviderConfig(HTTPProviderConfig):
    type: Literal["openai"]
    base_url: str = "https://api.openai.com/v1"


class AnthropicProviderConfig(HTTPProviderConfig):
    type: Literal["anthropic"]
    base_url: str = "https://api.anthropic.com"
    anthropic_version: str = "2023-06-01"
    default_max_tokens: int = Field(default=4096, ge=1)


class LocalProviderConfig(Section):
    type: Literal["local"]
    model_path: str | None = None
    n_ctx: int = Field(default=2048, ge=256)
    n_threads: int | None = Field(default=None, ge=1)
    max_queue: int = Field(default=32, ge=0)


ProviderConfig = Annotated[
    OpenAIProviderConfig | AnthropicProviderConfig | LocalProviderConfig,
    Field(discriminator="type"),
]


class ModelConfig(Section):
    targets: tuple[str, ...] = Field(min_length=1)
    description: str = ""

    @field_validator("targets")
    @classmethod
    def _target_shape(cls, targets: tuple[str, ...]) -> tuple[str, ...]:
        for target in targets:
            provider, _, model = target.partition("/")
            if not provider or not model:
                raise ValueError(f'target "{target}" must look like "provider/model"')
        return targets


class StewardConfig(Section):
    server: ServerConfig = ServerConfig()
    storage: StorageConfig = StorageConfig()
    auth: AuthConfig = AuthConfig()
    logging: LoggingConfig = LoggingConfig()
    pipeline: PipelineConfig = PipelineConfig()
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    models: dict[str, ModelConfig] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _targets_name_providers(self) -> StewardConfig:
        for name, model in self.models.items():
            for target in model.targets:
                provider = target.partition("/")[0]
                if provider not in self.providers:
                    known = ", ".join(sorted(self.providers)) or "none"
                    raise ValueError(
                        f'models.{name}: target "{target}" names provider "{provider}", '
                        f"which is not defined under [providers] (defined: {known})"
                    )
        return self

    def config_hash(self) -> str:
        """A short stable hash of the whole configuration, stored on every record."""
        data = orjson.dumps(self.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(data).hexdigest()[:16]
