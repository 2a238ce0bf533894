# ruff: noqa: PLR0917 (numba kernels take positional column tuples; one return per error)
"""The logs kernel: a ``LogBatch``'s columns -> ``ExportLogsServiceRequest`` bytes.

Log tuple (shapes in ``_columns``): ``(scope, time P, observed_time P, severity_number P,
severity_text S, body values, dropped_attributes P, flags P, trace_id F, span_id F,
event_name S)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from knhk_telemetry.otlp.fastenc._wire import (
    ERR_NONE,
    ERR_PARENT,
    ERR_VALUE_TYPE,
    any_size,
    entry,
    envelope,
    grouped,
    id_size,
    jit,
    ok,
    prep_attrs,
    pval,
    slen,
    starts_array,
    str_size,
    uvar_size,
    wany,
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
TABLES = ("resource_attributes", "scopes", "scope_attributes", "logs", "log_attributes")


@work
def _body_sizes(lg: Any, out: Any) -> int:
    """Bytes of each body AnyValue (-1: no body); the first row of unknown type, else -1."""
    body = lg[5]
    for i in range(out.size):
        if ok(body[0][1], body[0][2], i):
            s = any_size(body, i)
            if s < 0:
                return i
            out[i] = s
        else:
            out[i] = -1
    return -1


@work
def _log_sizes(lg: Any, body_sizes: Any, attr_totals: Any, out: Any) -> None:
    for i in range(out.size):
        s = 9 if pval(lg[1], i) != 0 else 0
        s += uvar_size(pval(lg[3], i)) + str_size(slen(lg[4], i))
        if body_sizes[i] >= 0:
            s += entry(body_sizes[i])
        s += attr_totals[i] + uvar_size(pval(lg[6], i))
        if pval(lg[7], i) != 0:
            s += 5
        s += id_size(lg[8], i, 16) + id_size(lg[9], i, 8)
        if pval(lg[2], i) != 0:
            s += 9
        out[i] = s + str_size(slen(lg[10], i))


@work
def _wlog(buf: Any, pos: int, lg: Any, i: int, body_sizes: Any, la: Any, la_prep: Any) -> int:
    t = pval(lg[1], i)
    if t != 0:
        buf[pos] = 0x09
        pos = wfixed64(buf, pos + 1, t)
    pos = wuvar(buf, pos, 0x10, pval(lg[3], i))
    pos = wstr(buf, pos, 0x1A, lg[4], i)
    n = body_sizes[i]
    if n >= 0:
        buf[pos] = 0x2A
        pos = wvar(buf, pos + 1, n)
        pos = wany(buf, pos, lg[5], i)
    starts = la_prep[0]
    pos = wattrs(buf, pos, np.int64(0x32), la, starts[i], starts[i + 1], la_prep[1], la_prep[2])
    pos = wuvar(buf, pos, 0x38, pval(lg[6], i))
    f = pval(lg[7], i)
    if f != 0:
        buf[pos] = 0x45
        pos = wfixed32(buf, pos + 1, f)
    pos = wid(buf, pos, 0x4A, lg[8], i, 16)
    pos = wid(buf, pos, 0x52, lg[9], i, 8)
    t = pval(lg[2], i)
    if t != 0:
        buf[pos] = 0x59
        pos = wfixed64(buf, pos + 1, t)
    return wstr(buf, pos, 0x62, lg[10], i)


@work
def write(buf: Any, r: Any, ra: Any, c: Any, ca: Any, lg: Any, la: Any, sizes: Any, preps: Any, starts: Any) -> int:
    res_msg, scope_msg, res_cont, scope_cont, log_sizes, body_sizes = sizes
    ra_prep, ca_prep, la_prep = preps
    scope_starts, log_starts = starts
    pos = 0
    for ri in range(res_cont.size):
        buf[pos] = 0x0A
        pos = wvar(buf, pos + 1, res_cont[ri])
        pos = wresource(buf, pos, r, ra, ra_prep, res_msg, ri)
        for s in range(scope_starts[ri], scope_starts[ri + 1]):
            buf[pos] = 0x12
            pos = wvar(buf, pos + 1, scope_cont[s])
            pos = wscope(buf, pos, c, ca, ca_prep, scope_msg, s)
            for i in range(log_starts[s], log_starts[s + 1]):
                buf[pos] = 0x12
                pos = wvar(buf, pos + 1, log_sizes[i])
                pos = _wlog(buf, pos, lg, i, body_sizes, la, la_prep)
            pos = wstr(buf, pos, 0x1A, c[4], s)
        pos = wstr(buf, pos, 0x1A, r[0], ri)
    return pos


@jit
def check(n_res: int, c: Any, lg: Any, ra: Any, ca: Any, la: Any) -> Any:
    """``(error, table, row, attribute preps, starts, body sizes)``: parent columns and value
    types checked (the first fault is reported with its ``TABLES`` number), attributes and
    bodies sized."""
    n_scopes = c[0].size
    n_logs = lg[0].size
    preps = (prep_attrs(ra, n_res), prep_attrs(ca, n_scopes), prep_attrs(la, n_logs))
    scope_starts, bad_scope = starts_array(c[0], n_res)
    log_starts, bad_log = starts_array(lg[0], n_scopes)
    body_sizes = np.empty(n_logs, np.int64)
    bad_body = _body_sizes(lg, body_sizes)
    starts = (scope_starts, log_starts)
    faults = (
        (preps[0][4], 0, preps[0][5]),
        (ERR_PARENT, 1, bad_scope),
        (preps[1][4], 2, preps[1][5]),
        (ERR_PARENT, 3, bad_log),
        (preps[2][4], 4, preps[2][5]),
        (ERR_VALUE_TYPE, 3, bad_body),
    )
    for err, table, row in faults:
        if err != ERR_NONE and row >= 0:
            return err, table, row, preps, starts, body_sizes
    return ERR_NONE, 0, -1, preps, starts, body_sizes


@jit
def sizes(r: Any, c: Any, lg: Any, preps: Any, starts: Any, body_sizes: Any) -> Any:
    """``(request size, sizes)`` of a checked batch; ``sizes`` is what :func:`write` takes."""
    ra_prep, ca_prep, la_prep = preps
    scope_starts, log_starts = starts
    log_sizes = np.empty(lg[0].size, np.int64)
    _log_sizes(lg, body_sizes, la_prep[3], log_sizes)
    res_msg, scope_msg, res_cont, scope_cont, total = envelope(
        r, c, ra_prep[3], ca_prep[3], grouped(log_starts, log_sizes), scope_starts
    )
    return total, (res_msg, scope_msg, res_cont, scope_cont, log_sizes, body_sizes)
