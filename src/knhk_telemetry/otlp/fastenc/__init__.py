"""Compiled OTLP protobuf encoder: columnar batches -> ``Export*ServiceRequest`` bytes.

The output is byte-identical to the reference ``knhk_telemetry.otlp.proto.encode_*`` (python
protobuf's ``SerializeToString``), but it is written by numba kernels straight from the Arrow
buffers: a sizing pass bottom-up, then one write pass into a buffer of the exact size, with
no Python object per span, point or record. Arrays and kvlists are copied from the ``bytes``
column as stored (the reference re-serializes them, which gives the same bytes for anything
protobuf serialized). Child tables must be sorted by their parent column (the batch
invariant); a batch that breaks it raises ``ValueError`` instead of encoding garbage.

List columns of metric points (bucket counts, bounds, quantiles) are read through their
offsets and item buffers. The first call compiles the kernels (or loads them from the cache,
see ``_cache``); call :func:`warmup` at start-up to pay that before the first request.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

import numpy as np
import pyarrow as pa

from knhk_telemetry.model.batch import Batch, LogBatch, MetricBatch, SpanBatch
from knhk_telemetry.model.schema import EXEMPLARS
from knhk_telemetry.otlp.fastenc import _columns as C
from knhk_telemetry.otlp.fastenc import _logs, _metrics, _traces
from knhk_telemetry.otlp.fastenc._cache import cache_dir
from knhk_telemetry.otlp.fastenc._front import (
    attributes,
    envelope,
    f64,
    f64_lists,
    fail,
    finish,
    i8,
    i32,
    i64,
    quantiles,
    u32,
    u64,
    u64_lists,
    values,
)

__all__ = ["cache_dir", "encode", "encode_logs", "encode_metrics", "encode_traces", "warmup"]


def encode_traces(batch: SpanBatch) -> bytes:
    """A ``SpanBatch`` as serialized ``ExportTraceServiceRequest`` bytes."""
    n_res, r, ra, c, ca = envelope(batch)
    spans = batch.spans
    sp = (
        C.parent(spans.column("scope")),
        C.fixed(spans.column("trace_id"), 16),
        C.fixed(spans.column("span_id"), 8),
        C.strings(spans.column("trace_state")),
        C.fixed(spans.column("parent_span_id"), 8),
        u32(spans, "flags"),
        C.strings(spans.column("name")),
        i8(spans, "kind"),
        u64(spans, "start_time_unix_nano"),
        u64(spans, "end_time_unix_nano"),
        u32(spans, "dropped_attributes_count"),
        u32(spans, "dropped_events_count"),
        u32(spans, "dropped_links_count"),
        i8(spans, "status_code"),
        C.strings(spans.column("status_message")),
    )
    events = batch.table("events")
    ev = (
        C.parent(events.column("span")),
        u64(events, "time_unix_nano"),
        C.strings(events.column("name")),
        u32(events, "dropped_attributes_count"),
    )
    links = batch.table("links")
    lk = (
        C.parent(links.column("span")),
        C.fixed(links.column("trace_id"), 16),
        C.fixed(links.column("span_id"), 8),
        C.strings(links.column("trace_state")),
        u32(links, "dropped_attributes_count"),
        u32(links, "flags"),
    )
    sa = attributes(batch.table("span_attributes"))
    ea = attributes(batch.table("event_attributes"))
    la = attributes(batch.table("link_attributes"))
    err, table, row, preps, starts = _traces.check(n_res, c, sp, ev, lk, ra, ca, sa, ea, la)
    if err:
        fail(err, table, row, _traces.TABLES, batch)
    total, sizes = _traces.sizes(r, c, sp, ev, lk, preps, starts)
    buf = np.empty(total, np.uint8)
    return finish(buf, _traces.write(buf, r, ra, c, ca, sp, sa, ev, ea, lk, la, sizes, preps, starts))


def encode_logs(batch: LogBatch) -> bytes:
    """A ``LogBatch`` as serialized ``ExportLogsServiceRequest`` bytes."""
    n_res, r, ra, c, ca = envelope(batch)
    logs = batch.logs
    lg = (
        C.parent(logs.column("scope")),
        u64(logs, "time_unix_nano"),
        u64(logs, "observed_time_unix_nano"),
        i8(logs, "severity_number"),
        C.strings(logs.column("severity_text")),
        values(logs, "body_"),
        u32(logs, "dropped_attributes_count"),
        u32(logs, "flags"),
        C.fixed(logs.column("trace_id"), 16),
        C.fixed(logs.column("span_id"), 8),
        C.strings(logs.column("event_name")),
    )
    la = attributes(batch.table("log_attributes"))
    err, table, row, preps, starts, body_sizes = _logs.check(n_res, c, lg, ra, ca, la)
    if err:
        fail(err, table, row, _logs.TABLES, batch)
    total, sizes = _logs.sizes(r, c, lg, preps, starts, body_sizes)
    buf = np.empty(total, np.uint8)
    return finish(buf, _logs.write(buf, r, ra, c, ca, lg, la, sizes, preps, starts))


def encode_metrics(batch: MetricBatch) -> bytes:
    """A ``MetricBatch`` as serialized ``ExportMetricsServiceRequest`` bytes."""
    n_res, r, ra, c, ca = envelope(batch)
    metrics = batch.metrics
    mt = (
        C.parent(metrics.column("scope")),
        C.strings(metrics.column("name")),
        C.strings(metrics.column("description")),
        C.strings(metrics.column("unit")),
        i8(metrics, "type"),
        i8(metrics, "aggregation_temporality"),
        C.boolean(metrics.column("is_monotonic")),
    )
    points = batch.points
    pt = (
        C.parent(points.column("metric")),
        u64(points, "start_time_unix_nano"),
        u64(points, "time_unix_nano"),
        u32(points, "flags"),
        i8(points, "value_kind"),
        f64(points, "value_double"),
        i64(points, "value_int"),
        u64(points, "count"),
        f64(points, "sum"),
        f64(points, "min"),
        f64(points, "max"),
        i32(points, "scale"),
        u64(points, "zero_count"),
        f64(points, "zero_threshold"),
        i32(points, "positive_offset"),
        i32(points, "negative_offset"),
    )
    ls = (
        u64_lists(points, "bucket_counts"),
        f64_lists(points, "explicit_bounds"),
        u64_lists(points, "positive_bucket_counts"),
        u64_lists(points, "negative_bucket_counts"),
        quantiles(points, "quantile_values"),
    )
    exemplars = batch.table("exemplars")
    ex = _exemplar_columns(exemplars) if exemplars.num_rows else _no_exemplars()
    md = attributes(batch.table("metric_metadata"))
    pa_ = attributes(batch.table("point_attributes"))
    xa = attributes(batch.table("exemplar_attributes"))
    err, table, row, preps, starts = _metrics.check(n_res, c, mt, pt, ex, ra, ca, md, pa_, xa)
    if err:
        fail(err, table, row, _metrics.TABLES, batch)
    total, sizes = _metrics.sizes(r, c, mt, pt, ls, ex, preps, starts)
    buf = np.empty(total, np.uint8)
    return finish(buf, _metrics.write(buf, r, ra, c, ca, mt, md, pt, ls, pa_, ex, xa, sizes, preps, starts))


def _exemplar_columns(exemplars: pa.Table) -> tuple[Any, ...]:
    return (
        C.parent(exemplars.column("point")),
        u64(exemplars, "time_unix_nano"),
        i8(exemplars, "value_kind"),
        f64(exemplars, "value_double"),
        i64(exemplars, "value_int"),
        C.fixed(exemplars.column("span_id"), 8),
        C.fixed(exemplars.column("trace_id"), 16),
    )


@cache
def _no_exemplars() -> tuple[Any, ...]:
    """The columns of an empty exemplars table (shared: many exports carry no exemplars)."""
    return _exemplar_columns(EXEMPLARS.empty_table())


def encode(batch: Batch) -> bytes:
    """Serialized ``Export*ServiceRequest`` bytes of a batch of any signal."""
    if isinstance(batch, SpanBatch):
        return encode_traces(batch)
    if isinstance(batch, MetricBatch):
        return encode_metrics(batch)
    if isinstance(batch, LogBatch):
        return encode_logs(batch)
    raise TypeError(f"cannot encode {type(batch).__name__}; expected SpanBatch, MetricBatch or LogBatch")


def warmup() -> float:
    """Compile (or load from the cache) every kernel; returns the seconds it took."""
    t0 = time.perf_counter()
    samples: list[Any] = [SpanBatch.empty(), LogBatch.empty(), MetricBatch.empty()]
    for batch in samples:
        encode(batch)
    return time.perf_counter() - t0
