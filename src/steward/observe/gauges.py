"""Scrape-time metrics: the state of breakers, budgets, the record writer and keys, read from
the runtime's parts each time `/metrics` is rendered (on the event loop, like every reader of
breaker state), so nothing on the request path keeps them up to date."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from steward.limits.budgets import BudgetBook
from steward.observe.writer import WriterStats

__all__ = ["BREAKER_STATES", "RuntimeGauges"]

BREAKER_STATES = ("closed", "half_open", "open")


class _Breakers(Protocol):
    def snapshot(self) -> dict[str, dict[str, object]]: ...


class _Budgets(Protocol):
    def budget_book(self) -> BudgetBook: ...


class _Writer(Protocol):
    def stats(self) -> WriterStats: ...


class _Keys(Protocol):
    def __len__(self) -> int: ...


class RuntimeGauges(Collector):
    """A custom collector over the runtime's breakers, budget book, writer and key ring."""

    def __init__(
        self,
        *,
        breakers: _Breakers,
        budgets: _Budgets,
        writer: _Writer,
        keys: _Keys,
        version: str,
        config_hash: str,
    ) -> None:
        self._breakers = breakers
        self._budgets = budgets
        self._writer = writer
        self._keys = keys
        self._info = (version, config_hash)

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "steward_info",
            "Always 1: the running version and config hash.",
            labels=["version", "config_hash"],
        )
        info.add_metric(list(self._info), 1)
        yield info
        keys = GaugeMetricFamily("steward_api_keys", "Active API keys loaded in memory.")
        keys.add_metric([], len(self._keys))
        yield keys
        yield from self._breaker_state(self._breakers.snapshot())
        yield from self._budget_use(self._budgets.budget_book(), datetime.now(UTC))
        yield from self._writer_stats(self._writer.stats())

    @staticmethod
    def _breaker_state(snapshot: dict[str, dict[str, object]]) -> Iterable[Metric]:
        state = GaugeMetricFamily(
            "steward_breaker_state",
            "Circuit breaker per target: 1 for its current state, 0 for the others.",
            labels=["target", "state"],
        )
        for target, breaker in snapshot.items():
            current = breaker.get("state", "closed")
            for name in BREAKER_STATES:
                state.add_metric([target, name], 1.0 if current == name else 0.0)
        return [state]

    @staticmethod
    def _budget_use(book: BudgetBook, now: datetime) -> Iterable[Metric]:
        labels = ["budget", "scope", "period", "team"]
        ratio = GaugeMetricFamily(
            "steward_budget_used_ratio",
            "Spend of the budget's current period over its limit, as of the last reload.",
            labels=labels,
        )
        spent = GaugeMetricFamily(
            "steward_budget_spent_usd",
            "Spend of the budget's current period in USD, as of the last reload.",
            labels=labels,
        )
        limit = GaugeMetricFamily(
            "steward_budget_limit_usd", "The budget's limit in USD.", labels=labels
        )
        for row in book.rows:
            values = [row.id, row.scope, row.period, row.team_id or "none"]
            used = book.seed(row, now)  # 0 once a new period has begun since the reload
            spent.add_metric(values, used)
            limit.add_metric(values, row.limit_usd)
            ratio.add_metric(values, used / row.limit_usd if row.limit_usd > 0 else 1.0)
        return [ratio, spent, limit]

    @staticmethod
    def _writer_stats(stats: WriterStats) -> Iterable[Metric]:
        queue = GaugeMetricFamily("steward_record_queue_depth", "Records waiting for the writer.")
        queue.add_metric([], stats.queue_depth)
        spool = GaugeMetricFamily(
            "steward_record_spool_records", "Records in the spool, waiting for the database."
        )
        spool.add_metric([], stats.spooled_records)
        spooling = GaugeMetricFamily(
            "steward_record_writer_spooling",
            "1 while the database is unreachable and records spool.",
        )
        spooling.add_metric([], 1.0 if stats.state == "spooling" else 0.0)
        written = CounterMetricFamily(
            "steward_records_written", "Records written to the database by this process."
        )
        written.add_metric([], stats.written_total)
        failed = CounterMetricFamily(
            "steward_record_failed_batches", "Batches the database failed to take (then spooled)."
        )
        failed.add_metric([], stats.failed_batches)
        return [queue, spool, spooling, written, failed]
