"""Kernel output -> ``SpanBatch`` / ``LogBatch`` (pure Python: not part of the kernel cache key).

The kernels report only whether the input is valid; on invalid input the exact validator
(``_wire.validate``) is run for upb's error text. Should it find nothing wrong, the kernel
refused something upb accepts: the reference decoder then serves the request, so output is
never wrong, only slower, for such (unknown) input.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from knhk_telemetry.errors import DecodeError
from knhk_telemetry.model import schema as S
from knhk_telemetry.model.batch import LogBatch, SpanBatch
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
from knhk_telemetry.otlp.fast import _logs, _traces
from knhk_telemetry.otlp.fast._schema import ROOTS, SCHEMA
from knhk_telemetry.otlp.fast._wire import ERROR_TEXT, OK, validate
from knhk_telemetry.otlp.proto import Buffer

Arr = NDArray[Any]

_TRACES = ("traces", "resource_spans")
_SS = (*_TRACES, "scope_spans")
_SPAN = (*_SS, "spans")
TRACE_TIDS = np.array(
    [
        SCHEMA.tid("traces"),
        SCHEMA.tid(*_TRACES),
        SCHEMA.tid(*_TRACES, "resource"),
        SCHEMA.tid(*_TRACES, "resource", "attributes"),
        SCHEMA.tid(*_TRACES, "resource", "attributes", "value"),
        SCHEMA.tid(*_SS),
        SCHEMA.tid(*_SS, "scope"),
        SCHEMA.tid(*_SS, "scope", "attributes"),
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
_LOGS = ("logs", "resource_logs")
_SL = (*_LOGS, "scope_logs")
LOG_TIDS = np.array(
    [
        SCHEMA.tid("logs"),
        SCHEMA.tid(*_LOGS),
        SCHEMA.tid(*_LOGS, "resource"),
        SCHEMA.tid(*_LOGS, "resource", "attributes"),
        SCHEMA.tid(*_LOGS, "resource", "attributes", "value"),
        SCHEMA.tid(*_SL),
        SCHEMA.tid(*_SL, "scope"),
        SCHEMA.tid(*_SL, "scope", "attributes"),
        SCHEMA.tid(*_SL, "log_records"),
        SCHEMA.tid(*_SL, "log_records", "attributes"),
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
