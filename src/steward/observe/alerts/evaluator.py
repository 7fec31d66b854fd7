"""The alert evaluator: every `evaluate_interval_s`, on a thread, every rule is measured and
stepped through its state machine; transitions are written to the `alerts` table and the
replica that wrote one notifies the webhooks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog

from steward.config.alerts import AlertRuleConfig, AlertsConfig
from steward.errors import StewardError
from steward.observe.alerts.metrics import MEASURES, Measurement, WindowReader
from steward.observe.alerts.payloads import AlertEvent
from steward.observe.alerts.state import Phase, RuleTracker, holds
from steward.observe.alerts.webhooks import Notifier, webhooks_from_config
from steward.storage.alerts import AlertRow, Labels, firing_alerts, open_alert, resolve_alert

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


__all__ = ["AlertEvaluator", "RuleStatus"]

log = structlog.get_logger("steward.alerts")


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class RuleStatus:
    """One rule after one evaluation: its measurement and where its state machine stands."""

    rule: AlertRuleConfig
    measurement: Measurement
    holding: bool
    phase: Phase
    firing_since: datetime | None
    """When the episode in the table started, if one is firing."""


class AlertEvaluator:
    def __init__(
        self,
        engine: Engine,
        config: AlertsConfig,
        *,
        config_hash: str,
        notifier: Notifier | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._engine = engine
        self._config = config
        self._config_hash = config_hash
        self._notifier = notifier
        self._clock = clock
        self._trackers = {rule.name: RuleTracker(rule.for_s) for rule in config.rules}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="steward-alerts", daemon=True)
        self._last_error: str | None = None

    @classmethod
    def from_config(
        cls, engine: Engine, config: AlertsConfig, *, config_hash: str
    ) -> AlertEvaluator | None:
        """The gateway's evaluator, notifying the configured webhooks; None without rules."""
        if not config.rules:
            return None
        webhooks = webhooks_from_config(config)
        notifier = (
            Notifier(webhooks, timeout_s=config.webhook_timeout_s, retries=config.webhook_retries)
            if webhooks
            else None
        )
        return cls(engine, config, config_hash=config_hash, notifier=notifier)

    def measure(self, now: datetime | None = None) -> list[RuleStatus]:
        """Measure every rule without changing any state (`steward alerts check`)."""
        now = now or self._clock()
        reader = WindowReader(self._engine, now)
        firing = firing_alerts(self._engine)
        statuses = []
        for rule in self._config.rules:
            measured = MEASURES[rule.metric](reader, rule)
            episode = firing.get(rule.name)
            statuses.append(
                RuleStatus(
                    rule=rule,
                    measurement=measured,
                    holding=_holds(rule, measured),
                    phase=self._trackers[rule.name].phase,
                    firing_since=episode.started_at if episode else None,
                )
            )
        return statuses

    def evaluate(self, now: datetime | None = None) -> list[RuleStatus]:
        """One pass: measure, step each rule, record and notify transitions."""
        now = now or self._clock()
        statuses = []
        for status in self.measure(now):
            rule, tracker = status.rule, self._trackers[status.rule.name]
            action = tracker.step(status.holding, now, firing=status.firing_since is not None)
            if action == "fire":
                self._fire(rule, status.measurement, now)
                tracker.fired()
            elif action == "resolve":
                self._resolve(rule, status.measurement, now)
            statuses.append(replace(status, phase=tracker.phase))
        return statuses

    def _fire(self, rule: AlertRuleConfig, measured: Measurement, now: datetime) -> None:
        message = _message(rule, measured, firing=True)
        row = open_alert(
            self._engine,
            rule=rule.name,
            started_at=now,
            value=measured.value,
            threshold=rule.threshold,
            message=message,
            labels=_labels(rule, self._config_hash),
        )
        if row is None:
            return  # another replica opened the episode and notified
        log.warning("alerts.firing", rule=rule.name, value=measured.value, message=message)
        self._notify(row, rule, measured)

    def _resolve(self, rule: AlertRuleConfig, measured: Measurement, now: datetime) -> None:
        message = _message(rule, measured, firing=False)
        row = resolve_alert(self._engine, rule=rule.name, resolved_at=now, message=message)
        if row is None:
            return
        log.info("alerts.resolved", rule=rule.name, value=measured.value, message=message)
        if self._config.resolve_messages:
            self._notify(row, rule, measured)

    def _notify(self, row: AlertRow, rule: AlertRuleConfig, measured: Measurement) -> None:
        if self._notifier is None:
            return
        self._notifier.notify(
            AlertEvent(
                status=row.state,
                rule=rule,
                value=measured.value,
                started_at=row.started_at,
                resolved_at=row.resolved_at,
                message=row.message,
                config_hash=self._config_hash,
            )
        )

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every webhook delivery queued so far was made or given up."""
        return self._notifier.flush(timeout_s) if self._notifier is not None else True

    def start(self) -> None:
        if self._notifier is not None:
            self._notifier.start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        if self._notifier is not None:
            self._notifier.stop()

    def _run(self) -> None:
        while not self._stop.wait(self._config.evaluate_interval_s):
            try:
                self.evaluate()
            except StewardError as exc:
                if exc.message != self._last_error:
                    log.warning("alerts.evaluation_failed", error=exc.message)
                self._last_error = exc.message
                continue
            except Exception:
                # A bug must not end alerting for the life of the process.
                log.exception("alerts.evaluation_crashed")
                continue
            self._last_error = None


def _holds(rule: AlertRuleConfig, measured: Measurement) -> bool:
    value = measured.value
    return value is not None and holds(rule.condition, value, rule.threshold)


def _labels(rule: AlertRuleConfig, config_hash: str) -> Labels:
    return {
        "metric": rule.metric,
        "model": rule.model,
        "condition": rule.condition,
        "window_s": rule.window_s,
        "config_hash": config_hash,
    }


def _message(rule: AlertRuleConfig, measured: Measurement, *, firing: bool) -> str:
    scope = f" for model {rule.model}" if rule.model else ""
    window = f"over the last {_duration(rule.window_s)}{scope}"
    if measured.value is None:
        return f"{rule.name}: {rule.metric} not evaluated {window}: {measured.detail}"
    relation = rule.condition if firing else f"no longer {rule.condition}"
    return (
        f"{rule.name}: {rule.metric} {measured.value:.4g} {relation} {rule.threshold:g} "
        f"{window} ({measured.detail})"
    )


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"
