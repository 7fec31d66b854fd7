"""Budget soft thresholds as alerts: one `alerts` row and one webhook per budget, period and
threshold, however many replicas see the crossing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import structlog
from sqlalchemy.engine import Engine

from steward.config.alerts import AlertRuleConfig, AlertsConfig
from steward.errors import StorageError
from steward.limits.budgets import Crossing, budget_label
from steward.observe.alerts.payloads import AlertEvent
from steward.observe.alerts.webhooks import Notifier, webhooks_from_config
from steward.storage.alerts import open_alert

__all__ = ["BudgetAlerts", "rule_name"]

log = structlog.get_logger("steward.alerts")


def rule_name(crossing: Crossing) -> str:
    """Names the episode: one per budget, period and threshold (`budget bud_x 2026-12 80%`)."""
    return f"budget {crossing.row.id} {crossing.period} {crossing.threshold:.0%}"


class BudgetAlerts:
    """Writes each crossing to the `alerts` table (the table dedupes across replicas) and
    notifies the webhooks of `[alerts]` from the replica whose write took effect."""

    def __init__(self, engine: Engine, notifier: Notifier | None, *, config_hash: str) -> None:
        self._engine = engine
        self._notifier = notifier
        self._config_hash = config_hash

    @classmethod
    def from_config(cls, engine: Engine, config: AlertsConfig, *, config_hash: str) -> BudgetAlerts:
        webhooks = webhooks_from_config(config)
        notifier = (
            Notifier(webhooks, timeout_s=config.webhook_timeout_s, retries=config.webhook_retries)
            if webhooks
            else None
        )
        return cls(engine, notifier, config_hash=config_hash)

    def start(self) -> None:
        if self._notifier is not None:
            self._notifier.start()

    def stop(self) -> None:
        if self._notifier is not None:
            self._notifier.stop()

    def flush(self, timeout_s: float = 10.0) -> bool:
        return self._notifier.flush(timeout_s) if self._notifier is not None else True

    def crossed(self, crossings: Sequence[Crossing]) -> None:
        for crossing in crossings:
            try:
                self._open(crossing)
            except StorageError as exc:
                log.warning("budget.alert_not_stored", budget=crossing.row.id, error=exc.message)

    def _open(self, crossing: Crossing) -> None:
        row = crossing.row
        now = datetime.now(UTC)
        message = (
            f"{budget_label(row)}: ${crossing.spent_usd:.4f} spent, "
            f"{crossing.spent_usd / row.limit_usd:.0%} of the limit "
            f"(threshold {crossing.threshold:.0%}) in period {crossing.period}"
        )
        opened = open_alert(
            self._engine,
            rule=rule_name(crossing),
            started_at=now,
            value=crossing.spent_usd,
            threshold=row.limit_usd * crossing.threshold,
            message=message,
            labels={"budget": row.id, "scope": row.scope, "scope_id": row.scope_id},
        )
        if opened is None or self._notifier is None:
            return  # another replica stored (and notified) it
        rule = AlertRuleConfig(
            name=rule_name(crossing),
            metric="cost_usd",
            condition=">=",
            threshold=row.limit_usd * crossing.threshold,
            window_s=crossing.window_s,
            min_requests=0,
        )
        self._notifier.notify(
            AlertEvent(
                status="firing",
                rule=rule,
                value=crossing.spent_usd,
                started_at=now,
                resolved_at=None,
                message=message,
                config_hash=self._config_hash,
            )
        )
