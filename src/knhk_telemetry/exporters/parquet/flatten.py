"""Batches as flat tables, one row per item, for files and people to read.

The model keeps a batch relational (resources <- scopes <- spans <- events, attributes in
long tables). Readers such as DuckDB, polars or a person at a terminal want one row per
span, data point or log record, with the context copied in. This module builds that row
table vectorised: context columns are ``take``-n by parent index, attribute tables become
``map<string, string>`` columns by offsets into the sorted ``row`` column, ids become hex
strings with a numpy lookup table. Python only runs per *distinct* array/kvlist value.

Value rendering (attribute values and log bodies), the same everywhere:

- str as is; int as its decimal text; double as its shortest round-trip text with ``.0``
  added to whole numbers (``1.0``, ``0.1``, ``1e+300``, ``nan``, ``inf``);
  bool as ``true``/``false``; bytes as base64;
- arrays and kvlists as compact JSON (bytes inside them as base64 strings);
- an absent value (empty AnyValue) as null.

Timestamps: ``*_unix_nano`` columns keep the exact OTLP number; the matching
``timestamp[ns, UTC]`` column is null where the number is 0 (OTLP's "unset").
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from enum import IntEnum
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from knhk_telemetry.model.batch import Batch, LogBatch, MetricBatch, SpanBatch
from knhk_telemetry.model.schema import (
    AggregationTemporality,
    MetricType,
    NumberKind,
    SpanKind,
    StatusCode,
    ValueType,
)
from knhk_telemetry.model.values import columns_to_python

TIMESTAMP = pa.timestamp("ns", tz="UTC")
#: attributes as a map of rendered strings
ATTRIBUTE_MAP = pa.map_(pa.string(), pa.string())

EVENT = pa.struct(
    [
        pa.field("time", TIMESTAMP),
        pa.field("time_unix_nano", pa.uint64()),
        pa.field("name", pa.string()),
        pa.field("attributes", ATTRIBUTE_MAP),
        pa.field("dropped_attributes_count", pa.uint32()),
    ]
)
LINK = pa.struct(
    [
        pa.field("trace_id", pa.string()),
        pa.field("span_id", pa.string()),
        pa.field("trace_state", pa.string()),
        pa.field("attributes", ATTRIBUTE_MAP),
        pa.field("dropped_attributes_count", pa.uint32()),
        pa.field("flags", pa.uint32()),
    ]
)
EXEMPLAR = pa.struct(
    [
        pa.field("time", TIMESTAMP),
        pa.field("time_unix_nano", pa.uint64()),
        pa.field("value", pa.float64()),
        pa.field("value_int", pa.int64()),
        pa.field("trace_id", pa.string()),
        pa.field("span_id", pa.string()),
        pa.field("filtered_attributes", ATTRIBUTE_MAP),
    ]
)
QUANTILES = pa.list_(pa.struct([pa.field("quantile", pa.float64()), pa.field("value", pa.float64())]))
BUCKETS = pa.list_(pa.uint64())

_CONTEXT = [
    pa.field("service_name", pa.string()),  # resource attribute service.name, null if absent
    pa.field("resource_attributes", ATTRIBUTE_MAP),
    pa.field("resource_schema_url", pa.string()),
    pa.field("scope_name", pa.string()),
    pa.field("scope_version", pa.string()),
    pa.field("scope_attributes", ATTRIBUTE_MAP),
]

#: one row per span
SPAN_ROWS = pa.schema(
    [
        pa.field("trace_id", pa.string()),  # 32 lowercase hex digits
        pa.field("span_id", pa.string()),  # 16 lowercase hex digits
        pa.field("parent_span_id", pa.string()),  # null for a root span
        pa.field("trace_state", pa.string()),
        pa.field("name", pa.string()),
        pa.field("kind", pa.int8()),  # SpanKind number
        pa.field("kind_name", pa.string()),  # "SERVER", ...; null for a number OTLP does not define
        pa.field("start_time", TIMESTAMP),
        pa.field("end_time", TIMESTAMP),
        pa.field("start_time_unix_nano", pa.uint64()),
        pa.field("end_time_unix_nano", pa.uint64()),
        pa.field("duration_ns", pa.int64()),  # end - start; negative when end < start
        pa.field("status_code", pa.int8()),
        pa.field("status_code_name", pa.string()),  # "UNSET", "OK", "ERROR"
        pa.field("status_message", pa.string()),
        pa.field("attributes", ATTRIBUTE_MAP),
        pa.field("events", pa.list_(EVENT)),
        pa.field("links", pa.list_(LINK)),
        pa.field("dropped_attributes_count", pa.uint32()),
        pa.field("dropped_events_count", pa.uint32()),
        pa.field("dropped_links_count", pa.uint32()),
        pa.field("flags", pa.uint32()),
        *_CONTEXT,
    ]
)

#: one row per metric data point (all five point types; columns of other types are null)
POINT_ROWS = pa.schema(
    [
        pa.field("metric_name", pa.string()),
        pa.field("metric_description", pa.string()),
        pa.field("metric_unit", pa.string()),
        pa.field("metric_type", pa.string()),  # "GAUGE", "SUM", "HISTOGRAM", "EXPONENTIAL_HISTOGRAM", "SUMMARY"
        pa.field("aggregation_temporality", pa.string()),  # "DELTA", "CUMULATIVE"; null for gauge, summary
        pa.field("is_monotonic", pa.bool_()),  # sums only
        pa.field("metric_metadata", ATTRIBUTE_MAP),
        pa.field("start_time", TIMESTAMP),
        pa.field("time", TIMESTAMP),
        pa.field("start_time_unix_nano", pa.uint64()),
        pa.field("time_unix_nano", pa.uint64()),
        pa.field("flags", pa.uint32()),
        pa.field("value", pa.float64()),  # gauge/sum value, ints converted; null for the other types
        pa.field("value_int", pa.int64()),  # the exact value of an int gauge/sum point, else null
        pa.field("count", pa.uint64()),
        pa.field("sum", pa.float64()),
        pa.field("min", pa.float64()),
        pa.field("max", pa.float64()),
        pa.field("bucket_counts", BUCKETS),
        pa.field("explicit_bounds", pa.list_(pa.float64())),
        pa.field("scale", pa.int32()),
        pa.field("zero_count", pa.uint64()),
        pa.field("zero_threshold", pa.float64()),
        pa.field("positive_offset", pa.int32()),
        pa.field("positive_bucket_counts", BUCKETS),
        pa.field("negative_offset", pa.int32()),
        pa.field("negative_bucket_counts", BUCKETS),
        pa.field("quantile_values", QUANTILES),
        pa.field("attributes", ATTRIBUTE_MAP),
        pa.field("exemplars", pa.list_(EXEMPLAR)),
        *_CONTEXT,
    ]
)

#: one row per log record
LOG_ROWS = pa.schema(
    [
        pa.field("time", TIMESTAMP),
        pa.field("observed_time", TIMESTAMP),
        pa.field("time_unix_nano", pa.uint64()),
        pa.field("observed_time_unix_nano", pa.uint64()),
        pa.field("severity_number", pa.int8()),
        pa.field("severity_text", pa.string()),
        pa.field("body", pa.string()),  # rendered like an attribute value
        pa.field("body_type", pa.string()),  # "STRING", "INT", ...; null when the body is absent
        pa.field("attributes", ATTRIBUTE_MAP),
        pa.field("trace_id", pa.string()),
        pa.field("span_id", pa.string()),
        pa.field("event_name", pa.string()),
        pa.field("flags", pa.uint32()),
        pa.field("dropped_attributes_count", pa.uint32()),
        *_CONTEXT,
    ]
)

ROW_SCHEMAS: dict[str, pa.Schema] = {"traces": SPAN_ROWS, "metrics": POINT_ROWS, "logs": LOG_ROWS}

_HEX = np.frombuffer("".join(f"{b:02x}" for b in range(256)).encode("ascii"), dtype=np.uint16)
_NULL_STR = pa.scalar(None, pa.string())


# -- column helpers ---------------------------------------------------------------------------
def column(table: pa.Table, name: str) -> pa.Array:
    """One column of ``table`` as a single contiguous array."""
    col = table.column(name)
    return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()


def as_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def strings(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A string or dictionary-of-string column as plain ``string``."""
    values = as_array(values)
    return values if values.type == pa.string() else values.cast(pa.string())


