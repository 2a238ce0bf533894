"""The ``nop`` exporter: accepts every batch, counts it and keeps nothing.

It is what benchmarks point a pipeline at, so that they measure the pipeline and not an
exporter; the counts tell a test how much arrived.

Example::

    >>> from knhk_telemetry.exporters.nop import NopConfig, NopExporter
    >>> from knhk_telemetry.model import SpanBatch
    >>> exporter = NopExporter("nop", NopConfig())
    >>> exporter.consume_spans(SpanBatch.empty())
    >>> exporter.counts("traces")
    (0, 1)
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from knhk_telemetry.component import (
    SIGNALS,
    Component,
    ComponentConfig,
    CreateSettings,
    Factory,
    Signal,
)
from knhk_telemetry.model.batch import Batch, LogBatch, MetricBatch, SpanBatch

#: self-metric names shared with the other exporters of this package
SENT_ITEMS = "knhk_telemetry_exporter_sent_items_total"
SENT_BATCHES = "knhk_telemetry_exporter_sent_batches_total"


class NopConfig(ComponentConfig):
    """The ``nop`` exporter has no settings."""


class NopExporter(Component):
    """Counts items (spans, data points, log records) and batches per signal."""

    def __init__(self, component_id: str, config: NopConfig) -> None:
        super().__init__(component_id)
        self.config = config
        self._count_lock = threading.Lock()
        self._items: dict[Signal, int] = dict.fromkeys(SIGNALS, 0)
        self._batches: dict[Signal, int] = dict.fromkeys(SIGNALS, 0)

    def _count(self, signal: Signal, batch: Batch) -> None:
        n = len(batch)
        with self._count_lock:
            self._items[signal] += n
            self._batches[signal] += 1

    def consume_spans(self, batch: SpanBatch) -> None:
        self._count("traces", batch)

    def consume_metrics(self, batch: MetricBatch) -> None:
        self._count("metrics", batch)

    def consume_logs(self, batch: LogBatch) -> None:
        self._count("logs", batch)

    def counts(self, signal: Signal) -> tuple[int, int]:
        """``(items, batches)`` accepted so far for ``signal``."""
        with self._count_lock:
            return self._items[signal], self._batches[signal]

    def self_metrics(self) -> Iterable[tuple[str, str, str, dict[str, str], float]]:
        with self._count_lock:
            items, batches = dict(self._items), dict(self._batches)
        for signal in SIGNALS:
            labels = {"exporter": self.component_id, "signal": signal}
            yield SENT_ITEMS, "counter", "Spans, data points or log records accepted.", labels, float(items[signal])
            yield SENT_BATCHES, "counter", "Batches accepted.", labels, float(batches[signal])


def _create(settings: CreateSettings, config: NopConfig) -> NopExporter:
    return NopExporter(settings.component_id, config)


#: registered in ``REGISTRY`` by whoever wires the built-in components
FACTORY = Factory(
    type="nop",
    kind="exporter",
    config_class=NopConfig,
    creators={"traces": _create, "metrics": _create, "logs": _create},
    shared=True,
)
