"""Webhook delivery on a thread of its own: a short timeout, a few retries with backoff.

Nothing waits for a delivery: `notify` appends to a queue. A delivery that still fails after
its retries is logged (`alerts.webhook_failed`) and dropped; the alert itself is in the
`alerts` table either way. URLs are logged by host only: webhook URLs often carry a token.
Beyond `max_queue` waiting deliveries (a webhook down for a long time) the oldest are dropped.
"""

from __future__ import annotations

import http.client
import threading
import urllib.request
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import structlog

from steward.config.alerts import AlertsConfig
from steward.config.secrets import resolve_secret
from steward.observe.alerts.payloads import AlertEvent, render

__all__ = ["Notifier", "Webhook", "webhooks_from_config"]

log = structlog.get_logger("steward.alerts")


@dataclass(frozen=True, slots=True)
class Webhook:
    url: str
    """The resolved URL (never an `env:` reference)."""
    format: Literal["json", "slack"] = "json"

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc or "?"


def webhooks_from_config(config: AlertsConfig) -> list[Webhook]:
    """The configured webhooks with `env:` references resolved; unset ones are skipped (and
    logged), like a provider whose key is unset."""
    webhooks = []
    for entry in config.webhooks:
        url = resolve_secret(entry.url) if entry.url.startswith("env:") else entry.url
        if url is None:
            log.warning("alerts.webhook_unset", reference=entry.url, hint="set the variable")
            continue
        webhooks.append(Webhook(url=url, format=entry.format))
    return webhooks


class DeliveryError(Exception):
    """A webhook did not answer 2xx; urllib's and http.client's errors become this."""


class Notifier:
    def __init__(
        self,
        webhooks: Sequence[Webhook],
        *,
        timeout_s: float = 5.0,
        retries: int = 3,
        backoff_s: float = 1.0,
        max_queue: int = 1000,
    ) -> None:
        self._webhooks = tuple(webhooks)
        self._timeout_s = timeout_s
        self._retries = retries
        self._backoff_s = backoff_s
        self._queue: deque[tuple[Webhook, bytes, str]] = deque(maxlen=max_queue)
        self._changed = threading.Condition()
        self._busy = False
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="steward-webhooks", daemon=True)

    def notify(self, event: AlertEvent) -> None:
        with self._changed:
            for webhook in self._webhooks:
                self._queue.append((webhook, render(event, webhook.format), event.rule.name))
            self._changed.notify_all()

    def start(self) -> None:
        self._thread.start()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued delivery was made or given up; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._queue and not self._busy, timeout_s)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Deliver what is queued (no more backoff waits) for up to `timeout_s`, then stop."""
        self._closing.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout_s)

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._queue or self._closing.is_set())
                if not self._queue:
                    return
                webhook, body, rule = self._queue.popleft()
                self._busy = True
            try:
                self._deliver(webhook, body, rule)
            finally:
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()

    def _deliver(self, webhook: Webhook, body: bytes, rule: str) -> None:
        for attempt in range(self._retries + 1):
            try:
                self._post(webhook.url, body)
                return
            except DeliveryError as exc:
                error = str(exc)
            last = attempt == self._retries or self._closing.is_set()
            if last:
                log.warning(
                    "alerts.webhook_failed",
                    rule=rule,
                    webhook=webhook.host,
                    attempts=attempt + 1,
                    error=error,
                )
                return
            self._closing.wait(self._backoff_s * 2**attempt)

    def _post(self, url: str, body: bytes) -> None:
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"content-type": "application/json", "user-agent": "steward-alerts"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
                response.read()
        except (OSError, ValueError, http.client.HTTPException) as exc:
            # HTTPError (a non-2xx answer) and URLError are OSErrors; ValueError is a bad URL.
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
