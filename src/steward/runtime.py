"""The runtime: builds everything from config once, owns clients, stores and background threads."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from sqlalchemy.engine import Engine

from steward import __version__
from steward.auth.keyring import KeyRing
from steward.auth.refresher import Refresher
from steward.cache.responses import ResponseCache
from steward.config.loading import LoadedConfig
from steward.config.schema import (
    AnthropicProviderConfig,
    HTTPProviderConfig,
    LocalProviderConfig,
    OpenAIProviderConfig,
    StewardConfig,
)
from steward.config.secrets import resolve_secret
from steward.costs import Pricing
from steward.errors import StorageError
from steward.guards.output.escalation_writer import EscalationWriter, escalation_writer
from steward.limits import FailoverLimiter, MemoryLimiter, RedisLimiter
from steward.limits.base import Limiter
from steward.limits.rules import RuleBook
from steward.observe.alerts import AlertEvaluator
from steward.observe.alerts.budgets import BudgetAlerts
from steward.observe.gauges import RuntimeGauges
from steward.observe.metrics import MeteredSink, Metrics
from steward.observe.redact import PatternRedactor
from steward.observe.tracing import Tracing
from steward.observe.writer import RecordWriter
from steward.payloads.keys import PayloadKeyring
from steward.payloads.retention import RetentionJob
from steward.payloads.sealing import Sealer
from steward.pipeline.call import ProviderCall
from steward.pipeline.context import CallContext
from steward.pipeline.registry import StageDeps, build_pipeline
from steward.pipeline.result import Result
from steward.pipeline.stage import Next
from steward.pipeline.stages.limits import Settlements
from steward.prompts.book import PromptBook
from steward.providers.anthropic import AnthropicProvider
from steward.providers.base import Provider
from steward.providers.http import HTTPClient, Timeouts
from steward.providers.local import LocalProvider
from steward.providers.openai import OpenAIProvider
from steward.routing.breaker import Breakers
from steward.routing.health import TargetHealth
from steward.routing.loop import FallbackLoop
from steward.routing.strategy import Router
from steward.routing.targets import ModelRoute, ModelTable
from steward.storage import database
from steward.storage.redis import RedisStore
from steward.tenancy.directory import Directory

log = structlog.get_logger("steward.runtime")


@dataclass(slots=True)
class Runtime:
    """Everything a running gateway needs, built once at startup and passed explicitly."""

    loaded: LoadedConfig
    engine: Engine
    http: HTTPClient
    providers: Mapping[str, Provider]
    models: ModelTable
    keyring: KeyRing
    refresher: Refresher
    directory: Directory
    prompts: PromptBook
    writer: RecordWriter
    chain: Next
    config_hash: str
    cache: ResponseCache
    breakers: Breakers
    health: TargetHealth
    limiter: Limiter
    settlements: Settlements
    pricing: Pricing
    redis: RedisStore | None = None
    limits_redis: RedisStore | None = None
    metrics: Metrics | None = None
    """None when `[metrics] enabled = false`."""
    alerts: AlertEvaluator | None = None
    """None when `[alerts]` has no rules."""
    budget_alerts: BudgetAlerts | None = None
    """Budget soft thresholds, stored as alerts and sent to `[alerts]` webhooks."""
    tracing: Tracing = field(default_factory=Tracing.disabled)
    payload_keys: PayloadKeyring | None = None
    """None when `[payloads] encryption_keys` is empty."""
    retention: RetentionJob | None = None
    """None when no model sets `retention_days`."""
    escalations: EscalationWriter | None = None
    """None when no model's output guards can escalate."""
    started: bool = field(default=False)
    migrated: bool = field(default=False)

    @property
    def config(self) -> StewardConfig:
        return self.loaded.config

    @classmethod
    def build(cls, loaded: LoadedConfig) -> Runtime:
        """Construct without I/O to upstreams; the database is touched in `open`."""
        config = loaded.config
        engine = database.make_engine(database.normalise_url(config.storage.url, loaded.base_dir))
        http = HTTPClient()
        redis = _redis(config)
        providers = {name: _provider(name, cfg, http) for name, cfg in config.providers.items()}
        routes = [ModelRoute.from_config(name, m) for name, m in config.models.items()]
        models = ModelTable(routes, providers)
        keyring = KeyRing()
        directory, budget_alerts = _directory(engine, keyring, config)
        prompts = PromptBook(engine)
        refresher = Refresher(_reloading(directory, prompts), config.auth.refresh_interval_s)
        pricing = Pricing.from_config(config)
        limiter, limits_redis = _limiter(config)
        settlements = Settlements()
        payload_keys, writer, escalations = _writers(loaded, engine)
        cache = ResponseCache(config.cache, config.models, redis)
        breakers = Breakers(config.breaker, shared=redis)
        health = TargetHealth(window_s=config.breaker.window_s, shared=redis)
        targets = sorted({str(t) for route in routes for t in route.targets})
        breakers.watch(targets)
        health.watch(targets)
        loop, tracing = _routing(config, models, breakers, health)
        metrics = _metrics(config, targets, breakers, directory, writer, keyring)
        deps = StageDeps(
            config=config,
            keyring=keyring,
            models=models,
            sink=writer if metrics is None else MeteredSink(writer, metrics),
            cache=cache,
            routing=loop,
            pricing=pricing,
            rules=RuleBook(config, models, pricing, directory.budget_book),
            limiter=limiter,
            settlements=settlements,
            prompts=prompts,
            tracing=tracing,
            base_dir=loaded.base_dir,
            escalations=escalations,
        )
        chain = build_pipeline(config.pipeline.stages, deps, ProviderCall(models))
        return cls(
            loaded=loaded,
            engine=engine,
            http=http,
            providers=providers,
            models=models,
            keyring=keyring,
            refresher=refresher,
            directory=directory,
            prompts=prompts,
            writer=writer,
            chain=chain,
            config_hash=config.config_hash(),
            cache=cache,
            breakers=breakers,
            health=health,
            limiter=limiter,
            settlements=settlements,
            pricing=pricing,
            redis=redis,
            limits_redis=limits_redis,
            metrics=metrics,
            alerts=AlertEvaluator.from_config(
                engine, config.alerts, config_hash=config.config_hash()
            ),
            payload_keys=payload_keys,
            retention=RetentionJob.from_config(engine, config),
            tracing=tracing,
            budget_alerts=budget_alerts,
            escalations=escalations,
        )

    async def start(self) -> None:
        """Migrate, load keys, start background threads and the shared HTTP client."""
        self.migrate()
        if self.budget_alerts is not None:
            self.budget_alerts.start()
        self.refresher.refresh()
        self.refresher.start()
        if self.alerts is not None:
            self.alerts.start()
        self.writer.start()
        if self.escalations is not None:
            self.escalations.start()
        if self.retention is not None:
            self.retention.start()
        self.cache.start()
        await self.breakers.start()
        await self.health.start()
        await self.http.start()
        self.started = True
        targets = [t for name in self.models.names() for t in self.models.resolve(name).targets]
        unpriced = self.pricing.unpriced(targets)
        if unpriced:
            log.warning(
                "pricing.unknown",
                targets=unpriced,
                hint="their calls cost $0 in records and budgets; add [pricing] entries",
            )
        log.info(
            "runtime.started",
            config=self.loaded.source,
            config_hash=self.config_hash,
            models=self.models.names(),
            keys=len(self.keyring),
        )

    def migrate(self) -> None:
        try:
            database.upgrade(self.engine)
            self.migrated = True
        except StorageError as exc:
            log.error("storage.unavailable", error=exc.message)

    async def stop(self) -> None:
        """Flush every record (to the database, or to the spool if it is down), close clients."""
        self.refresher.stop()
        if self.budget_alerts is not None:
            self.budget_alerts.stop()
        if self.alerts is not None:
            self.alerts.stop()
        if self.retention is not None:
            self.retention.stop()
        await self.settlements.drain()
        if isinstance(self.limiter, FailoverLimiter):
            await self.limiter.flush()
        self.writer.stop(timeout_s=self.config.server.shutdown_timeout_s)
        if self.escalations is not None:
            self.escalations.stop(timeout_s=self.config.server.shutdown_timeout_s)
        await asyncio.to_thread(self.tracing.shutdown)
        await self.http.aclose()
        await self.breakers.stop()
        await self.health.stop()
        await self.cache.stop()
        for store in (self.redis, self.limits_redis):
            if store is not None:
                await store.aclose()
        for provider in self.providers.values():
            await provider.aclose()
        self.engine.dispose()
        self.started = False
        log.info("runtime.stopped")

    async def handle(self, ctx: CallContext) -> Result:
        return await self.chain(ctx)

    def target_health(self) -> dict[str, dict[str, object]]:
        """Per target: circuit breaker state and live statistics (`GET /api/health/targets`)."""
        breakers = self.breakers.snapshot()
        health = self.health.snapshot()
        view: dict[str, dict[str, object]] = {}
        for target in sorted(breakers.keys() | health.keys()):
            breaker = breakers.get(target, {})
            view[target] = {
                "state": breaker.get("state", "closed"),
                "breaker": breaker,
                **health.get(target, {}),
            }
        return view

    def readiness(self) -> list[str]:
        """Reasons the gateway is not ready; empty when it is."""
        problems = []
        if not self.started:
            problems.append("runtime not started")
        if not self.migrated:
            problems.append("database schema not migrated (database unreachable at startup)")
        if not self.keyring.loaded:
            problems.append(f"API keys not loaded: {self.refresher.last_error}")
        if self.writer.stats().state != "ok":
            problems.append("record writer is spooling: the database is unreachable")
        if self.models.names() and not any(self.models.available(n) for n in self.models.names()):
            problems.append("no model has an available target")
        return problems


