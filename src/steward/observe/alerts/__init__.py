"""Alerts: rules over request records, evaluated on a background thread, notified by webhook.

AlertEvaluator (evaluator.py)   every `evaluate_interval_s`: measure each rule's metric
  ├── metrics.py                  over its window (SQL aggregates, bounded samples, drift)
  ├── state.py                    per rule: ok → pending (for `for_s`) → firing → resolved
  ├── storage/alerts.py           the `alerts` table decides which replica notifies
  └── Notifier (webhooks.py)      a thread of its own POSTs payloads.py's JSON or Slack body
"""

from steward.observe.alerts.evaluator import AlertEvaluator, RuleStatus
from steward.observe.alerts.webhooks import Notifier, Webhook

__all__ = ["AlertEvaluator", "Notifier", "RuleStatus", "Webhook"]
