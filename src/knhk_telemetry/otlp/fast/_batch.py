"""Kernel output -> ``SpanBatch`` / ``LogBatch`` (pure Python: not part of the kernel cache key).

The kernels report only whether the input is valid; on invalid input the exact validator
(``_wire.validate``) is run for upb's error text. Should it find nothing wrong, the kernel
refused something upb accepts: the reference decoder then serves the request, so output is
never wrong, only slower, for such (unknown) input.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from knhk_telemetry.errors import DecodeError
from knhk_telemetry.model import schema as S
from knhk_telemetry.model.batch import LogBatch, MetricBatch, SpanBatch
from knhk_telemetry.model.rejections import (
    INVALID_PARENT_SPAN_ID,
    INVALID_SPAN_ID,
    INVALID_TRACE_ID,
    MAX_MESSAGES,
    Decoded,
    Rejections,
)
from knhk_telemetry.otlp import proto
from knhk_telemetry.otlp.fast import _arrow as A
from knhk_telemetry.otlp.fast import _logs, _metrics, _traces
from knhk_telemetry.otlp.fast._schema import ROOTS, SCHEMA
from knhk_telemetry.otlp.fast._wire import ERROR_TEXT, OK, validate
from knhk_telemetry.otlp.proto import Buffer

Arr = NDArray[Any]


def _envelope_tids(request: str, resources: str, scopes: str) -> list[int]:
    """The type ids every signal's kernel walks first (``T_REQ`` .. the scope's attributes):
    the request, its resource list, the resource and its attributes, the scope list, the scope
    and its attributes."""
    res, sc = (request, resources), (request, resources, scopes)
    return [
        SCHEMA.tid(request),
        SCHEMA.tid(*res),
        SCHEMA.tid(*res, "resource"),
        SCHEMA.tid(*res, "resource", "attributes"),
        SCHEMA.tid(*res, "resource", "attributes", "value"),
        SCHEMA.tid(*sc),
        SCHEMA.tid(*sc, "scope"),
        SCHEMA.tid(*sc, "scope", "attributes"),
    ]


_SPAN = ("traces", "resource_spans", "scope_spans", "spans")
TRACE_TIDS = np.array(
    [
        *_envelope_tids("traces", "resource_spans", "scope_spans"),
        SCHEMA.tid(*_SPAN),
        SCHEMA.tid(*_SPAN, "attributes"),
        SCHEMA.tid(*_SPAN, "events"),
        SCHEMA.tid(*_SPAN, "events", "attributes"),
        SCHEMA.tid(*_SPAN, "links"),
        SCHEMA.tid(*_SPAN, "links", "attributes"),
        SCHEMA.tid(*_SPAN, "status"),
    ],
    dtype=np.int64,
)
_RECORD = ("logs", "resource_logs", "scope_logs", "log_records")
LOG_TIDS = np.array(
    [
        *_envelope_tids("logs", "resource_logs", "scope_logs"),
        SCHEMA.tid(*_RECORD),
        SCHEMA.tid(*_RECORD, "attributes"),
    ],
    dtype=np.int64,
)


def as_array(data: Buffer) -> Arr:
    """The request bytes as a read-only uint8 array (one compiled variant for all inputs)."""
    if isinstance(data, memoryview) and not data.contiguous:
        data = data.tobytes()
    arr = np.frombuffer(data, dtype=np.uint8)
    if arr.flags.writeable:
        arr.flags.writeable = False
    return arr


def validated(signal: str, arr: Arr) -> Arr:
    """Run the exact validating pass; the per-type message counts, or ``DecodeError`` as upb."""
    counts = np.zeros(SCHEMA.n_types, dtype=np.int64)
    code, _ = validate(arr, SCHEMA.tid(signal), SCHEMA.kind, SCHEMA.wire, SCHEMA.child, counts)
    if code != OK:
        name = ROOTS[signal].name
        raise DecodeError(f"{name}: Error parsing message with type '{ROOTS[signal].full_name}': {ERROR_TEXT[code]}")
    return counts


_REASONS = {
    _traces.R_TRACE: INVALID_TRACE_ID,
    _traces.R_SPAN: INVALID_SPAN_ID,
    _traces.R_PARENT: INVALID_PARENT_SPAN_ID,
}
_ID_NAMES = {_traces.R_TRACE: ("trace_id", 16), _traces.R_SPAN: ("span_id", 8), _traces.R_PARENT: ("parent_span_id", 8)}


def _rejections(rej: Arr, path: str) -> Rejections:
    """Refusals from kernel rows (reason, resource, scope, item, [link,] id length)."""
    out = Rejections()
    if not len(rej):
        return out
    for row in rej[:MAX_MESSAGES].tolist():
        reason, ri, si, i = row[:4]
        link, size = (row[4], row[5]) if len(row) == 6 else (-1, row[4])
        name, expected = _ID_NAMES[reason]
        where = f".links[{link}]" if link >= 0 else ""
        out.add(_REASONS[reason], f"{path.format(ri, si, i)}{where}: {name} has {size} bytes, expected {expected}")
    rest = rej[MAX_MESSAGES:, 0]
    for code, n in zip(*np.unique(rest, return_counts=True), strict=True):
        out.counts[_REASONS[int(code)]] += int(n)
    return out


def decode_traces(data: Buffer) -> Decoded[SpanBatch]:
    """Serialized ``ExportTraceServiceRequest`` bytes as a ``SpanBatch``."""
    arr = as_array(data)
    out = _traces.decode_traces_kernel(arr, SCHEMA.kind, SCHEMA.wire, SCHEMA.child, TRACE_TIDS)
    if not out[0]:
        validated("traces", arr)
        return proto.decode_traces(data)
    err = out[1]
    if err[0]:
        path = f"resource_spans[{err[1]}].scope_spans[{err[2]}].spans[{err[3]}]"
        field = "kind" if err[0] == _traces.E_KIND else "status.code"
        raise DecodeError(f"{path}.{field}: enum value {err[4]} is outside the range the model stores (-128..127)")
    res, res_attrs, sc, sc_attrs, sp, sp_attrs, ev, ev_attrs, ln, ln_attrs, rej = out[2:]
    n = sp[0]
    spans = (
        A.table(
            S.SPANS,
            [
                A.prim(A.I32, n, sp[1]),
                A.fixed(S.TRACE_ID, n, sp[2]),
                A.fixed(S.SPAN_ID, n, sp[3]),
                A.strings(A.STR, n, sp[4]),
                A.fixed(S.SPAN_ID, n, sp[5], sp[6]),
                A.prim(A.U32, n, sp[7]),
                A.dict_strings(n, sp[8], sp[9]),
                A.prim(A.I8, n, sp[10]),
                A.prim(A.U64, n, sp[11]),
                A.prim(A.U64, n, sp[12]),
                A.prim(A.U32, n, sp[13]),
                A.prim(A.U32, n, sp[14]),
                A.prim(A.U32, n, sp[15]),
                A.prim(A.I8, n, sp[16], sp[17]),
                A.strings(A.STR, n, sp[18], sp[17]),
            ],
        )
        if n
        else A.empty(S.SPANS)
    )
    n_ev = ev[0]
    events = (
        A.table(
            S.EVENTS,
            [
                A.prim(A.I32, n_ev, ev[1]),
                A.prim(A.U64, n_ev, ev[2]),
                A.dict_strings(n_ev, ev[3], ev[4]),
                A.prim(A.U32, n_ev, ev[5]),
            ],
        )
        if n_ev
        else A.empty(S.EVENTS)
    )
    n_ln = ln[0]
    links = (
        A.table(
            S.LINKS,
            [
                A.prim(A.I32, n_ln, ln[1]),
                A.fixed(S.TRACE_ID, n_ln, ln[2]),
                A.fixed(S.SPAN_ID, n_ln, ln[3]),
                A.strings(A.STR, n_ln, ln[4]),
                A.prim(A.U32, n_ln, ln[5]),
                A.prim(A.U32, n_ln, ln[6]),
            ],
        )
        if n_ln
        else A.empty(S.LINKS)
    )
    tables = {
        "resources": A.resources_table(data, res),
        "resource_attributes": A.attribute_table(data, res_attrs),
        "scopes": A.scopes_table(sc),
        "scope_attributes": A.attribute_table(data, sc_attrs),
        "spans": spans,
        "span_attributes": A.attribute_table(data, sp_attrs),
        "events": events,
        "event_attributes": A.attribute_table(data, ev_attrs),
        "links": links,
        "link_attributes": A.attribute_table(data, ln_attrs),
    }
    return Decoded(SpanBatch(tables, check=False), _rejections(rej, "resource_spans[{}].scope_spans[{}].spans[{}]"))


_LOG_PATH = "resource_logs[{}].scope_logs[{}].log_records[{}]"


def decode_logs(data: Buffer) -> Decoded[LogBatch]:
    """Serialized ``ExportLogsServiceRequest`` bytes as a ``LogBatch``."""
    arr = as_array(data)
    out = _logs.decode_logs_kernel(arr, SCHEMA.kind, SCHEMA.wire, SCHEMA.child, LOG_TIDS)
    if not out[0]:
        validated("logs", arr)
        return proto.decode_logs(data)
    err, err_v = out[1], int(out[2])  # numba may widen the value to a float: int32 range is exact
    if err[0]:
        path = _LOG_PATH.format(err[1], err[2], err[3])
        raise DecodeError(
            f"{path}.severity_number: enum value {err_v} is outside the range the model stores (-128..127)"
        )
    res, res_attrs, sc, sc_attrs, lg, body, lg_attrs, rej = out[3:]
    n = lg[0]
    if n:
        body_cols = A.value_columns(data, body, body=True)
        logs = A.table(
            S.LOGS,
            [
                A.prim(A.I32, n, lg[1]),
                A.prim(A.U64, n, lg[2]),
                A.prim(A.U64, n, lg[3]),
                A.prim(A.I8, n, lg[4]),
                A.dict_strings(n, lg[5], lg[6]),
                *body_cols,
                A.prim(A.U32, n, lg[7]),
                A.prim(A.U32, n, lg[8]),
                A.fixed(S.TRACE_ID, n, lg[9], lg[10]),
                A.fixed(S.SPAN_ID, n, lg[11], lg[12]),
                A.dict_strings(n, lg[13], lg[14]),
            ],
        )
    else:
        logs = A.empty(S.LOGS)
    tables = {
        "resources": A.resources_table(data, res),
        "resource_attributes": A.attribute_table(data, res_attrs),
        "scopes": A.scopes_table(sc),
        "scope_attributes": A.attribute_table(data, sc_attrs),
        "logs": logs,
        "log_attributes": A.attribute_table(data, lg_attrs),
    }
    return Decoded(LogBatch(tables, check=False), _rejections(rej, _LOG_PATH))


_METRIC = ("metrics", "resource_metrics", "scope_metrics", "metrics")
METRIC_TIDS = np.array(
    [
        *_envelope_tids("metrics", "resource_metrics", "scope_metrics"),
        SCHEMA.tid(*_METRIC),
        SCHEMA.tid(*_METRIC, "metadata"),
    ],
    dtype=np.int64,
)
_DATA_FIELDS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")
_SUBS = {"exponential_histogram": ("positive", "negative"), "summary": ("quantile_values",)}


def _point_tids(field: str) -> list[int]:
    """The row of ``_metrics`` ``ptids`` of one data field (see ``_metrics.P_*``)."""
    point = (*_METRIC, field, "data_points")
    has_ex = field != "summary"
    subs = _SUBS.get(field, ())
    return [
        SCHEMA.tid(*_METRIC, field),
        SCHEMA.tid(*point),
        SCHEMA.tid(*point, "attributes"),
        SCHEMA.tid(*point, "exemplars") if has_ex else 0,
        SCHEMA.tid(*point, "exemplars", "filtered_attributes") if has_ex else 0,
        SCHEMA.tid(*point, subs[0]) if subs else 0,
        SCHEMA.tid(*point, subs[1]) if len(subs) > 1 else 0,
    ]


POINT_TIDS = np.array([_point_tids(f) for f in _DATA_FIELDS], dtype=np.int64)
_METRIC_PATH = "resource_metrics[{}].scope_metrics[{}].metrics[{}]"
_ID_SIZES = {_metrics.R_TRACE: ("trace_id", 16, INVALID_TRACE_ID), _metrics.R_SPAN: ("span_id", 8, INVALID_SPAN_ID)}
_F64 = pa.float64()
_BUCKETS = S.POINTS.field("bucket_counts").type
_BOUNDS = S.POINTS.field("explicit_bounds").type
_QUANTILES = S.POINTS.field("quantile_values").type


def _metric_rejections(rej: Arr) -> Rejections:
    """Refused exemplars from kernel rows (reason, resource, scope, metric, field, point,
    exemplar, id length)."""
    out = Rejections()
    if not len(rej):
        return out
    for reason, ri, si, mi, field, pi, ei, size in rej[:MAX_MESSAGES].tolist():
        name, expected, code = _ID_SIZES[reason]
        path = f"{_METRIC_PATH.format(ri, si, mi)}.{_DATA_FIELDS[field]}.data_points[{pi}].exemplars[{ei}]"
        out.add(code, f"{path}: {name} has {size} bytes, expected {expected}")
    rest = rej[MAX_MESSAGES:, 0]
    for reason, n in zip(*np.unique(rest, return_counts=True), strict=True):
        out.counts[_ID_SIZES[int(reason)][2]] += int(n)
    return out


def _bm(ok: Arr) -> tuple[Arr, int]:
    """An Arrow validity bitmap (and null count) of a bool array."""
    return np.packbits(ok, bitorder="little"), int(len(ok) - np.count_nonzero(ok))


def _list(typ: pa.DataType, n: int, offsets: Arr, values: pa.Array, ok: Arr) -> pa.Array:
    bits, nulls = _bm(ok)
    return pa.Array.from_buffers(
        typ, n, [pa.py_buffer(bits) if nulls else None, pa.py_buffer(offsets)], null_count=nulls, children=[values]
    )


def _points_table(pt: tuple[Any, ...]) -> pa.Table:
    n, pu, pi32, flags, vk, ok, loff, lval, ln = pt
    if n == 0:
        return A.empty(S.POINTS)
    pu = np.ascontiguousarray(pu)
    pi32 = np.ascontiguousarray(pi32)
    ok = np.ascontiguousarray(ok)
    loff = np.ascontiguousarray(loff)

    def f64(row: int, valid: int) -> pa.Array:
        return A.prim(_F64, n, pu[row].view(np.float64), _bm(ok[valid]))

    def u64(row: int, valid: int) -> pa.Array:
        return A.prim(A.U64, n, pu[row], _bm(ok[valid]))

    def values(j: int, typ: pa.DataType) -> pa.Array:
        m = int(ln[j])
        raw = np.ascontiguousarray(lval[j, :m])
        return A.prim(typ, m, raw.view(np.float64) if typ == _F64 else raw)

    nq = int(ln[4])
    quantiles = pa.StructArray.from_arrays(
        [
            A.prim(_F64, nq, np.ascontiguousarray(lval[4, :nq]).view(np.float64)),
            A.prim(_F64, nq, np.ascontiguousarray(lval[5, :nq]).view(np.float64)),
        ],
        fields=list(_QUANTILES.value_type),
    )
    return A.table(
        S.POINTS,
        [
            A.prim(A.I32, n, pi32[0]),
            A.prim(A.U64, n, pu[0]),
            A.prim(A.U64, n, pu[1]),
            A.prim(A.U32, n, flags),
            A.prim(A.I8, n, vk, _bm(ok[0])),
            f64(2, 1),
            A.prim(pa.int64(), n, pu[2].view(np.int64), _bm(ok[2])),
            u64(3, 3),
            f64(4, 4),
            f64(5, 5),
            f64(6, 6),
            _list(_BUCKETS, n, loff[0], values(0, A.U64), ok[7]),
            _list(_BOUNDS, n, loff[1], values(1, _F64), ok[7]),
            A.prim(A.I32, n, pi32[1], _bm(ok[8])),
            u64(7, 8),
            f64(8, 8),
            A.prim(A.I32, n, pi32[2], _bm(ok[9])),
            _list(_BUCKETS, n, loff[2], values(2, A.U64), ok[9]),
            A.prim(A.I32, n, pi32[3], _bm(ok[10])),
            _list(_BUCKETS, n, loff[3], values(3, A.U64), ok[10]),
            _list(_QUANTILES, n, loff[4], quantiles, ok[11]),
        ],
    )


def decode_metrics(data: Buffer) -> Decoded[MetricBatch]:
    """Serialized ``ExportMetricsServiceRequest`` bytes as a ``MetricBatch``."""
    arr = as_array(data)
    out = _metrics.decode_metrics_kernel(arr, SCHEMA.kind, SCHEMA.wire, SCHEMA.child, METRIC_TIDS, POINT_TIDS)
    if not out[0]:
        validated("metrics", arr)
        return proto.decode_metrics(data)
    err = out[1]
    if err[0]:
        which = _DATA_FIELDS[[5, 7, 9, 10, 11].index(int(err[4]))]
        path = f"{_METRIC_PATH.format(err[1], err[2], err[3])}.{which}.aggregation_temporality"
        raise DecodeError(f"{path}: enum value {err[5]} is outside the range the model stores (-128..127)")
    res, res_attrs, sc, sc_attrs, mt, mt_attrs, pt, pt_attrs, ex, ex_attrs, rej = out[2:]
    n = mt[0]
    metrics = (
        A.table(
            S.METRICS,
            [
                A.prim(A.I32, n, mt[1]),
                A.dict_strings(n, mt[2], mt[3]),
                A.strings(A.STR, n, mt[4]),
                A.strings(A.STR, n, mt[5]),
                A.prim(A.I8, n, mt[6]),
                A.prim(A.I8, n, mt[7], _bm(mt[8])),
                pa.array(mt[9], A.BOOL, mask=~mt[10]),
            ],
        )
        if n
        else A.empty(S.METRICS)
    )
    n_x = ex[0]
    exemplars = (
        A.table(
            S.EXEMPLARS,
            [
                A.prim(A.I32, n_x, ex[1]),
                A.prim(A.U64, n_x, ex[2]),
                A.prim(A.I8, n_x, ex[3]),
                A.prim(_F64, n_x, ex[4].view(np.float64), _bm(ex[3] == 4)),
                A.prim(pa.int64(), n_x, ex[4].view(np.int64), _bm(ex[3] == 6)),
                A.fixed(S.SPAN_ID, n_x, ex[5], _bm(ex[6])),
                A.fixed(S.TRACE_ID, n_x, ex[7], _bm(ex[8])),
            ],
        )
        if n_x
        else A.empty(S.EXEMPLARS)
    )
    tables = {
        "resources": A.resources_table(data, res),
        "resource_attributes": A.attribute_table(data, res_attrs),
        "scopes": A.scopes_table(sc),
        "scope_attributes": A.attribute_table(data, sc_attrs),
        "metrics": metrics,
        "metric_metadata": A.attribute_table(data, mt_attrs),
        "points": _points_table(pt),
        "point_attributes": A.attribute_table(data, pt_attrs),
        "exemplars": exemplars,
        "exemplar_attributes": A.attribute_table(data, ex_attrs),
    }
    return Decoded(MetricBatch(tables, check=False), _metric_rejections(rej))