def _redis(config: StewardConfig) -> RedisStore | None:
    """The shared client for breakers, health and the cache (limits have their own)."""
    cfg = config.redis
    return RedisStore(cfg.url, timeout_s=cfg.timeout_s, prefix=cfg.key_prefix) if cfg.url else None


def _writers(
    loaded: LoadedConfig, engine: Engine
) -> tuple[PayloadKeyring | None, RecordWriter, EscalationWriter | None]:
    """The payload keys, and the background writers that seal with them: records (and their
    payloads), and escalations when some model can escalate. ConfigError if keys are unusable."""
    config = loaded.config
    payload_keys = PayloadKeyring.from_config(config.payloads)
    spool_dir = _resolve(loaded.base_dir, config.storage.spool_dir)
    writer = RecordWriter(
        engine,
        spool_dir=spool_dir,
        batch_size=config.storage.batch_size,
        flush_interval_s=config.storage.flush_interval_s,
        retry_interval_s=config.storage.retry_interval_s,
        sealer=Sealer(payload_keys, PatternRedactor()),
    )
    return payload_keys, writer, escalation_writer(config, engine, payload_keys, spool_dir)


def _reloading(directory: Directory, prompts: PromptBook) -> Callable[[], None]:
    """What the refresher reloads: keys and budgets, then prompt versions and labels."""

    def reload() -> None:
        directory.reload()
        prompts.reload()

    return reload


