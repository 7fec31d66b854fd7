"""The `[alerts]` section: rules over the request records, and the webhooks they notify.

Metrics are a closed `Literal` so a misspelt one is a config error at startup; a new metric is
one more name here and one more measuring function in `steward.observe.alerts.metrics`
(guard blocks, escalations and mean confidence came that way with the guardrails).
"""

from __future__ import annotations

from typing import Literal, TypeAlias, get_args

from pydantic import Field, field_validator, model_validator

from steward.config.section import Section

__all__ = [
    "CONDITIONS",
    "METRICS",
    "UNIT_INTERVAL_METRICS",
    "VOLUME_GATED_METRICS",
    "AlertRuleConfig",
    "AlertsConfig",
    "Condition",
    "DriftStatistic",
    "Metric",
    "WebhookConfig",
]

Metric: TypeAlias = Literal[
    "error_rate",
    "p95_latency_ms",
    "fallback_rate",
    "cost_usd",
    "requests",
    "budget_refusals",
    "rate_limited",
    "mean_cost_per_request",
    "drift",
    "guard_block_rate",
    "escalations",
    "mean_confidence",
]
METRICS: tuple[Metric, ...] = get_args(Metric)
VOLUME_GATED_METRICS: frozenset[Metric] = frozenset(
    {
        "error_rate",
        "p95_latency_ms",
        "fallback_rate",
        "mean_cost_per_request",
        "drift",
        "guard_block_rate",
        "mean_confidence",
    }
)
"""Ratios, means and distributions: not evaluated on fewer than `min_requests` records."""
UNIT_INTERVAL_METRICS: frozenset[Metric] = frozenset(
    {"error_rate", "fallback_rate", "drift", "guard_block_rate", "mean_confidence"}
)
"""Metrics whose value lies in [0, 1], so a threshold outside it could never be crossed."""

Condition: TypeAlias = Literal[">", ">=", "<", "<="]
CONDITIONS: tuple[Condition, ...] = get_args(Condition)
DriftStatistic: TypeAlias = Literal["ks", "p_value"]

_WEEK_S = 7 * 86_400.0
_DRIFT_ONLY = ("drift_statistic", "baseline_s")


class AlertRuleConfig(Section):
    """One `[[alerts.rules]]` entry: `metric` over the last `window_s`, compared to `threshold`."""

    name: str = Field(min_length=1, max_length=200)
    metric: Metric
    condition: Condition
    threshold: float
    model: str | None = None
    """Only records of this public model (None: every model)."""
    window_s: float = Field(default=300.0, gt=0)
    for_s: float = Field(default=0.0, ge=0)
    """How long the condition must hold before the alert fires."""
    min_requests: int = Field(default=10, ge=0)
    """Volume-gated metrics are not evaluated (and a firing alert resolves) below this."""
    drift_statistic: DriftStatistic = "ks"
    """`drift` only: `ks`, the largest Kolmogorov-Smirnov statistic of the report, or
    `p_value`, its smallest p-value."""
    baseline_s: float = Field(default=_WEEK_S, gt=0)
    """`drift` only: the baseline is this long and ends where the current window starts."""

    @model_validator(mode="after")
    def _consistent(self) -> AlertRuleConfig:
        where = f'rule "{self.name}"'
        if self.metric == "drift" and self.model is None:
            raise ValueError(f"{where}: metric drift compares one model's records; set model")
        stray = [k for k in _DRIFT_ONLY if k in self.model_fields_set and self.metric != "drift"]
        if stray:
            raise ValueError(f"{where}: {', '.join(stray)} apply only to metric drift")
        if self.metric in UNIT_INTERVAL_METRICS and not 0 <= self.threshold <= 1:
            raise ValueError(
                f"{where}: {self.metric} lies between 0 and 1; threshold {self.threshold} "
                "could never be crossed"
            )
        if self.threshold < 0 and self.metric not in UNIT_INTERVAL_METRICS:
            raise ValueError(f"{where}: {self.metric} is never negative; use a threshold >= 0")
        return self


class WebhookConfig(Section):
    url: str
    """`https://...`, or an `env:NAME` reference (webhook URLs often embed a token)."""
    format: Literal["json", "slack"] = "json"

    @field_validator("url")
    @classmethod
    def _url_or_reference(cls, url: str) -> str:
        if not url.startswith(("env:", "http://", "https://")):
            raise ValueError(f'webhook url "{url}" must be http(s)://... or an env:NAME reference')
        return url


class AlertsConfig(Section):
    evaluate_interval_s: float = Field(default=30.0, gt=0)
    resolve_messages: bool = True
    """Notify webhooks when an alert resolves, not only when it fires."""
    webhooks: tuple[WebhookConfig, ...] = ()
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    webhook_retries: int = Field(default=3, ge=0, le=10)
    """Further attempts after a failed delivery, with exponential backoff from 1 s."""
    rules: tuple[AlertRuleConfig, ...] = ()

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: tuple[AlertRuleConfig, ...]) -> tuple[AlertRuleConfig, ...]:
        names = [r.name for r in rules]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"alert rule names must be unique; repeated: {', '.join(twice)}")
        return rules

    def unknown_models(self, models: set[str]) -> list[str]:
        """Rules filtering on a public model that `[models]` does not define."""
        return [
            f'alerts rule "{r.name}": model "{r.model}" is not defined under [models]'
            for r in self.rules
            if r.model is not None and r.model not in models
        ]
