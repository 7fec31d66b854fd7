"""The configuration schema: strict (unknown keys are errors), frozen, validated at startup."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Annotated, Literal

import orjson
from pydantic import Field, field_validator, model_validator

from steward.config.alerts import AlertsConfig
from steward.config.evals import EvalsConfig
from steward.config.guards import GuardsConfig
from steward.config.section import Section
from steward.config.tracing import TracingConfig

DEFAULT_STAGES = (
    "record",
    "trace",
    "auth",
    "prompt",
    "parse",
    "guard_input",
    "limits",
    "cache",
    "route",
    "guard_output",
)
KNOWN_STAGES = frozenset(DEFAULT_STAGES)
PER_ATTEMPT_STAGES = ("guard_output",)
"""Stages after `route`: they run once per attempt, so an invalid answer can fall back."""
REQUIRED_STAGES = ("record", "parse", "route")


class ServerConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8787, ge=0, le=65535)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    shutdown_timeout_s: float = Field(default=30.0, ge=0)
    switch_interval_ms: float = Field(default=1.0, gt=0, le=100)
    """Python's thread switch interval in `steward serve` (`sys.setswitchinterval`): how long a
    thread holding the GIL runs before a waiting one takes it. Python's 5 ms default lets the
    event loop's guard heuristics hold back the MiniLM and Presidio worker threads between their
    native calls; 1 ms took 5 ms off every input guard together (docs/performance.md)."""


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
        tail = stages[stages.index("route") + 1 :] if "route" in stages else ()
        if stages[0] != "record" or any(s not in PER_ATTEMPT_STAGES for s in tail):
            raise ValueError(
                '"record" must come first and "route" last (only "guard_output" may follow it)'
            )
        if any(stages.index(s) < stages.index("route") for s in PER_ATTEMPT_STAGES if s in stages):
            raise ValueError('"guard_output" must come after "route"')
        if "guard_input" in stages and stages.index("guard_input") < stages.index("parse"):
            raise ValueError('"guard_input" must come after "parse"')
        if "trace" in stages and stages.index("trace") != 1:
            # Every other stage's span is a child of the request span the trace stage opens.
            raise ValueError('"trace" must come right after "record"')
        if "prompt" in stages and stages.index("prompt") > stages.index("parse"):
            # The prompt stage rewrites the body that parse validates.
            raise ValueError('"prompt" must come before "parse"')
        if "cache" in stages and stages.index("cache") < stages.index("parse"):
            raise ValueError('"cache" must come after "parse"')
        if "cache" in stages and "auth" in stages and stages.index("cache") < stages.index("auth"):
            # Entries are scoped by the caller's key, known only after auth.
            raise ValueError('"cache" must come after "auth"')
        if "limits" in stages:
            # Limits count per key and reserve from the parsed request.
            before = [s for s in ("auth", "parse") if s in stages]
            if any(stages.index("limits") < stages.index(s) for s in before):
                raise ValueError('"limits" must come after "auth" and "parse"')
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


class TargetConfig(Section):
    """One target of a public model; a plain `"provider/model"` string is short for this."""

    target: str
    weight: float = Field(default=1.0, ge=0)
    tier: Literal["cheap", "strong"] | None = None
    context_window: int | None = Field(default=None, ge=1)

    @field_validator("target")
    @classmethod
    def _target_shape(cls, target: str) -> str:
        provider, _, model = target.partition("/")
        if not provider or not model:
            raise ValueError(f'target "{target}" must look like "provider/model"')
        return target


class TieringConfig(Section):
    """Rules of the `tiered` strategy: a request matching any goes to the strong tier."""

    max_input_tokens: int = Field(default=1000, ge=0)
    max_messages: int = Field(default=8, ge=1)
    tools_are_strong: bool = True
    classifier: str | None = None
    """`module:function` taking the chat request, returning "cheap", "strong" or None (rules)."""


class ModelCacheConfig(Section):
    exact: bool = False
    semantic: bool = False
    ttl_s: float = Field(default=3600.0, gt=0)
    similarity: float = Field(default=0.92, gt=0, le=1)
    deterministic_only: bool = True
    """Cache only requests that should give the same answer (temperature 0, n = 1); a request
    without a temperature gets the provider's default (1), so it is not cached."""


