"""knhk-telemetry: real-time OpenTelemetry processing on columnar batches."""

from knhk_telemetry.errors import (
    BackpressureError,
    ConfigError,
    DecodeError,
    ExportError,
    KnhkTelemetryError,
    PipelineClosedError,
    ValidationError,
)
from knhk_telemetry.model import LogBatch, MetricBatch, SpanBatch, SpanKind, StatusCode

__version__ = "0.1.0"

__all__ = [
    "BackpressureError",
    "ConfigError",
    "DecodeError",
    "ExportError",
    "KnhkTelemetryError",
    "LogBatch",
    "MetricBatch",
    "PipelineClosedError",
    "SpanBatch",
    "SpanKind",
    "StatusCode",
    "ValidationError",
    "__version__",
]
