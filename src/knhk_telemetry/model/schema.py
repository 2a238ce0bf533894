"""Arrow schemas of the columnar model, one per table, and the enums stored in them.

A batch is a small set of tables linked by integer parent columns (``span`` in the
events table is the row of the span in the spans table), every child table sorted by its
parent column. Enum values are the OTLP protobuf numbers, so codecs copy them unchanged.

The value columns of an AnyValue (``type``, ``str``, ``int``, ``double``, ``bool``,
``bytes``) are sparse: only the column named by ``type`` is set. Strings, ints and doubles
are dictionary-encoded (an attribute key has few distinct values per batch, and a null slot
then costs 4 bytes instead of 8: measured in bench/pipeline.py as memory per queued span). ``type`` null means the
value was absent (a KeyValue without ``value``); arrays and kvlists keep their protobuf
encoding (an ``ArrayValue`` or ``KeyValueList`` message) in ``bytes``, so nesting of any
depth survives without a column per level.
"""

from __future__ import annotations

from enum import IntEnum

import pyarrow as pa


class ValueType(IntEnum):
    """Kind of an AnyValue; the numbers are the AnyValue oneof field numbers."""

    EMPTY = 0
    STRING = 1
    BOOL = 2
    INT = 3
    DOUBLE = 4
    ARRAY = 5
    KVLIST = 6
    BYTES = 7


class SpanKind(IntEnum):
    """``Span.SpanKind`` of OTLP."""

    UNSPECIFIED = 0
    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5


class StatusCode(IntEnum):
    """``Status.StatusCode`` of OTLP."""

    UNSET = 0
    OK = 1
    ERROR = 2


class MetricType(IntEnum):
    """Which data field of ``Metric`` is set; the numbers are its oneof field numbers."""

    EMPTY = 0
    GAUGE = 5
    SUM = 7
    HISTOGRAM = 9
    EXPONENTIAL_HISTOGRAM = 10
    SUMMARY = 11


class AggregationTemporality(IntEnum):
    """``AggregationTemporality`` of OTLP."""

    UNSPECIFIED = 0
    DELTA = 1
    CUMULATIVE = 2


class NumberKind(IntEnum):
    """Which value of a NumberDataPoint or Exemplar is set (oneof field numbers)."""

    NONE = 0
    DOUBLE = 4
    INT = 6


_STR = pa.dictionary(pa.int32(), pa.string())
TRACE_ID = pa.binary(16)
SPAN_ID = pa.binary(8)
ROW = pa.int32()

#: The AnyValue columns, in the attribute tables and (prefixed ``body_``) in logs.
VALUE_FIELDS: tuple[pa.Field, ...] = (
    pa.field("type", pa.int8()),
    pa.field("str", _STR),
    pa.field("int", pa.dictionary(pa.int32(), pa.int64())),
    pa.field("double", pa.dictionary(pa.int32(), pa.float64())),
    pa.field("bool", pa.bool_()),
    pa.field("bytes", pa.binary()),
)

ATTRIBUTES = pa.schema([pa.field("row", ROW, nullable=False), pa.field("key", _STR, nullable=False), *VALUE_FIELDS])

_ENTITY_REF = pa.struct(
    [
        pa.field("schema_url", pa.string()),
        pa.field("type", pa.string()),
        pa.field("id_keys", pa.list_(pa.string())),
        pa.field("description_keys", pa.list_(pa.string())),
    ]
)

RESOURCES = pa.schema(
    [
        pa.field("schema_url", pa.string()),
        pa.field("dropped_attributes_count", pa.uint32()),
        pa.field("entity_refs", pa.list_(_ENTITY_REF)),
    ]
)

SCOPES = pa.schema(
    [
        pa.field("resource", ROW, nullable=False),
        pa.field("name", pa.string()),
        pa.field("version", pa.string()),
        pa.field("dropped_attributes_count", pa.uint32()),
        # schema_url of the ScopeSpans / ScopeMetrics / ScopeLogs that holds the scope
        pa.field("schema_url", pa.string()),
    ]
)