Strategy = Literal["fallback", "weighted", "least-latency", "least-busy", "tiered"]
Capture = Literal["none", "metadata", "redacted", "full"]


class ModelConfig(Section):
    targets: tuple[TargetConfig, ...] = Field(min_length=1)
    description: str = ""
    strategy: Strategy = "fallback"
    retries: int = Field(default=1, ge=0, le=10)
    """Extra attempts on the same target after a retryable error, before moving on."""
    backoff_base_ms: float = Field(default=100.0, ge=0)
    backoff_max_ms: float = Field(default=5000.0, ge=0)
    attempt_timeout_s: float | None = Field(default=None, gt=0)
    deadline_s: float = Field(default=600.0, gt=0)
    hedge: bool = False
    hedge_min_delay_ms: float = Field(default=50.0, ge=0)
    tiering: TieringConfig = TieringConfig()
    cache: ModelCacheConfig = ModelCacheConfig()
    rpm: int | None = Field(default=None, ge=1)
    """Requests per minute for this public model, over every caller (None: unlimited)."""
    tpm: int | None = Field(default=None, ge=1)
    """Tokens per minute for this public model, reserved as prompt + max_tokens."""
    capture: Capture = "metadata"
    """Payloads kept beyond the record: `none` (and no end user on the record), `metadata`
    (nothing), `redacted` (request and response with PII replaced), `full` (as sent)."""
    retention_days: int | None = Field(default=None, ge=1)
    """Records and payloads older than this are deleted (None: kept)."""
    guards: GuardsConfig | None = None
    """Input and output guards for this model's calls (None: none run)."""

    @field_validator("targets", mode="before")
    @classmethod
    def _strings_are_targets(cls, targets: object) -> object:
        if isinstance(targets, list | tuple):
            return tuple({"target": t} if isinstance(t, str) else t for t in targets)
        return targets

    @model_validator(mode="after")
    def _tiers_present(self) -> ModelConfig:
        if self.strategy == "tiered":
            tiers = {t.tier for t in self.targets}
            if not {"cheap", "strong"} <= tiers:
                raise ValueError(
                    'the tiered strategy needs at least one target with tier = "cheap" and one '
                    'with tier = "strong"'
                )
        if self.strategy == "weighted" and not any(t.weight > 0 for t in self.targets):
            raise ValueError("the weighted strategy needs a target with weight > 0")
        return self


class BreakerConfig(Section):
    """Circuit breaker per target: opens on a failure ratio over a window with a minimum volume."""

    window_s: float = Field(default=60.0, gt=0)
    min_requests: int = Field(default=20, ge=1)
    failure_ratio: float = Field(default=0.5, gt=0, le=1)
    open_s: float = Field(default=30.0, gt=0)
    half_open_probes: int = Field(default=1, ge=1)


class RedisConfig(Section):
    url: str | None = None
    """`redis://host:port/db`; when set, breakers, health and the cache are shared by replicas."""
    timeout_s: float = Field(default=0.25, gt=0)
    key_prefix: str = "steward:"


class CacheConfig(Section):
    backend: Literal["auto", "memory", "redis"] = "auto"
    """`auto`: Redis when `[redis] url` is set, else memory."""
    max_entries: int = Field(default=10_000, ge=1)


class PriceConfig(Section):
    """USD per million tokens; overrides the shipped table for one model."""

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    cached_input_per_mtok: float | None = Field(default=None, ge=0)
    """Defaults to `input_per_mtok` (no discount)."""
    reasoning_per_mtok: float | None = Field(default=None, ge=0)
    """Defaults to `output_per_mtok` (reasoning tokens are billed as output)."""


class LimitsConfig(Section):
    """Rate limits and budgets: counted in memory, or in Redis so every replica shares them."""

    backend: Literal["auto", "memory", "redis"] = "auto"
    """`auto`: Redis when `[redis] url` is set, else memory."""
    default_max_output_tokens: int = Field(default=1024, ge=1)
    """Output tokens reserved for a request that sets no `max_tokens`."""
    key_rpm: int | None = Field(default=None, ge=1)
    """Default requests per minute for every key that sets none of its own."""
    key_tpm: int | None = Field(default=None, ge=1)
    """Default tokens per minute for every key that sets none of its own."""
    redis_timeout_s: float = Field(default=2.0, gt=0)
    """How long a reservation waits for Redis before counting in memory instead. Longer than
    `[redis] timeout_s`: a busy event loop must not pass for a Redis outage."""


