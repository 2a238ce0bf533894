"""Metrics: not compiled yet; ``encode_metrics`` is the reference encoder.

Metric points carry list columns (bucket counts, bounds, quantiles) and five point layouts;
until they have a kernel, the reference codec (a Python loop, byte-identical by definition)
serves them so that :func:`knhk_telemetry.otlp.fastenc.encode` covers every signal.
"""

from __future__ import annotations

from knhk_telemetry.model.batch import MetricBatch
from knhk_telemetry.otlp import proto


def encode_metrics(batch: MetricBatch) -> bytes:
    """A ``MetricBatch`` as serialized ``ExportMetricsServiceRequest`` bytes (reference path)."""
    return proto.encode_metrics(batch)
