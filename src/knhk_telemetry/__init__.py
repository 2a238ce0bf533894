"""knhk-telemetry: real-time OpenTelemetry processing on columnar batches.

The public API, curated: the batches, the edge types users build by hand, the pipeline and
its builder, config loading and the error tree. Everything else is reachable by module path
(``knhk_telemetry.otlp``, ``knhk_telemetry.exporters.parquet``, ...).
"""

from knhk_telemetry.config import Config, default_config, load_config, parse_config
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
from knhk_telemetry.model.edge import (
    InstrumentationScope,
    LogEntry,
    Metric,
    Resource,
    Severity,
    Span,
    SpanEvent,
    SpanLink,
    SpanStatus,
)
from knhk_telemetry.model.values import AttributeValue
from knhk_telemetry.pipeline import PipelineBuilder, PipelineSettings, StatsSnapshot, TelemetryPipeline
from knhk_telemetry.pipeline.service import Service

__version__ = "0.1.0"

__all__ = [
    "AttributeValue",
    "BackpressureError",
    "Config",
    "ConfigError",
    "DecodeError",
    "ExportError",
    "InstrumentationScope",
    "KnhkTelemetryError",
    "LogBatch",
    "LogEntry",
    "Metric",
    "MetricBatch",
    "PipelineBuilder",
    "PipelineClosedError",
    "PipelineSettings",
    "Resource",
    "Service",
    "Severity",
    "Span",
    "SpanBatch",
    "SpanEvent",
    "SpanKind",
    "SpanLink",
    "SpanStatus",
    "StatsSnapshot",
    "StatusCode",
    "TelemetryPipeline",
    "ValidationError",
    "__version__",
    "default_config",
    "load_config",
    "parse_config",
]