class MetricsConfig(Section):
    """`GET /metrics` in the Prometheus text format."""

    enabled: bool = True
    require_key: bool = False
    """Off by default: Prometheus usually scrapes over a private network without credentials."""


class PayloadsConfig(Section):
    """Encryption at rest of captured payloads, and the retention job."""

    encryption_keys: tuple[str, ...] = ()
    """`env:NAME` references to 32-byte base64 keys; the first encrypts, all decrypt."""
    allow_plaintext: bool = False
    """Allow `capture = "redacted"` or `"full"` without an encryption key."""
    retention_interval_s: float = Field(default=3600.0, gt=0)
    retention_batch_size: int = Field(default=1000, ge=1)

    @field_validator("encryption_keys")
    @classmethod
    def _are_references(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        if any(not key.startswith("env:") or key == "env:" for key in keys):
            raise ValueError('keys must be references such as "env:STEWARD_PAYLOAD_KEY_1"')
        if len(set(keys)) != len(keys):
            raise ValueError("a key is listed twice")
        return keys


class StewardConfig(Section):
    server: ServerConfig = ServerConfig()
    storage: StorageConfig = StorageConfig()
    auth: AuthConfig = AuthConfig()
    logging: LoggingConfig = LoggingConfig()
    pipeline: PipelineConfig = PipelineConfig()
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    breaker: BreakerConfig = BreakerConfig()
    redis: RedisConfig = RedisConfig()
    cache: CacheConfig = CacheConfig()
    limits: LimitsConfig = LimitsConfig()
    alerts: AlertsConfig = AlertsConfig()
    payloads: PayloadsConfig = PayloadsConfig()
    metrics: MetricsConfig = MetricsConfig()
    tracing: TracingConfig = TracingConfig()
    evals: EvalsConfig = EvalsConfig()
    pricing: dict[str, PriceConfig] = Field(default_factory=dict)
    """Keyed by `provider/model` (one target) or by the upstream model name (any provider)."""

    @model_validator(mode="after")
    def _targets_name_providers(self) -> StewardConfig:
        for name, model in self.models.items():
            for entry in model.targets:
                target = entry.target
                provider = target.partition("/")[0]
                if provider not in self.providers:
                    known = ", ".join(sorted(self.providers)) or "none"
                    raise ValueError(
                        f'models.{name}: target "{target}" names provider "{provider}", '
                        f"which is not defined under [providers] (defined: {known})"
                    )
        if problems := _judge_problems(self.models):
            raise ValueError("; ".join(problems))
        if self.cache.backend == "redis" and not self.redis.url:
            raise ValueError('[cache] backend = "redis" needs [redis] url')
        if self.limits.backend == "redis" and not self.redis.url:
            raise ValueError('[limits] backend = "redis" needs [redis] url')
        unknown_models = self.alerts.unknown_models(set(self.models))
        if unknown_models:
            raise ValueError("; ".join(unknown_models))
        payloads = self.payloads
        if not payloads.encryption_keys and not payloads.allow_plaintext:
            stored = [n for n, m in self.models.items() if m.capture in ("redacted", "full")]
            if stored:
                raise ValueError(
                    f"models {', '.join(stored)} capture payloads, but [payloads] "
                    'encryption_keys is empty; add a key (see docs/operations.md, "Payloads '
                    'and encryption") or set [payloads] allow_plaintext = true'
                )
        return self

    def config_hash(self) -> str:
        """A short stable hash of the whole configuration, stored on every record."""
        data = orjson.dumps(self.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(data).hexdigest()[:16]


def _judge_problems(models: Mapping[str, ModelConfig]) -> list[str]:
    """An injection judge must name a configured model. (The judge call enters the pipeline
    after the input guards, so a judge model's own guards never judge it again.)"""
    problems = []
    for name, model in models.items():
        injection = model.guards.injection if model.guards is not None else None
        judge = injection.judge if injection is not None else None
        if judge is not None and judge.model not in models:
            known = ", ".join(sorted(models))
            problems.append(
                f'models.{name}: the injection judge names model "{judge.model}", which is not'
                f" defined under [models] (defined: {known})"
            )
    return problems