SPANS = pa.schema(
    [
        pa.field("scope", ROW, nullable=False),
        pa.field("trace_id", TRACE_ID, nullable=False),
        pa.field("span_id", SPAN_ID, nullable=False),
        pa.field("trace_state", pa.string()),
        pa.field("parent_span_id", SPAN_ID),  # null for a root span
        pa.field("flags", pa.uint32()),
        pa.field("name", _STR),
        pa.field("kind", pa.int8()),
        pa.field("start_time_unix_nano", pa.uint64()),
        pa.field("end_time_unix_nano", pa.uint64()),
        pa.field("dropped_attributes_count", pa.uint32()),
        pa.field("dropped_events_count", pa.uint32()),
        pa.field("dropped_links_count", pa.uint32()),
        pa.field("status_code", pa.int8()),
        pa.field("status_message", pa.string()),
    ]
)

EVENTS = pa.schema(
    [
        pa.field("span", ROW, nullable=False),
        pa.field("time_unix_nano", pa.uint64()),
        pa.field("name", _STR),
        pa.field("dropped_attributes_count", pa.uint32()),
    ]
)

LINKS = pa.schema(
    [
        pa.field("span", ROW, nullable=False),
        pa.field("trace_id", TRACE_ID, nullable=False),
        pa.field("span_id", SPAN_ID, nullable=False),
        pa.field("trace_state", pa.string()),
        pa.field("dropped_attributes_count", pa.uint32()),
        pa.field("flags", pa.uint32()),
    ]
)

METRICS = pa.schema(
    [
        pa.field("scope", ROW, nullable=False),
        pa.field("name", _STR),
        pa.field("description", pa.string()),
        pa.field("unit", pa.string()),
        pa.field("type", pa.int8()),  # MetricType
        pa.field("aggregation_temporality", pa.int8()),  # Sum, Histogram, ExponentialHistogram
        pa.field("is_monotonic", pa.bool_()),  # Sum only
    ]
)

_BUCKETS = pa.list_(pa.uint64())

POINTS = pa.schema(
    [
        pa.field("metric", ROW, nullable=False),
        pa.field("start_time_unix_nano", pa.uint64()),
        pa.field("time_unix_nano", pa.uint64()),
        pa.field("flags", pa.uint32()),
        # NumberDataPoint (gauge, sum)
        pa.field("value_kind", pa.int8()),  # NumberKind
        pa.field("value_double", pa.float64()),
        pa.field("value_int", pa.int64()),
        # Histogram, ExponentialHistogram, Summary
        pa.field("count", pa.uint64()),
        pa.field("sum", pa.float64()),  # null when the optional sum is absent
        pa.field("min", pa.float64()),
        pa.field("max", pa.float64()),
        # Histogram
        pa.field("bucket_counts", _BUCKETS),
        pa.field("explicit_bounds", pa.list_(pa.float64())),
        # ExponentialHistogram; a null offset means the Buckets message was absent
        pa.field("scale", pa.int32()),
        pa.field("zero_count", pa.uint64()),
        pa.field("zero_threshold", pa.float64()),
        pa.field("positive_offset", pa.int32()),
        pa.field("positive_bucket_counts", _BUCKETS),
        pa.field("negative_offset", pa.int32()),
        pa.field("negative_bucket_counts", _BUCKETS),
        # Summary
        pa.field(
            "quantile_values",
            pa.list_(pa.struct([pa.field("quantile", pa.float64()), pa.field("value", pa.float64())])),
        ),
    ]
)

EXEMPLARS = pa.schema(
    [
        pa.field("point", ROW, nullable=False),
        pa.field("time_unix_nano", pa.uint64()),
        pa.field("value_kind", pa.int8()),
        pa.field("value_double", pa.float64()),
        pa.field("value_int", pa.int64()),
        pa.field("span_id", SPAN_ID),
        pa.field("trace_id", TRACE_ID),
    ]
)

LOGS = pa.schema(
    [
        pa.field("scope", ROW, nullable=False),
        pa.field("time_unix_nano", pa.uint64()),
        pa.field("observed_time_unix_nano", pa.uint64()),
        pa.field("severity_number", pa.int8()),
        pa.field("severity_text", _STR),
        *(pa.field(f"body_{f.name}", f.type) for f in VALUE_FIELDS),
        pa.field("dropped_attributes_count", pa.uint32()),
        pa.field("flags", pa.uint32()),
        pa.field("trace_id", TRACE_ID),  # null when absent
        pa.field("span_id", SPAN_ID),
        pa.field("event_name", _STR),
    ]
)