def _numpy(values: pa.Array, fill: int = 0) -> np.ndarray[Any, Any]:
    if values.null_count:
        values = values.fill_null(fill)
    return np.asarray(values.to_numpy(zero_copy_only=False))


def hex_ids(ids: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Fixed-size binary ids (trace, span) as lowercase hex strings; nulls stay null."""
    ids = as_array(ids)
    n = len(ids)
    if ids.null_count == n or ids.buffers()[1] is None:
        return pa.nulls(n, pa.string())
    width = ids.type.byte_width
    data = np.frombuffer(ids.buffers()[1], dtype=np.uint8, count=(ids.offset + n) * width)
    digits = _HEX[data[ids.offset * width :].reshape(n, width)]
    offsets = np.arange(0, (n + 1) * 2 * width, 2 * width, dtype=np.int32)
    out = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(digits)))
    if ids.null_count:
        out = pc.if_else(ids.is_valid(), out, _NULL_STR)
    return out


def enum_names(values: pa.Array | pa.ChunkedArray, enum: type[IntEnum]) -> pa.Array:
    """Names of int8 enum numbers (``2`` -> ``"SERVER"``); null for null or unknown numbers."""
    lookup: list[str | None] = [None] * 256
    for member in enum:
        lookup[member.value + 128] = member.name
    positions = pc.add(as_array(values).cast(pa.int16()), pa.scalar(128, pa.int16()))
    return pa.array(lookup, pa.string()).take(positions)


def timestamps(unix_nano: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``uint64`` nanoseconds as ``timestamp[ns, UTC]``; 0 (unset in OTLP) becomes null."""
    ns = as_array(unix_nano).cast(pa.int64(), safe=False)
    ns = pc.if_else(pc.not_equal(ns, 0), ns, pa.scalar(None, pa.int64()))
    return ns.cast(TIMESTAMP)


def child_offsets(parent: pa.Array | np.ndarray[Any, Any], n_parents: int) -> pa.Array:
    """List offsets (``n_parents + 1`` int32) of a child table sorted by its parent column."""
    rows = parent if isinstance(parent, np.ndarray) else _numpy(as_array(parent))
    return pa.array(np.searchsorted(rows, np.arange(n_parents + 1), side="left").astype(np.int32))


def _json_default(value: object) -> str:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _render_nested(cells: pa.Array, vtype: ValueType) -> pa.Array:
    """Protobuf-encoded arrays/kvlists as JSON, decoding each distinct value once."""
    encoded = cells.dictionary_encode()
    rendered = [
        json.dumps(columns_to_python(vtype, cell), separators=(",", ":"), ensure_ascii=False, default=_json_default)
        for cell in encoded.dictionary.to_pylist()
    ]
    return pa.array(rendered, pa.string()).take(encoded.indices)


def _base64(cells: pa.Array) -> pa.Array:
    """Binary cells as base64 text (polars' vectorised encoder; imported only when needed)."""
    import polars as pl

    return pl.Series(cells).bin.encode("base64").to_arrow().cast(pa.string())


def _render_doubles(values: pa.Array) -> pa.Array:
    text = values.cast(pa.string())
    whole = pc.match_substring_regex(text, r"^-?\d+$")
    return pc.if_else(whole, pc.binary_join_element_wise(text, ".0", ""), text)


def render_values(table: pa.Table, prefix: str = "") -> pa.Array:
    """The AnyValue columns (``type``, ``str``, ... with ``prefix``) rendered as strings."""
    n = table.num_rows
    types = _numpy(column(table, f"{prefix}type"), fill=-1)
    out = pa.nulls(n, pa.string())
    if n == 0:
        return out

    def put(mask: np.ndarray[Any, Any], make: Callable[[np.ndarray[Any, Any]], pa.Array]) -> None:
        """Fill the rows of ``mask`` with ``make(their positions)``."""
        nonlocal out
        if mask.any():
            out = pc.replace_with_mask(out, pa.array(mask), make(np.flatnonzero(mask)))

    def col(name: str) -> pa.Array:
        return column(table, f"{prefix}{name}")

    put(types == ValueType.STRING, lambda idx: strings(col("str").take(idx)))
    put(types == ValueType.INT, lambda idx: col("int").take(idx).cast(pa.string()))
    put(types == ValueType.DOUBLE, lambda idx: _render_doubles(col("double").take(idx)))
    put(types == ValueType.BOOL, lambda idx: col("bool").take(idx).cast(pa.string()))
    put(types == ValueType.BYTES, lambda idx: _base64(col("bytes").take(idx)))
    put(types == ValueType.ARRAY, lambda idx: _render_nested(col("bytes").take(idx), ValueType.ARRAY))
    put(types == ValueType.KVLIST, lambda idx: _render_nested(col("bytes").take(idx), ValueType.KVLIST))
    return out


def attribute_maps(attributes: pa.Table, n_parents: int) -> pa.Array:
    """An attribute table as one ``map<string, string>`` per parent row (empty map if none)."""
    offsets = child_offsets(column(attributes, "row"), n_parents)
    keys = strings(column(attributes, "key"))
    return pa.MapArray.from_arrays(offsets, keys, render_values(attributes), type=ATTRIBUTE_MAP)


def attribute_value(attributes: pa.Table, n_parents: int, key: str) -> pa.Array:
    """The rendered value of ``key`` per parent row: null where absent, first one if repeated."""
    mask = pc.equal(strings(column(attributes, "key")), key)
    hits = attributes.filter(mask)
    rows = _numpy(column(hits, "row"))
    position = np.full(n_parents, -1, dtype=np.int64)
    position[rows[::-1]] = np.arange(len(rows) - 1, -1, -1)  # the first hit of a row wins
    return render_values(hits).take(pa.array(position, mask=position < 0))


def _context(batch: Batch) -> list[pa.Array]:
    """The ``_CONTEXT`` columns per item: resource and scope copied in by parent index."""
    n_res = batch.resources.num_rows
    n_scopes = batch.scopes.num_rows
    res_attrs = batch.table("resource_attributes")
    resource = pa.array(batch.item_resource_index().astype(np.int32))
    specs = {s.name: s for s in batch.TABLES}
    scope = column(batch.items, specs[batch.ITEMS].parent_column)
    if batch.ITEMS == "points":
        scope = column(batch.table("metrics"), "scope").take(scope)
    return [
        attribute_value(res_attrs, n_res, "service.name").take(resource),
        attribute_maps(res_attrs, n_res).take(resource),
        column(batch.resources, "schema_url").take(resource),
        strings(column(batch.scopes, "name")).take(scope),
        column(batch.scopes, "version").take(scope),
        attribute_maps(batch.table("scope_attributes"), n_scopes).take(scope),
    ]


def _lists(items: pa.Array, parent: pa.Array, n_parents: int, list_type: pa.DataType) -> pa.Array:
    return pa.ListArray.from_arrays(child_offsets(parent, n_parents), items, type=list_type)


def _struct(arrays: list[pa.Array], struct_type: pa.StructType) -> pa.Array:
    return pa.StructArray.from_arrays(arrays, fields=list(struct_type))


# -- per signal -------------------------------------------------------------------------------
def flatten_spans(batch: SpanBatch) -> pa.Table:
    """One row per span (schema :data:`SPAN_ROWS`)."""
    spans = batch.spans
    n = spans.num_rows
    start = column(spans, "start_time_unix_nano")
    end = column(spans, "end_time_unix_nano")
    kind = column(spans, "kind")
    status = column(spans, "status_code")

    events = batch.table("events")
    n_events = events.num_rows
    event_time = column(events, "time_unix_nano")
    event_structs = _struct(
        [
            timestamps(event_time),
            event_time,
            strings(column(events, "name")),
            attribute_maps(batch.table("event_attributes"), n_events),
            column(events, "dropped_attributes_count"),
        ],
        EVENT,
    )
    links = batch.table("links")
    link_structs = _struct(
        [
            hex_ids(column(links, "trace_id")),
            hex_ids(column(links, "span_id")),
            column(links, "trace_state"),
            attribute_maps(batch.table("link_attributes"), links.num_rows),
            column(links, "dropped_attributes_count"),
            column(links, "flags"),
        ],
        LINK,
    )
    arrays = [
        hex_ids(column(spans, "trace_id")),
        hex_ids(column(spans, "span_id")),
        hex_ids(column(spans, "parent_span_id")),
        column(spans, "trace_state"),
        strings(column(spans, "name")),
        kind,
        enum_names(kind, SpanKind),
        timestamps(start),
        timestamps(end),
        start,
        end,
        pa.array(batch.durations_ns(), pa.int64()),
        status,
        enum_names(status, StatusCode),
        column(spans, "status_message"),
        attribute_maps(batch.table("span_attributes"), n),
        _lists(event_structs, column(events, "span"), n, SPAN_ROWS.field("events").type),
        _lists(link_structs, column(links, "span"), n, SPAN_ROWS.field("links").type),
        column(spans, "dropped_attributes_count"),
        column(spans, "dropped_events_count"),
        column(spans, "dropped_links_count"),
        column(spans, "flags"),
        *_context(batch),
    ]
    return pa.Table.from_arrays(arrays, schema=SPAN_ROWS)


def _number_values(table: pa.Table) -> tuple[pa.Array, pa.Array]:
    """``(value as double, value_int)`` of NumberDataPoint-style columns (null when unset)."""
    kind = column(table, "value_kind")
    as_int = column(table, "value_int")
    is_int = pc.fill_null(pc.equal(kind, int(NumberKind.INT)), False)
    is_double = pc.fill_null(pc.equal(kind, int(NumberKind.DOUBLE)), False)
    null_double = pa.scalar(None, pa.float64())
    double = pc.if_else(is_double, column(table, "value_double"), null_double)
    value = pc.if_else(is_int, as_int.cast(pa.float64()), double)
    return value, pc.if_else(is_int, as_int, pa.scalar(None, pa.int64()))


#: point columns copied unchanged
_POINT_COLUMNS = POINT_ROWS.names[POINT_ROWS.get_field_index("count") : POINT_ROWS.get_field_index("attributes")]


def flatten_metrics(batch: MetricBatch) -> pa.Table:
    """One row per data point (schema :data:`POINT_ROWS`)."""
    points = batch.points
    metrics = batch.metrics
    n = points.num_rows
    metric = column(points, "metric")
    value, value_int = _number_values(points)

    exemplars = batch.table("exemplars")
    ex_time = column(exemplars, "time_unix_nano")
    ex_value, ex_int = _number_values(exemplars)
    exemplar_structs = _struct(
        [
            timestamps(ex_time),
            ex_time,
            ex_value,
            ex_int,
            hex_ids(column(exemplars, "trace_id")),
            hex_ids(column(exemplars, "span_id")),
            attribute_maps(batch.table("exemplar_attributes"), exemplars.num_rows),
        ],
        EXEMPLAR,
    )
    start = column(points, "start_time_unix_nano")
    time = column(points, "time_unix_nano")
    arrays = [
        strings(column(metrics, "name")).take(metric),
        column(metrics, "description").take(metric),
        column(metrics, "unit").take(metric),
        enum_names(column(metrics, "type"), MetricType).take(metric),
        enum_names(column(metrics, "aggregation_temporality"), AggregationTemporality).take(metric),
        column(metrics, "is_monotonic").take(metric),
        attribute_maps(batch.table("metric_metadata"), metrics.num_rows).take(metric),
        timestamps(start),
        timestamps(time),
        start,
        time,
        column(points, "flags"),
        value,
        value_int,
        *(column(points, name) for name in _POINT_COLUMNS),
        attribute_maps(batch.table("point_attributes"), n),
        _lists(exemplar_structs, column(exemplars, "point"), n, POINT_ROWS.field("exemplars").type),
        *_context(batch),
    ]
    return pa.Table.from_arrays(arrays, schema=POINT_ROWS)


def flatten_logs(batch: LogBatch) -> pa.Table:
    """One row per log record (schema :data:`LOG_ROWS`)."""
    logs = batch.logs
    time = column(logs, "time_unix_nano")
    observed = column(logs, "observed_time_unix_nano")
    arrays = [
        timestamps(time),
        timestamps(observed),
        time,
        observed,
        column(logs, "severity_number"),
        strings(column(logs, "severity_text")),
        render_values(logs, prefix="body_"),
        enum_names(column(logs, "body_type"), ValueType),
        attribute_maps(batch.table("log_attributes"), logs.num_rows),
        hex_ids(column(logs, "trace_id")),
        hex_ids(column(logs, "span_id")),
        strings(column(logs, "event_name")),
        column(logs, "flags"),
        column(logs, "dropped_attributes_count"),
        *_context(batch),
    ]
    return pa.Table.from_arrays(arrays, schema=LOG_ROWS)


def flatten(batch: Batch) -> pa.Table:
    """The row table of any batch type."""
    if isinstance(batch, SpanBatch):
        return flatten_spans(batch)
    if isinstance(batch, MetricBatch):
        return flatten_metrics(batch)
    if isinstance(batch, LogBatch):
        return flatten_logs(batch)
    raise TypeError(f"not a batch: {type(batch).__name__}")


def item_times(rows: pa.Table, signal: str) -> np.ndarray[Any, Any]:
    """The time of each row as int64 ns: span end (else start), point time, log time (else observed).

    What partitions and windows key on; an unset time is 0.
    """
    first, fallback = {
        "traces": ("end_time_unix_nano", "start_time_unix_nano"),
        "metrics": ("time_unix_nano", "start_time_unix_nano"),
        "logs": ("time_unix_nano", "observed_time_unix_nano"),
    }[signal]
    primary = _numpy(column(rows, first))
    chosen = np.where(primary > 0, primary, _numpy(column(rows, fallback)))
    return np.minimum(chosen, np.uint64(2**63 - 1)).astype(np.int64)
