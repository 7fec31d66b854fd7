"""Stage names to factories, so `[pipeline] stages` in config decides the order."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from steward.auth.keyring import KeyRing
from steward.cache.responses import ResponseCache
from steward.config.schema import StewardConfig
from steward.costs import Pricing
from steward.limits.base import Limiter
from steward.limits.rules import RuleBook
from steward.observe.tracing import Tracing
from steward.payloads.capture import PayloadCapture
from steward.pipeline.stage import Next, Stage, build_chain
from steward.pipeline.stages.auth import AuthStage
from steward.pipeline.stages.cache import CacheStage
from steward.pipeline.stages.guard_input import InputGuardStage
from steward.pipeline.stages.guard_output import EscalationSink, OutputGuardStage
from steward.pipeline.stages.limits import LimitsStage, Settlements
from steward.pipeline.stages.parse import ParseStage
from steward.pipeline.stages.prompt import PromptStage
from steward.pipeline.stages.record import RecordSink, RecordStage
from steward.pipeline.stages.route import RouteStage
from steward.pipeline.stages.trace import TraceStage
from steward.prompts.book import PromptBook
from steward.routing.loop import FallbackLoop
from steward.routing.targets import ModelTable
from steward.wire.openai import TokenUsage


@dataclass(frozen=True, slots=True)
class StageDeps:
    """What built-in stages may depend on; all of it is built once by the runtime."""

    config: StewardConfig
    keyring: KeyRing
    models: ModelTable
    sink: RecordSink
    cache: ResponseCache
    routing: FallbackLoop
    pricing: Pricing
    rules: RuleBook
    limiter: Limiter
    settlements: Settlements
    prompts: PromptBook = field(default_factory=PromptBook)
    tracing: Tracing = field(default_factory=Tracing.disabled)
    base_dir: Path | None = None
    """The config file's directory; relative paths in config are relative to it."""
    escalations: EscalationSink | None = None


StageFactory = Callable[[StageDeps], Stage]

BUILTIN_STAGES: Mapping[str, StageFactory] = {
    "record": lambda d: RecordStage(
        d.sink, d.config.config_hash(), d.pricing, PayloadCapture.from_config(d.config)
    ),
    "trace": lambda d: TraceStage(d.tracing, d.pricing),
    "auth": lambda d: AuthStage(d.keyring, required=d.config.auth.required),
    "prompt": lambda d: PromptStage(d.prompts, max_body_bytes=d.config.server.max_body_bytes),
    "parse": lambda d: ParseStage(max_body_bytes=d.config.server.max_body_bytes),
    "guard_input": lambda d: InputGuardStage(d.config),
    "guard_output": lambda d: OutputGuardStage(
        d.config, base_dir=d.base_dir, escalations=d.escalations
    ),
    "limits": lambda d: LimitsStage(d.rules, d.limiter, d.pricing, d.settlements),
    "cache": lambda d: CacheStage(d.cache, _first_target_price(d)),
    "route": lambda d: RouteStage(d.models, d.routing),
}


def _first_target_price(deps: StageDeps) -> Callable[[str, TokenUsage], float | None]:
    def price(model: str, usage: TokenUsage) -> float | None:
        return deps.pricing.cost_usd(deps.models.resolve(model).targets[0], usage)

    return price


def build_pipeline(names: Sequence[str], deps: StageDeps, terminal: Next) -> Next:
    """Build the chain in config order (the config schema has validated the names); with
    tracing on, the stages named in `[tracing] stage_spans` get spans (`Tracing.traced`)."""
    return build_chain([deps.tracing.traced(n, BUILTIN_STAGES[n](deps)) for n in names], terminal)
