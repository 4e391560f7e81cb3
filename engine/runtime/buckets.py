"""Histograms kept as plain bucket counts, cheap enough for a per-batch hot path.

The OpenTelemetry SDK's `Histogram.record` costs microseconds (attribute hashing, a lock): too much once per
batch when batches hold one message. A stream keeps its batch sizes and latencies here instead (a bisect and
three additions per observation) and the gateway's metrics export them at collection time.
"""

from __future__ import annotations

from bisect import bisect_left

BATCH_SIZE_BOUNDS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0)
LATENCY_BOUNDS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                  5.0, 10.0)


class Buckets:
    """Counts per bucket: `counts[i]` holds values in (bounds[i-1], bounds[i]], the last one those above every
    bound (Prometheus `le` and OpenTelemetry explicit-bucket semantics)."""

    __slots__ = ("bounds", "counts", "sum", "min", "max")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.min = float("inf")
        self.max = float("-inf")

    def add(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def merge(self, other: "Buckets") -> None:
        """Add OTHER's observations (same bounds) to these."""
        self.counts = [a + b for a, b in zip(self.counts, other.counts)]
        self.sum += other.sum
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
