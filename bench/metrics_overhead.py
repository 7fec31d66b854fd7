"""CPU per `submit` of a request record with Prometheus metrics on and off.

    python bench/metrics_overhead.py [--records 100000] [--rounds 5] [--series 24]

Both sides submit the same records to a `RecordWriter` whose thread is not started (so
`submit` is its real O(1) append and nothing else runs); "on" wraps it in `MeteredSink`. The
records mix streams, errors, cache outcomes, fallbacks and teams over `--series` distinct label
combinations, so the child lookup is exercised as in a real gateway. CPU is
`time.process_time` over all the records, best of `--rounds`; the last line is the difference.
Also times one scrape (`Metrics.render`) with those series present, and, for reference, the same
counting with `prometheus_client`'s own `Counter` and `Histogram` children bound the same way
(the design docs/architecture.md explains not taking).
"""

from __future__ import annotations

import argparse
import itertools
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from steward.observe.metrics import LATENCY_BUCKETS_S, TTFT_BUCKETS_S, MeteredSink, Metrics
from steward.observe.writer import RecordWriter
from steward.storage.records import RequestRecord

MODELS = ["gpt-4o-mini", "claude", "embed"]
TARGETS = ["openai/gpt-4o-mini", "anthropic/claude-3-5-haiku", "openai/text-embedding-3-small"]


def make_records(count: int, series: int) -> list[RequestRecord]:
    now = datetime.now(UTC)
    shapes = list(
        itertools.product(
            range(len(MODELS)),
            [(200, None), (502, "upstream_error"), (429, "rate_limit_error")],
            [None, "hit", "miss"],
            [None, "team_a", "team_b"],
            [False, True],
        )
    )
    random.Random(0).shuffle(shapes)
    shapes = shapes[:series]
    records = []
    for i in range(count):
        model, (status, error), cache, team, stream = shapes[i % len(shapes)]
        records.append(
            RequestRecord(
                id=uuid.uuid4().hex,
                created_at=now,
                endpoint="chat",
                status=status,
                latency_ms=50.0 + (i % 400) * 10.0,
                config_hash="0123456789abcdef",
                stream=stream,
                key_id="key_0123456789abcdef",
                public_model=MODELS[model],
                target=TARGETS[model],
                error_type=error,
                ttft_ms=120.0 if stream else None,
                input_tokens=512,
                output_tokens=128,
                attempt_count=1 + (i % 7 == 0),
                cache=cache,
                team_id=team,
                cost_usd=0.000345,
            )
        )
    return records


def cpu_per_submit_us(records: list[RequestRecord], *, metered: bool, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as spool:
            writer = RecordWriter(_no_engine, spool_dir=Path(spool), batch_size=len(records) + 1)
            sink = MeteredSink(writer, Metrics(MODELS, TARGETS)) if metered else writer
            submit = sink.submit
            started = time.process_time()
            for record in records:
                submit(record)
            best = min(best, time.process_time() - started)
    return best / len(records) * 1e6


class ClientChildren:
    """What `Metrics.observe` does, on `prometheus_client` children (one bundle per key)."""

    def __init__(self) -> None:
        r = CollectorRegistry()
        me, mt = ["model", "endpoint"], ["model", "target"]
        self.requests = Counter("req", "", [*me, "status_class", "cache"], registry=r)
        self.errors = Counter("err", "", [*me, "error_type"], registry=r)
        self.duration = Histogram("dur", "", me, buckets=LATENCY_BUCKETS_S, registry=r)
        self.ttft = Histogram("ttft", "", me, buckets=TTFT_BUCKETS_S, registry=r)
        self.tokens_in = Counter("tin", "", mt, registry=r)
        self.tokens_out = Counter("tout", "", mt, registry=r)
        self.cost = Counter("cost", "", [*mt, "team"], registry=r)
        self.attempts = Counter("att", "", ["model"], registry=r)
        self.cache = Counter("cache", "", ["model", "outcome"], registry=r)
        self.bound: dict[tuple[object, ...], tuple[Any, ...]] = {}

    def submit(self, rec: RequestRecord) -> None:
        key = (rec.public_model, rec.endpoint, rec.status, rec.stream, rec.cache, rec.target,
               rec.team_id, rec.error_type)  # fmt: skip
        b = self.bound.get(key)
        if b is None:
            b = self.bound[key] = self._bind(rec)
        req, dur, ttft, tin, tout, cost, att, err, cache = b
        req.inc()
        dur.observe(rec.latency_ms / 1000)
        if ttft is not None and rec.ttft_ms is not None:
            ttft.observe(rec.ttft_ms / 1000)
        tin.inc(rec.input_tokens or 0)
        tout.inc(rec.output_tokens or 0)
        cost.inc(rec.cost_usd or 0)
        att.inc(rec.attempt_count or 0)
        if err is not None:
            err.inc()
        if cache is not None:
            cache.inc()

    def _bind(self, rec: RequestRecord) -> tuple[Any, ...]:
        model, endpoint, target = rec.public_model or "", rec.endpoint, rec.target or ""
        return (
            self.requests.labels(model, endpoint, str(rec.status // 100), rec.cache or ""),
            self.duration.labels(model, endpoint),
            self.ttft.labels(model, endpoint) if rec.stream else None,
            self.tokens_in.labels(model, target),
            self.tokens_out.labels(model, target),
            self.cost.labels(model, target, rec.team_id or ""),
            self.attempts.labels(model),
            self.errors.labels(model, endpoint, rec.error_type) if rec.error_type else None,
            self.cache.labels(model, rec.cache) if rec.cache else None,
        )


def client_children_us(records: list[RequestRecord], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        submit = ClientChildren().submit
        started = time.process_time()
        for record in records:
            submit(record)
        best = min(best, time.process_time() - started)
    return best / len(records) * 1e6


def scrape_ms(records: list[RequestRecord]) -> tuple[float, int]:
    metrics = Metrics(MODELS, TARGETS)
    for record in records:
        metrics.observe(record)
    started = time.process_time()
    body = metrics.render()
    return (time.process_time() - started) * 1000, body.count(b"\n")


def _no_engine() -> object:
    raise AssertionError("the writer thread is never started")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--series", type=int, default=24)
    args = parser.parse_args()
    records = make_records(args.records, args.series)
    off = cpu_per_submit_us(records, metered=False, rounds=args.rounds)
    on = cpu_per_submit_us(records, metered=True, rounds=args.rounds)
    render_ms, lines = scrape_ms(records)
    reference = client_children_us(records, args.rounds)
    print(f"records: {args.records:,}  label combinations: {args.series}")
    print(f"submit, metrics off: {off:6.2f} us CPU")
    print(f"submit, metrics on:  {on:6.2f} us CPU")
    print(f"metrics cost:        {on - off:6.2f} us CPU per record")
    print(f"one scrape:          {render_ms:6.2f} ms CPU ({lines} lines)")
    print(f"reference, counting on prometheus_client children: {reference:6.2f} us CPU")


if __name__ == "__main__":
    main()
