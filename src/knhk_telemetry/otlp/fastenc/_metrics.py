# ruff: noqa: PLR0917 (numba kernels take positional column tuples; one return per error)
"""The metrics kernel: a ``MetricBatch``'s columns -> ``ExportMetricsServiceRequest`` bytes.

Column tuples (shapes in ``_columns``):
metrics ``(scope, name S, description S, unit S, type P, aggregation_temporality P,
is_monotonic B)``; points ``(metric, start P, time P, flags P, value_kind P, value_double P,
value_int P, count P, sum P, min P, max P, scale P, zero_count P, zero_threshold P,
positive_offset P, negative_offset P)`` with their list columns apart, ``(bucket_counts L,
explicit_bounds L, positive_bucket_counts L, negative_bucket_counts L, quantile_values Q)``;
exemplars ``(point, time P, value_kind P, value_double P, value_int P, span_id F,
trace_id F)``; attribute tables ``(row, key S, values)``. Doubles are their ``uint64`` bits.

A point is laid out by the type of its metric; points of a metric without data (type 0)
and exemplars of summary points are not written, as in the reference encoder.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from knhk_telemetry.otlp.fastenc._wire import (
    ERR_METRIC_TYPE,
    ERR_NONE,
    ERR_PARENT,
    bval,
    entry,
    envelope,
    grouped,
    id_size,
    inline,
    jit,
    ok,
    prep_attrs,
    pval,
    pvalid,
    slen,
    starts_array,
    str_size,
    uvar_size,
    vlen,
    wattrs,
    wfixed64,
    wid,
    work,
    wresource,
    wscope,
    wstr,
    wuvar,
    wvar,
)

#: table numbers in the kernel's error result
TABLES = (
    "resource_attributes",
    "scopes",
    "scope_attributes",
    "metrics",
    "metric_metadata",
    "points",
    "point_attributes",
    "exemplars",
    "exemplar_attributes",
)

# MetricType and NumberKind numbers (model.schema)
_GAUGE = 5
_SUM = 7
_HISTOGRAM = 9
_EXPONENTIAL = 10
_SUMMARY = 11
_AS_DOUBLE = 4
_AS_INT = 6


# ----------------------------------------------------------------------------------------
# small field helpers
# ----------------------------------------------------------------------------------------


@inline
def _fixed_size(v: Any) -> int:
    """A fixed64/double field with a one-byte tag, left out when all bits are zero."""
    return 9 if v != 0 else 0


@inline
def _opt_size(c: Any, i: int) -> int:
    """A proto3 ``optional`` double: written whenever the row is not null."""
    return 9 if pvalid(c, i) else 0


@inline
def _wfix(buf: Any, pos: int, tag: int, v: Any) -> int:
    if v == 0:
        return pos
    buf[pos] = tag
    return wfixed64(buf, pos + 1, v)


@inline
def _wopt(buf: Any, pos: int, tag: int, c: Any, i: int) -> int:
    if not pvalid(c, i):
        return pos
    buf[pos] = tag
    return wfixed64(buf, pos + 1, c[0][i])


@inline
def _zigzag(v: Any) -> Any:
    """``sint32``/``sint64`` wire value of ``v``."""
    x = np.int64(v)
    return np.uint64((x << 1) ^ (x >> 63))


@inline
def _items(lst: Any, i: int) -> tuple[int, int]:
    """``[lo, hi)`` item rows of row ``i`` of an ``L``/``Q`` column (empty when null)."""
    if not ok(lst[1], lst[2], i):
        return 0, 0
    return int(lst[0][i]), int(lst[0][i + 1])


@inline
def _packed_fixed_size(lst: Any, i: int) -> int:
    """A packed repeated fixed64/double field (left out when empty)."""
    lo, hi = _items(lst, i)
    if hi <= lo:
        return 0
    return entry(8 * (hi - lo))


@inline
def _wpacked_fixed(buf: Any, pos: int, tag: int, lst: Any, i: int) -> int:
    lo, hi = _items(lst, i)
    if hi <= lo:
        return pos
    buf[pos] = tag
    pos = wvar(buf, pos + 1, 8 * (hi - lo))
    values = lst[3]
    for j in range(lo, hi):
        pos = wfixed64(buf, pos, pval(values, j))
    return pos


@inline
def _varints_payload(lst: Any, i: int) -> int:
    """Bytes of the items of row ``i`` as varints (a packed uint64 field's payload)."""
    lo, hi = _items(lst, i)
    values = lst[3]
    s = 0
    for j in range(lo, hi):
        s += vlen(pval(values, j))
    return s


@inline
def _buckets_size(offset: Any, i: int, payload: int) -> int:
    """Bytes of an ``ExponentialHistogramDataPoint.Buckets`` message (-1 when absent)."""
    if not pvalid(offset, i):
        return -1
    s = uvar_size(_zigzag(offset[0][i]))
    if payload > 0:
        s += entry(payload)
    return s


@inline
def _wbuckets(buf: Any, pos: int, tag: int, offset: Any, lst: Any, i: int, payload: int) -> int:
    size = _buckets_size(offset, i, payload)
    if size < 0:
        return pos
    buf[pos] = tag
    pos = wvar(buf, pos + 1, size)
    pos = wuvar(buf, pos, 0x08, _zigzag(offset[0][i]))
    if payload > 0:
        buf[pos] = 0x12
        pos = wvar(buf, pos + 1, payload)
        lo, hi = _items(lst, i)
        values = lst[3]
        for j in range(lo, hi):
            pos = wvar(buf, pos, pval(values, j))
    return pos


@inline
def _quantile_size(q: Any, j: int) -> int:
    """Bytes of the ``ValueAtQuantile`` of item ``j``."""
    return _fixed_size(pval(q[3], j)) + _fixed_size(pval(q[4], j))


# ----------------------------------------------------------------------------------------
# sizes
# ----------------------------------------------------------------------------------------


@work
def _exemplar_sizes(ex: Any, attr_totals: Any, out: Any) -> None:
    for x in range(out.size):
        s = _fixed_size(pval(ex[1], x))
        kind = pval(ex[2], x)
        if kind in (_AS_DOUBLE, _AS_INT):
            s += 9
        out[x] = s + id_size(ex[5], x, 8) + id_size(ex[6], x, 16) + attr_totals[x]


@work
def _point_sizes(
    mt: Any, pt: Any, ls: Any, attr_totals: Any, ex_totals: Any, out: Any, pos_pay: Any, neg_pay: Any
) -> None:
    """Bytes of each point message, laid out by its metric's type (0 under a metric without
    data); ``pos_pay``/``neg_pay`` get the packed bucket payloads of exponential points."""
    for i in range(out.size):
        t = pval(mt[4], pt[0][i])
        s = _fixed_size(pval(pt[1], i)) + _fixed_size(pval(pt[2], i)) + attr_totals[i] + uvar_size(pval(pt[3], i))
        if t in (_GAUGE, _SUM):
            kind = pval(pt[4], i)
            if kind in (_AS_DOUBLE, _AS_INT):
                s += 9
            s += ex_totals[i]
        elif t == _HISTOGRAM:
            s += _fixed_size(pval(pt[7], i)) + _opt_size(pt[8], i) + _opt_size(pt[9], i) + _opt_size(pt[10], i)
            s += _packed_fixed_size(ls[0], i) + _packed_fixed_size(ls[1], i) + ex_totals[i]
        elif t == _EXPONENTIAL:
            s += _fixed_size(pval(pt[7], i)) + _opt_size(pt[8], i) + _opt_size(pt[9], i) + _opt_size(pt[10], i)
            s += uvar_size(_zigzag(pval(pt[11], i))) + _fixed_size(pval(pt[12], i)) + _fixed_size(pval(pt[13], i))
            pp = _varints_payload(ls[2], i)
            np_ = _varints_payload(ls[3], i)
            pos_pay[i] = pp
            neg_pay[i] = np_
            b = _buckets_size(pt[14], i, pp)
            if b >= 0:
                s += entry(b)
            b = _buckets_size(pt[15], i, np_)
            if b >= 0:
                s += entry(b)
            s += ex_totals[i]
        elif t == _SUMMARY:
            s += _fixed_size(pval(pt[7], i)) + _fixed_size(pval(pt[8], i))
            q = ls[4]
            lo, hi = _items(q, i)
            for j in range(lo, hi):
                s += entry(_quantile_size(q, j))
        else:
            s = 0
        out[i] = s


@work
def _metric_sizes(mt: Any, point_totals: Any, attr_totals: Any, data_sizes: Any, out: Any) -> None:
    """Bytes of each metric's data message (``data_sizes``) and Metric message (``out``)."""
    for m in range(out.size):
        s = str_size(slen(mt[1], m)) + str_size(slen(mt[2], m)) + str_size(slen(mt[3], m)) + attr_totals[m]
        t = pval(mt[4], m)
        if t != 0:
            d = point_totals[m]
            if t in (_SUM, _HISTOGRAM, _EXPONENTIAL):
                d += uvar_size(pval(mt[5], m))
            if t == _SUM and bval(mt[6], m) == 1:
                d += 2
            data_sizes[m] = d
            s += entry(d)
        else:
            data_sizes[m] = 0
        out[m] = s


# ----------------------------------------------------------------------------------------
# writing
# ----------------------------------------------------------------------------------------


@work
def _wexemplars(buf: Any, pos: int, tag: Any, ex: Any, lo: int, hi: int, ex_sizes: Any, xa: Any, xa_prep: Any) -> int:
    """Write exemplar rows ``[lo, hi)`` as repeated field ``tag`` (an ``np.int64``)."""
    a_starts = xa_prep[0]
    for x in range(lo, hi):
        buf[pos] = tag
        pos = wvar(buf, pos + 1, ex_sizes[x])
        pos = _wfix(buf, pos, 0x11, pval(ex[1], x))
        kind = pval(ex[2], x)
        if kind == _AS_DOUBLE:
            buf[pos] = 0x19
            pos = wfixed64(buf, pos + 1, pval(ex[3], x))
        pos = wid(buf, pos, 0x22, ex[5], x, 8)
        pos = wid(buf, pos, 0x2A, ex[6], x, 16)
        if kind == _AS_INT:
            buf[pos] = 0x31
            pos = wfixed64(buf, pos + 1, pval(ex[4], x))
        pos = wattrs(buf, pos, np.int64(0x3A), xa, a_starts[x], a_starts[x + 1], xa_prep[1], xa_prep[2])
    return pos


@work
def _wpoint(
    buf: Any,
    pos: int,
    t: int,
    pt: Any,
    ls: Any,
    i: int,
    pa: Any,
    pa_prep: Any,
    ex: Any,
    ex_starts: Any,
    ex_sizes: Any,
    xa: Any,
    xa_prep: Any,
    pos_pay: Any,
    neg_pay: Any,
) -> int:
    """Write the fields of point ``i`` of a metric of type ``t`` (in field-number order)."""
    a_lo = pa_prep[0][i]
    a_hi = pa_prep[0][i + 1]
    x_lo = ex_starts[i]
    x_hi = ex_starts[i + 1]
    if t == _EXPONENTIAL:
        pos = wattrs(buf, pos, np.int64(0x0A), pa, a_lo, a_hi, pa_prep[1], pa_prep[2])
    pos = _wfix(buf, pos, 0x11, pval(pt[1], i))
    pos = _wfix(buf, pos, 0x19, pval(pt[2], i))
    if t in (_GAUGE, _SUM):
        kind = pval(pt[4], i)
        if kind == _AS_DOUBLE:
            buf[pos] = 0x21
            pos = wfixed64(buf, pos + 1, pval(pt[5], i))
        pos = _wexemplars(buf, pos, np.int64(0x2A), ex, x_lo, x_hi, ex_sizes, xa, xa_prep)
        if kind == _AS_INT:
            buf[pos] = 0x31
            pos = wfixed64(buf, pos + 1, pval(pt[6], i))
        pos = wattrs(buf, pos, np.int64(0x3A), pa, a_lo, a_hi, pa_prep[1], pa_prep[2])
        return wuvar(buf, pos, 0x40, pval(pt[3], i))
    pos = _wfix(buf, pos, 0x21, pval(pt[7], i))
    if t == _SUMMARY:
        pos = _wfix(buf, pos, 0x29, pval(pt[8], i))
        q = ls[4]
        lo, hi = _items(q, i)
        for j in range(lo, hi):
            buf[pos] = 0x32
            pos = wvar(buf, pos + 1, _quantile_size(q, j))
            pos = _wfix(buf, pos, 0x09, pval(q[3], j))
            pos = _wfix(buf, pos, 0x11, pval(q[4], j))
        pos = wattrs(buf, pos, np.int64(0x3A), pa, a_lo, a_hi, pa_prep[1], pa_prep[2])
        return wuvar(buf, pos, 0x40, pval(pt[3], i))
    pos = _wopt(buf, pos, 0x29, pt[8], i)
    if t == _HISTOGRAM:
        pos = _wpacked_fixed(buf, pos, 0x32, ls[0], i)
        pos = _wpacked_fixed(buf, pos, 0x3A, ls[1], i)
        pos = _wexemplars(buf, pos, np.int64(0x42), ex, x_lo, x_hi, ex_sizes, xa, xa_prep)
        pos = wattrs(buf, pos, np.int64(0x4A), pa, a_lo, a_hi, pa_prep[1], pa_prep[2])
        pos = wuvar(buf, pos, 0x50, pval(pt[3], i))
        pos = _wopt(buf, pos, 0x59, pt[9], i)
        return _wopt(buf, pos, 0x61, pt[10], i)
    # exponential histogram
    pos = wuvar(buf, pos, 0x30, _zigzag(pval(pt[11], i)))
    pos = _wfix(buf, pos, 0x39, pval(pt[12], i))
    pos = _wbuckets(buf, pos, 0x42, pt[14], ls[2], i, pos_pay[i])
    pos = _wbuckets(buf, pos, 0x4A, pt[15], ls[3], i, neg_pay[i])
    pos = wuvar(buf, pos, 0x50, pval(pt[3], i))
    pos = _wexemplars(buf, pos, np.int64(0x5A), ex, x_lo, x_hi, ex_sizes, xa, xa_prep)
    pos = _wopt(buf, pos, 0x61, pt[9], i)
    pos = _wopt(buf, pos, 0x69, pt[10], i)
    return _wfix(buf, pos, 0x71, pval(pt[13], i))


@work
def _wmetric(
    buf: Any,
    pos: int,
    mt: Any,
    m: int,
    md: Any,
    md_prep: Any,
    pt: Any,
    ls: Any,
    point_starts: Any,
    pa: Any,
    pa_prep: Any,
    ex: Any,
    ex_starts: Any,
    xa: Any,
    xa_prep: Any,
    sizes: Any,
) -> int:
    data_sizes, point_sizes, ex_sizes, pos_pay, neg_pay = sizes
    pos = wstr(buf, pos, 0x0A, mt[1], m)
    pos = wstr(buf, pos, 0x12, mt[2], m)
    pos = wstr(buf, pos, 0x1A, mt[3], m)
    t = int(pval(mt[4], m))
    if t != 0:
        buf[pos] = (t << 3) | 2
        pos = wvar(buf, pos + 1, data_sizes[m])
        for i in range(point_starts[m], point_starts[m + 1]):
            buf[pos] = 0x0A
            pos = wvar(buf, pos + 1, point_sizes[i])
            pos = _wpoint(
                buf, pos, t, pt, ls, i, pa, pa_prep, ex, ex_starts, ex_sizes, xa, xa_prep, pos_pay, neg_pay
            )  # fmt: skip
        if t in (_SUM, _HISTOGRAM, _EXPONENTIAL):
            pos = wuvar(buf, pos, 0x10, pval(mt[5], m))
        if t == _SUM and bval(mt[6], m) == 1:
            buf[pos] = 0x18
            buf[pos + 1] = 1
            pos += 2
    starts = md_prep[0]
    return wattrs(buf, pos, np.int64(0x62), md, starts[m], starts[m + 1], md_prep[1], md_prep[2])


@work
def write(
    buf: Any,
    r: Any,
    ra: Any,
    c: Any,
    ca: Any,
    mt: Any,
    md: Any,
    pt: Any,
    ls: Any,
    pa: Any,
    ex: Any,
    xa: Any,
    sizes: Any,
    preps: Any,
    starts: Any,
) -> int:
    res_msg, scope_msg, res_cont, scope_cont, metric_sizes, point_sizes_etc = sizes
    ra_prep, ca_prep, md_prep, pa_prep, xa_prep = preps
    scope_starts, metric_starts, point_starts, ex_starts = starts
    pos = 0
    for ri in range(res_cont.size):
        buf[pos] = 0x0A
        pos = wvar(buf, pos + 1, res_cont[ri])
        pos = wresource(buf, pos, r, ra, ra_prep, res_msg, ri)
        for s in range(scope_starts[ri], scope_starts[ri + 1]):
            buf[pos] = 0x12
            pos = wvar(buf, pos + 1, scope_cont[s])
            pos = wscope(buf, pos, c, ca, ca_prep, scope_msg, s)
            for m in range(metric_starts[s], metric_starts[s + 1]):
                buf[pos] = 0x12
                pos = wvar(buf, pos + 1, metric_sizes[m])
                pos = _wmetric(
                    buf, pos, mt, m, md, md_prep, pt, ls, point_starts, pa, pa_prep, ex, ex_starts, xa, xa_prep,
                    point_sizes_etc,
                )  # fmt: skip
            pos = wstr(buf, pos, 0x1A, c[4], s)
        pos = wstr(buf, pos, 0x1A, r[0], ri)
    return pos


# ----------------------------------------------------------------------------------------
# entry points
# ----------------------------------------------------------------------------------------


@work
def _bad_metric_type(mt: Any) -> int:
    """The first metrics row whose type is not a ``MetricType`` (null counts as empty), else -1."""
    for m in range(mt[0].size):
        t = pval(mt[4], m)
        if t not in (0, _GAUGE, _SUM, _HISTOGRAM, _EXPONENTIAL, _SUMMARY):
            return m
    return -1


@jit
def check(n_res: int, c: Any, mt: Any, pt: Any, ex: Any, ra: Any, ca: Any, md: Any, pa: Any, xa: Any) -> Any:
    """``(error, table, row, attribute preps, starts)``: every parent column, metric type and
    value type checked (the first fault is reported with its ``TABLES`` number), attributes
    sized."""
    n_scopes = c[0].size
    n_metrics = mt[0].size
    n_points = pt[0].size
    preps = (
        prep_attrs(ra, n_res),
        prep_attrs(ca, n_scopes),
        prep_attrs(md, n_metrics),
        prep_attrs(pa, n_points),
        prep_attrs(xa, ex[0].size),
    )
    scope_starts, bad_scope = starts_array(c[0], n_res)
    metric_starts, bad_metric = starts_array(mt[0], n_scopes)
    point_starts, bad_point = starts_array(pt[0], n_metrics)
    ex_starts, bad_ex = starts_array(ex[0], n_points)
    starts = (scope_starts, metric_starts, point_starts, ex_starts)
    faults = (
        (preps[0][4], 0, preps[0][5]),
        (ERR_PARENT, 1, bad_scope),
        (preps[1][4], 2, preps[1][5]),
        (ERR_PARENT, 3, bad_metric),
        (ERR_METRIC_TYPE, 3, _bad_metric_type(mt)),
        (preps[2][4], 4, preps[2][5]),
        (ERR_PARENT, 5, bad_point),
        (preps[3][4], 6, preps[3][5]),
        (ERR_PARENT, 7, bad_ex),
        (preps[4][4], 8, preps[4][5]),
    )
    for err, table, row in faults:
        if err != ERR_NONE and row >= 0:
            return err, table, row, preps, starts
    return ERR_NONE, 0, -1, preps, starts


@jit
def sizes(r: Any, c: Any, mt: Any, pt: Any, ls: Any, ex: Any, preps: Any, starts: Any) -> Any:
    """``(request size, sizes)`` of a checked batch; ``sizes`` is what :func:`write` takes."""
    ra_prep, ca_prep, md_prep, pa_prep, xa_prep = preps
    scope_starts, metric_starts, point_starts, ex_starts = starts
    n_points = pt[0].size
    n_metrics = mt[0].size
    ex_sizes = np.empty(ex[0].size, np.int64)
    _exemplar_sizes(ex, xa_prep[3], ex_sizes)
    point_sizes = np.empty(n_points, np.int64)
    pos_pay = np.zeros(n_points, np.int64)
    neg_pay = np.zeros(n_points, np.int64)
    _point_sizes(mt, pt, ls, pa_prep[3], grouped(ex_starts, ex_sizes), point_sizes, pos_pay, neg_pay)
    data_sizes = np.empty(n_metrics, np.int64)
    metric_sizes = np.empty(n_metrics, np.int64)
    _metric_sizes(mt, grouped(point_starts, point_sizes), md_prep[3], data_sizes, metric_sizes)
    res_msg, scope_msg, res_cont, scope_cont, total = envelope(
        r, c, ra_prep[3], ca_prep[3], grouped(metric_starts, metric_sizes), scope_starts
    )
    return total, (
        res_msg,
        scope_msg,
        res_cont,
        scope_cont,
        metric_sizes,
        (data_sizes, point_sizes, ex_sizes, pos_pay, neg_pay),
    )
