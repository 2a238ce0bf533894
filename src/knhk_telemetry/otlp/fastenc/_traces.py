# ruff: noqa: PLR0917 (numba kernels take positional column tuples; one return per error)
"""The traces kernel: a ``SpanBatch``'s columns -> ``ExportTraceServiceRequest`` bytes.

Column tuples (shapes in ``_columns``):
spans ``(scope, trace_id F, span_id F, trace_state S, parent_span_id F, flags P, name S, kind P,
start P, end P, dropped_attributes P, dropped_events P, dropped_links P, status_code P,
status_message S)``; events ``(span, time P, name S, dropped P)``; links ``(span, trace_id F,
span_id F, trace_state S, dropped P, flags P)``; attribute tables ``(row, key S, values)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from knhk_telemetry.otlp.fastenc._wire import (
    ERR_NONE,
    ERR_PARENT,
    entry,
    envelope,
    grouped,
    id_size,
    inline,
    jit,
    prep_attrs,
    pval,
    pvalid,
    slen,
    starts_array,
    str_size,
    uvar_size,
    wattrs,
    wfixed32,
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
    "spans",
    "span_attributes",
    "events",
    "event_attributes",
    "links",
    "link_attributes",
)


@inline
def _status_size(sp: Any, i: int) -> int:
    """Bytes of the Status message, -1 when the span has none."""
    if not pvalid(sp[13], i) and slen(sp[14], i) < 0:
        return -1
    return str_size(slen(sp[14], i)) + uvar_size(pval(sp[13], i))


@work
def _event_sizes(ev: Any, attr_totals: Any, out: Any) -> None:
    for e in range(out.size):
        s = 9 if pval(ev[1], e) != 0 else 0
        out[e] = s + str_size(slen(ev[2], e)) + attr_totals[e] + uvar_size(pval(ev[3], e))


@work
def _link_sizes(lk: Any, attr_totals: Any, out: Any) -> None:
    for k in range(out.size):
        s = id_size(lk[1], k, 16) + id_size(lk[2], k, 8) + str_size(slen(lk[3], k)) + attr_totals[k]
        s += uvar_size(pval(lk[4], k))
        if pval(lk[5], k) != 0:
            s += 5
        out[k] = s


@work
def _span_sizes(sp: Any, attr_totals: Any, event_totals: Any, link_totals: Any, out: Any) -> None:
    for i in range(out.size):
        s = id_size(sp[1], i, 16) + id_size(sp[2], i, 8) + str_size(slen(sp[3], i)) + id_size(sp[4], i, 8)
        s += str_size(slen(sp[6], i)) + uvar_size(pval(sp[7], i))
        if pval(sp[8], i) != 0:
            s += 9
        if pval(sp[9], i) != 0:
            s += 9
        s += attr_totals[i] + uvar_size(pval(sp[10], i))
        s += event_totals[i] + uvar_size(pval(sp[11], i))
        s += link_totals[i] + uvar_size(pval(sp[12], i))
        st = _status_size(sp, i)
        if st >= 0:
            s += entry(st)
        if pval(sp[5], i) != 0:
            s += 6
        out[i] = s


@work
def _wspan(
    buf: Any,
    pos: int,
    sp: Any,
    i: int,
    sa: Any,
    sa_prep: Any,
    ev: Any,
    ev_starts: Any,
    ev_sizes: Any,
    ea: Any,
    ea_prep: Any,
    lk: Any,
    lk_starts: Any,
    lk_sizes: Any,
    la: Any,
    la_prep: Any,
) -> int:
    pos = wid(buf, pos, 0x0A, sp[1], i, 16)
    pos = wid(buf, pos, 0x12, sp[2], i, 8)
    pos = wstr(buf, pos, 0x1A, sp[3], i)
    pos = wid(buf, pos, 0x22, sp[4], i, 8)
    pos = wstr(buf, pos, 0x2A, sp[6], i)
    pos = wuvar(buf, pos, 0x30, pval(sp[7], i))
    t = pval(sp[8], i)
    if t != 0:
        buf[pos] = 0x39
        pos = wfixed64(buf, pos + 1, t)
    t = pval(sp[9], i)
    if t != 0:
        buf[pos] = 0x41
        pos = wfixed64(buf, pos + 1, t)
    a_starts = sa_prep[0]
    pos = wattrs(buf, pos, np.int64(0x4A), sa, a_starts[i], a_starts[i + 1], sa_prep[1], sa_prep[2])
    pos = wuvar(buf, pos, 0x50, pval(sp[10], i))
    e_attr_starts = ea_prep[0]
    for e in range(ev_starts[i], ev_starts[i + 1]):
        buf[pos] = 0x5A
        pos = wvar(buf, pos + 1, ev_sizes[e])
        t = pval(ev[1], e)
        if t != 0:
            buf[pos] = 0x09
            pos = wfixed64(buf, pos + 1, t)
        pos = wstr(buf, pos, 0x12, ev[2], e)
        pos = wattrs(buf, pos, np.int64(0x1A), ea, e_attr_starts[e], e_attr_starts[e + 1], ea_prep[1], ea_prep[2])
        pos = wuvar(buf, pos, 0x20, pval(ev[3], e))
    pos = wuvar(buf, pos, 0x60, pval(sp[11], i))
    l_attr_starts = la_prep[0]
    for k in range(lk_starts[i], lk_starts[i + 1]):
        buf[pos] = 0x6A
        pos = wvar(buf, pos + 1, lk_sizes[k])
        pos = wid(buf, pos, 0x0A, lk[1], k, 16)
        pos = wid(buf, pos, 0x12, lk[2], k, 8)
        pos = wstr(buf, pos, 0x1A, lk[3], k)
        pos = wattrs(buf, pos, np.int64(0x22), la, l_attr_starts[k], l_attr_starts[k + 1], la_prep[1], la_prep[2])
        pos = wuvar(buf, pos, 0x28, pval(lk[4], k))
        f = pval(lk[5], k)
        if f != 0:
            buf[pos] = 0x35
            pos = wfixed32(buf, pos + 1, f)
    pos = wuvar(buf, pos, 0x70, pval(sp[12], i))
    st = _status_size(sp, i)
    if st >= 0:
        buf[pos] = 0x7A
        pos = wvar(buf, pos + 1, st)
        pos = wstr(buf, pos, 0x12, sp[14], i)
        pos = wuvar(buf, pos, 0x18, pval(sp[13], i))
    f = pval(sp[5], i)
    if f != 0:
        buf[pos] = 0x85
        buf[pos + 1] = 0x01
        pos = wfixed32(buf, pos + 2, f)
    return pos


@work
def write(
    buf: Any,
    r: Any,
    ra: Any,
    c: Any,
    ca: Any,
    sp: Any,
    sa: Any,
    ev: Any,
    ea: Any,
    lk: Any,
    la: Any,
    sizes: Any,
    preps: Any,
    starts: Any,
) -> int:
    res_msg, scope_msg, res_cont, scope_cont, span_sizes, ev_sizes, lk_sizes = sizes
    ra_prep, ca_prep, sa_prep, ea_prep, la_prep = preps
    scope_starts, span_starts, ev_starts, lk_starts = starts
    pos = 0
    for ri in range(res_cont.size):
        buf[pos] = 0x0A
        pos = wvar(buf, pos + 1, res_cont[ri])
        pos = wresource(buf, pos, r, ra, ra_prep, res_msg, ri)
        for s in range(scope_starts[ri], scope_starts[ri + 1]):
            buf[pos] = 0x12
            pos = wvar(buf, pos + 1, scope_cont[s])
            pos = wscope(buf, pos, c, ca, ca_prep, scope_msg, s)
            for i in range(span_starts[s], span_starts[s + 1]):
                buf[pos] = 0x12
                pos = wvar(buf, pos + 1, span_sizes[i])
                pos = _wspan(
                    buf, pos, sp, i, sa, sa_prep, ev, ev_starts, ev_sizes, ea, ea_prep, lk, lk_starts, lk_sizes, la,
                    la_prep,
                )  # fmt: skip
            pos = wstr(buf, pos, 0x1A, c[4], s)
        pos = wstr(buf, pos, 0x1A, r[0], ri)
    return pos


@jit
def check(n_res: int, c: Any, sp: Any, ev: Any, lk: Any, ra: Any, ca: Any, sa: Any, ea: Any, la: Any) -> Any:
    """``(error, table, row, attribute preps, starts)``: every parent column and value type
    checked (the first fault is reported with its ``TABLES`` number), attributes sized."""
    n_scopes = c[0].size
    n_spans = sp[0].size
    preps = (
        prep_attrs(ra, n_res),
        prep_attrs(ca, n_scopes),
        prep_attrs(sa, n_spans),
        prep_attrs(ea, ev[0].size),
        prep_attrs(la, lk[0].size),
    )
    scope_starts, bad_scope = starts_array(c[0], n_res)
    span_starts, bad_span = starts_array(sp[0], n_scopes)
    ev_starts, bad_ev = starts_array(ev[0], n_spans)
    lk_starts, bad_lk = starts_array(lk[0], n_spans)
    starts = (scope_starts, span_starts, ev_starts, lk_starts)
    faults = (
        (preps[0][4], 0, preps[0][5]),
        (ERR_PARENT, 1, bad_scope),
        (preps[1][4], 2, preps[1][5]),
        (ERR_PARENT, 3, bad_span),
        (preps[2][4], 4, preps[2][5]),
        (ERR_PARENT, 5, bad_ev),
        (preps[3][4], 6, preps[3][5]),
        (ERR_PARENT, 7, bad_lk),
        (preps[4][4], 8, preps[4][5]),
    )
    for err, table, row in faults:
        if err != ERR_NONE and row >= 0:
            return err, table, row, preps, starts
    return ERR_NONE, 0, -1, preps, starts


@jit
def sizes(r: Any, c: Any, sp: Any, ev: Any, lk: Any, preps: Any, starts: Any) -> Any:
    """``(request size, sizes)`` of a checked batch; ``sizes`` is what :func:`write` takes."""
    ra_prep, ca_prep, sa_prep, ea_prep, la_prep = preps
    scope_starts, span_starts, ev_starts, lk_starts = starts
    ev_sizes = np.empty(ev[0].size, np.int64)
    _event_sizes(ev, ea_prep[3], ev_sizes)
    lk_sizes = np.empty(lk[0].size, np.int64)
    _link_sizes(lk, la_prep[3], lk_sizes)
    span_sizes = np.empty(sp[0].size, np.int64)
    _span_sizes(sp, sa_prep[3], grouped(ev_starts, ev_sizes), grouped(lk_starts, lk_sizes), span_sizes)
    res_msg, scope_msg, res_cont, scope_cont, total = envelope(
        r, c, ra_prep[3], ca_prep[3], grouped(span_starts, span_sizes), scope_starts
    )
    return total, (res_msg, scope_msg, res_cont, scope_cont, span_sizes, ev_sizes, lk_sizes)