def _directory(
    engine: Engine, keyring: KeyRing, config: StewardConfig
) -> tuple[Directory, BudgetAlerts]:
    """Keys and budgets in memory; budget thresholds crossed become alerts."""
    alerts = BudgetAlerts.from_config(engine, config.alerts, config_hash=config.config_hash())
    return Directory(engine, keyring, alerts.crossed), alerts


def _limiter(config: StewardConfig) -> tuple[Limiter, RedisStore | None]:
    """Redis when configured (shared by replicas; memory while it is down), else memory.

    Limits have a connection and a timeout of their own: correctness of shared counts matters
    more here than for the cache or breakers, which may skip Redis when it is slow."""
    url = config.redis.url
    if url is None or config.limits.backend == "memory":
        return MemoryLimiter(), None
    store = RedisStore(
        url, timeout_s=config.limits.redis_timeout_s / 2, prefix=config.redis.key_prefix
    )
    return FailoverLimiter(RedisLimiter(store), MemoryLimiter()), store


def _metrics(
    config: StewardConfig,
    targets: list[str],
    breakers: Breakers,
    directory: Directory,
    writer: RecordWriter,
    keyring: KeyRing,
) -> Metrics | None:
    """Request metrics from records, plus gauges read from these parts at scrape time."""
    if not config.metrics.enabled:
        return None
    metrics = Metrics(config.models, targets)
    gauges = RuntimeGauges(
        breakers=breakers,
        budgets=directory,
        writer=writer,
        keys=keyring,
        version=__version__,
        config_hash=config.config_hash(),
    )
    metrics.register(gauges)
    return metrics


def _routing(
    config: StewardConfig, models: ModelTable, breakers: Breakers, health: TargetHealth
) -> tuple[FallbackLoop, Tracing]:
    """The fallback loop, and the tracing its attempts report to (the stages' too)."""
    tracing = Tracing.from_config(config)
    return FallbackLoop(models, Router(health), breakers, health, tracing=tracing), tracing


def _resolve(base_dir: Path, path: str) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else base_dir / candidate


def _timeouts(cfg: HTTPProviderConfig) -> Timeouts:
    return Timeouts(
        total_s=cfg.timeout_s, connect_s=cfg.connect_timeout_s, idle_s=cfg.stream_idle_timeout_s
    )


def _provider(
    name: str,
    cfg: OpenAIProviderConfig | AnthropicProviderConfig | LocalProviderConfig,
    http: HTTPClient,
) -> Provider:
    if isinstance(cfg, LocalProviderConfig):
        return LocalProvider(
            name,
            model_path=cfg.model_path,
            n_ctx=cfg.n_ctx,
            n_threads=cfg.n_threads,
            max_queue=cfg.max_queue,
        )
    api_key = resolve_secret(cfg.api_key)
    if isinstance(cfg, AnthropicProviderConfig):
        return AnthropicProvider(
            name,
            base_url=cfg.base_url,
            api_key=api_key,
            http=http,
            timeouts=_timeouts(cfg),
            anthropic_version=cfg.anthropic_version,
            default_max_tokens=cfg.default_max_tokens,
        )
    return OpenAIProvider(
        name, base_url=cfg.base_url, api_key=api_key, http=http, timeouts=_timeouts(cfg)
    )
