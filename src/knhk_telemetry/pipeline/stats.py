"""Pipeline statistics that are true: counters by reason and a real latency distribution.

Counters only grow and are updated under one lock by the producer and worker threads;
``snapshot()`` returns an immutable copy. Batch latency (from the moment the oldest item of a
batch was accepted to the moment every exporter returned) is kept in a ring of the most recent
``LATENCY_WINDOW`` batches, so p50/p95/p99 are exact quantiles of that window, not a running max.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

#: how many recent batch latencies the percentiles are computed over
LATENCY_WINDOW = 8192


@dataclass(frozen=True, slots=True)
class StatsSnapshot:
    """Counts of items (spans, data points or log records) at each stage, since start."""

    received: int
    accepted: int
    refused: dict[str, int]
    dropped: dict[str, int]
    processed: int
    exported: int
    export_failures: int
    queue_depth: int
    queue_capacity: int
    batches: int
    sampling_rate: float
    latency_count: int
    latency_sum_s: float
    latency_p50_s: float
    latency_p95_s: float
    latency_p99_s: float
    by_signal: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


class PipelineStats:
    """Thread-safe counters of one pipeline."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.received = 0
        self.accepted = 0
        self.refused: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.processed = 0
        self.exported = 0
        self.export_failures = 0
        self.batches = 0
        self._by_signal: dict[str, Counter[str]] = {}
        self._lat = np.zeros(LATENCY_WINDOW, dtype=np.float64)
        self._lat_n = 0
        self._lat_sum = 0.0

    def _signal(self, signal: str) -> Counter[str]:
        c = self._by_signal.get(signal)
        if c is None:
            c = self._by_signal[signal] = Counter()
        return c

    def on_received(self, signal: str, n: int) -> None:
        with self._lock:
            self.received += n
            self._signal(signal)["received"] += n

    def on_accepted(self, signal: str, n: int) -> None:
        with self._lock:
            self.accepted += n
            self._signal(signal)["accepted"] += n

    def on_refused(self, signal: str, counts: Counter[str] | dict[str, int]) -> None:
        with self._lock:
            for reason, n in counts.items():
                self.refused[reason] += n
                self._signal(signal)["refused"] += n

    def on_dropped(self, signal: str, reason: str, n: int) -> None:
        if n <= 0:
            return
        with self._lock:
            self.dropped[reason] += n
            self._signal(signal)["dropped"] += n

    def on_processed(self, signal: str, n_in: int, n_out: int) -> None:
        with self._lock:
            self.processed += n_in
            self._signal(signal)["processed"] += n_in
            if n_out < n_in:
                self.dropped["processor"] += n_in - n_out

    def on_exported(self, signal: str, n: int, failures: int, latency_s: float) -> None:
        with self._lock:
            self.exported += n
            self.export_failures += failures
            self.batches += 1
            self._signal(signal)["exported"] += n
            self._lat[self._lat_n % LATENCY_WINDOW] = latency_s
            self._lat_n += 1
            self._lat_sum += latency_s

    def snapshot(self, *, queue_depth: int, queue_capacity: int, sampling_rate: float) -> StatsSnapshot:
        with self._lock:
            n = min(self._lat_n, LATENCY_WINDOW)
            if n:
                p50, p95, p99 = (float(x) for x in np.quantile(self._lat[:n], [0.5, 0.95, 0.99]))
            else:
                p50 = p95 = p99 = 0.0
            return StatsSnapshot(
                received=self.received,
                accepted=self.accepted,
                refused=dict(self.refused),
                dropped=dict(self.dropped),
                processed=self.processed,
                exported=self.exported,
                export_failures=self.export_failures,
                queue_depth=queue_depth,
                queue_capacity=queue_capacity,
                batches=self.batches,
                sampling_rate=sampling_rate,
                latency_count=self._lat_n,
                latency_sum_s=self._lat_sum,
                latency_p50_s=p50,
                latency_p95_s=p95,
                latency_p99_s=p99,
                by_signal={s: dict(c) for s, c in self._by_signal.items()},
            )


SampleTuple = tuple[str, str, str, dict[str, str], float]
_P = "knhk_telemetry_pipeline_"


def stats_samples(snap: StatsSnapshot, labels: dict[str, str]) -> list[SampleTuple]:
    """A snapshot as Prometheus samples ``(name, type, help, labels, value)``, units in names."""
    out: list[SampleTuple] = []

    def add(name: str, typ: str, help_: str, value: float, **extra: str) -> None:
        out.append((_P + name, typ, help_, {**labels, **extra}, float(value)))

    for signal, counts in sorted(snap.by_signal.items()):
        for stage in ("received", "accepted", "processed", "exported"):
            add(
                f"{stage}_items_total",
                "counter",
                f"Items (spans, data points, log records) {stage}.",
                counts.get(stage, 0),
                signal=signal,
            )
    for reason, n in sorted(snap.refused.items()):
        add("refused_items_total", "counter", "Items refused at the pipeline's entry, by reason.", n, reason=reason)
    for reason, n in sorted(snap.dropped.items()):
        add("dropped_items_total", "counter", "Accepted items dropped before export, by reason.", n, reason=reason)
    add(
        "export_failed_items_total",
        "counter",
        "Items an exporter failed to take (counted per exporter).",
        snap.export_failures,
    )
    add("batches_total", "counter", "Batches handed to the exporters.", snap.batches)
    add("queue_depth_items", "gauge", "Items queued or in flight.", snap.queue_depth)
    add("queue_capacity_items", "gauge", "Items the queue holds before backpressure applies.", snap.queue_capacity)
    add(
        "sampling_ratio",
        "gauge",
        "Head-sampling rate applied by adaptive backpressure (1 = keep all).",
        snap.sampling_rate,
    )
    lat_help = "Seconds from acceptance of a batch's oldest item until every exporter returned."
    for q, v in (("0.5", snap.latency_p50_s), ("0.95", snap.latency_p95_s), ("0.99", snap.latency_p99_s)):
        add("batch_latency_seconds", "summary", lat_help, v, quantile=q)
    add("batch_latency_seconds_sum", "summary", lat_help, snap.latency_sum_s)
    add("batch_latency_seconds_count", "summary", lat_help, snap.latency_count)
    return out
