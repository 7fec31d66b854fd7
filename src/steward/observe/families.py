"""Counter and histogram families kept as plain numbers, turned into Prometheus families at scrape.

`prometheus_client`'s own `Counter` and `Histogram` take a lock and check the metric on every
`inc` (about 0.8 µs) and scan the buckets linearly on every `observe` (1.7 to 3.4 µs), which is
most of the cost of counting a record (bench/metrics_overhead.py). These children are slotted
objects whose increments are attribute additions, and a histogram finds its bucket by bisection.
They are touched only from the event loop (the record stage and stream finalisers submit there,
and `/metrics` renders there), so, like `cache/stats.py`, they need no lock.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

__all__ = ["Count", "CounterFamily", "HistogramFamily", "Observations"]


class Count:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0


class Observations:
    """One histogram child: counts per bucket (not cumulative; the last is +Inf) and the sum."""

    __slots__ = ("_bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self._bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self._bounds, value)] += 1  # the first bound >= value: `le`
        self.total += value


class CounterFamily:
    """A counter with labels; `child(values)` is bound once and kept by the caller."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str]) -> None:
        self.name = name
        self._documentation = documentation
        self._labels = list(labels)
        self._children: dict[tuple[str, ...], Count] = {}

    def child(self, *values: str) -> Count:
        found = self._children.get(values)
        if found is None:
            found = self._children[values] = Count()
        return found

    def collect(self) -> CounterMetricFamily:
        family = CounterMetricFamily(self.name, self._documentation, labels=self._labels)
        for values, count in sorted(self._children.items()):
            family.add_metric(list(values), count.value)
        return family


class HistogramFamily:
    """A histogram with labels and fixed buckets (seconds, upper bounds, ascending)."""

    def __init__(
        self, name: str, documentation: str, labels: Sequence[str], buckets: Sequence[float]
    ) -> None:
        self.name = name
        self._documentation = documentation
        self._labels = list(labels)
        self._bounds = tuple(buckets)
        self._children: dict[tuple[str, ...], Observations] = {}

    def child(self, *values: str) -> Observations:
        found = self._children.get(values)
        if found is None:
            found = self._children[values] = Observations(self._bounds)
        return found

    def collect(self) -> HistogramMetricFamily:
        family = HistogramMetricFamily(self.name, self._documentation, labels=self._labels)
        edges = [*(_le(b) for b in self._bounds), "+Inf"]
        for values, child in sorted(self._children.items()):
            cumulative, buckets = 0, []
            for edge, count in zip(edges, child.counts, strict=True):
                cumulative += count
                buckets.append((edge, float(cumulative)))
            family.add_metric(list(values), buckets, child.total)
        return family


def _le(bound: float) -> str:
    """Bucket bounds as Prometheus clients write them (`0.5`, `1.0`, `120.0`)."""
    return repr(float(bound))
