"""The columnar model: Arrow-backed batches and the per-item edge types."""

from knhk_telemetry.model.batch import AnyBatch, Batch, LogBatch, MetricBatch, SpanBatch, TableSpec
from knhk_telemetry.model.schema import (
    AggregationTemporality,
    MetricType,
    NumberKind,
    SpanKind,
    StatusCode,
    ValueType,
)
from knhk_telemetry.model.values import AttributeValue

__all__ = [
    "AggregationTemporality",
    "AnyBatch",
    "AttributeValue",
    "Batch",
    "LogBatch",
    "MetricBatch",
    "MetricType",
    "NumberKind",
    "SpanBatch",
    "SpanKind",
    "StatusCode",
    "TableSpec",
    "ValueType",
]
