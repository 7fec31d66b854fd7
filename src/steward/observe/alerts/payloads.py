"""Webhook bodies for an alert transition: a generic JSON object, or a Slack message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import orjson

from steward.config.alerts import AlertRuleConfig
from steward.storage.alerts import AlertState
from steward.types import JSONObject

__all__ = ["AlertEvent", "json_payload", "render", "slack_payload"]


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One transition to notify: an episode fired, or resolved."""

    status: AlertState
    rule: AlertRuleConfig
    value: float | None
    """The metric when the transition happened (None: no longer evaluated, too few requests)."""
    started_at: datetime
    resolved_at: datetime | None
    message: str
    config_hash: str


def json_payload(event: AlertEvent) -> JSONObject:
    rule = event.rule
    return {
        "status": event.status,
        "rule": rule.name,
        "metric": rule.metric,
        "value": event.value,
        "threshold": rule.threshold,
        "condition": rule.condition,
        "window_s": rule.window_s,
        "model": rule.model,
        "started_at": event.started_at.isoformat(),
        "resolved_at": event.resolved_at.isoformat() if event.resolved_at else None,
        "message": event.message,
        "gateway": {"config_hash": event.config_hash},
    }


def slack_payload(event: AlertEvent) -> JSONObject:
    """Incoming-webhook shape: `text` for notifications and old clients, `blocks` to show."""
    rule = event.rule
    icon = ":rotating_light:" if event.status == "firing" else ":white_check_mark:"
    title = f"{icon} [{event.status.upper()}] {rule.name}"
    facts = [
        f"*metric* `{rule.metric}`",
        f"*value* {_number(event.value)} (`{rule.condition} {_number(rule.threshold)}`)",
        f"*window* {rule.window_s:g} s",
        f"*model* {rule.model or 'all'}",
    ]
    when = f"started {event.started_at.isoformat(timespec='seconds')}"
    if event.resolved_at:
        when += f", resolved {event.resolved_at.isoformat(timespec='seconds')}"
    return {
        "text": f"{title}: {event.message}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150], "emoji": True}},
            {"type": "section", "text": {"type": "mrkdwn", "text": event.message}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in facts]},
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"{when} · config {event.config_hash}"}],
            },
        ],
    }


def render(event: AlertEvent, format: Literal["json", "slack"]) -> bytes:
    body = slack_payload(event) if format == "slack" else json_payload(event)
    return orjson.dumps(body)


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"
