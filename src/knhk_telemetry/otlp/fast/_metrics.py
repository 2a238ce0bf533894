"""The metrics kernel: ``ExportMetricsServiceRequest`` bytes -> column buffers, in one checked pass.

Built like the logs kernel (see ``_logs``): a bounds-checked count sizes the tables, then one
walk fills them and checks everything upb checks, reporting only whether the input is valid.
Protobuf merge rules are applied as upb applies them: a Metric's ``data`` oneof is the last
member written, and every occurrence of that member after the last switch to it is merged
(repeated ``data_points`` appended, scalars last-wins); packed and unpacked repeated numbers
are both read; an exponential histogram's ``positive``/``negative`` Buckets are present once
any occurrence is. Bucket, bound and quantile values go to flat arrays (Arrow list children),
sized by the input length (every value takes at least one byte).
"""

# ruff: noqa: PLR0911, PLR0917, PLR1714
# (numba kernels: flat loops with early exits; `x in (a, b)` on ints is avoided because numba
# builds a tuple for it)

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from knhk_telemetry.otlp.fast._common import (
    add_kv,
    as_int32,
    finish_attrs,
    gather,
    intern_str,
    new_attrs,
    new_dicts,
    read_fixed64,
    read_len,
)
from knhk_telemetry.otlp.fast._jit import jit
from knhk_telemetry.otlp.fast._traces import _count_tag
from knhk_telemetry.otlp.fast._wire import check_field, read_tag, read_varint, skip_field, valid_utf8

Arr = NDArray[Any]

#: refusal reasons, as numbers
R_TRACE, R_SPAN = 1, 2
#: the positions of ``tids`` (type ids of the messages the kernel walks, see ``_schema``)
T_REQ, T_RM, T_RES, T_RKV, T_ANY, T_SM, T_SCOPE, T_SKV, T_METRIC, T_MKV = range(10)
#: the columns of ``point_tids`` (one row per data field: gauge, sum, histogram, exp, summary)
P_DATA, P_POINT, P_PKV, P_EX, P_EKV, P_SUB1, P_SUB2 = range(7)
#: ``count_metrics`` output positions
N_RES, N_RATTR, N_SCOPE, N_SATTR, N_METRIC, N_MATTR, N_POINT, N_PATTR, N_EX, N_EATTR, N_RESMSG = range(11)


@jit
def _data_code(tag: Any) -> Any:
    """The row of ``point_tids`` of a Metric data field tag (wire type 2), or -1."""
    if tag == 0x2A:
        return 0
    if tag == 0x3A:
        return 1
    if tag == 0x4A:
        return 2
    if tag == 0x52:
        return 3
    if tag == 0x5A:
        return 4
    return -1


@jit
def _attr_tag(mt: Any) -> Any:
    if mt == 2:
        return 0x4A
    if mt == 3:
        return 0x0A
    return 0x3A


@jit
def _ex_tag(mt: Any) -> Any:
    if mt <= 1:
        return 0x2A
    if mt == 2:
        return 0x42
    if mt == 3:
        return 0x5A
    return -1


@jit
def _flags_tag(mt: Any) -> Any:
    return 0x50 if mt == 2 or mt == 3 else 0x40


@jit
def _zigzag32(x: np.uint64) -> Any:
    u = np.int64(x & np.uint64(0xFFFFFFFF))
    return (u >> 1) ^ -(u & 1)


@jit
def count_metrics(data: Arr) -> Arr:
    """Rows of every table (upper bounds on valid input, only bounds-checked)."""
    c = np.zeros(11, dtype=np.int64)
    end0 = data.shape[0]
    p0 = 0
    while p0 < end0:
        tag, p0 = read_tag(data, p0, end0)
        if p0 < 0:
            break
        if tag != 0x0A:
            p0 = skip_field(data, p0, end0, tag)
            if p0 < 0:
                break
            continue
        rl_s, rl_e = read_len(data, p0, end0)
        if rl_e < 0:
            break
        p0 = rl_e
        c[N_RES] += 1
        p1 = rl_s
        while p1 < rl_e:
            tag, p1 = read_tag(data, p1, rl_e)
            if p1 < 0:
                break
            if tag == 0x0A or tag == 0x12:
                sl_s, sl_e = read_len(data, p1, rl_e)
                if sl_e < 0:
                    break
                p1 = sl_e
                if tag == 0x0A:
                    c[N_RESMSG] += 1
                    c[N_RATTR] += _count_tag(data, sl_s, sl_e, 0x0A)
                    continue
                c[N_SCOPE] += 1
                p2 = sl_s
                while p2 < sl_e:
                    tag, p2 = read_tag(data, p2, sl_e)
                    if p2 < 0:
                        break
                    if tag == 0x0A or tag == 0x12:
                        s, e = read_len(data, p2, sl_e)
                        if e < 0:
                            break
                        p2 = e
                        if tag == 0x0A:
                            c[N_SATTR] += _count_tag(data, s, e, 0x1A)
                            continue
                        c[N_METRIC] += 1
                        p3 = s
                        while p3 < e:
                            tag, p3 = read_tag(data, p3, e)
                            if p3 < 0:
                                break
                            mt = _data_code(tag)
                            if tag == 0x62 or mt >= 0:
                                a, b = read_len(data, p3, e)
                                if b < 0:
                                    break
                                p3 = b
                                if tag == 0x62:
                                    c[N_MATTR] += 1
                                    continue
                                p4 = a
                                while p4 < b:
                                    tag, p4 = read_tag(data, p4, b)
                                    if p4 < 0:
                                        break
                                    if tag == 0x0A:
                                        ps, pe = read_len(data, p4, b)
                                        if pe < 0:
                                            break
                                        p4 = pe
                                        c[N_POINT] += 1
                                        c[N_PATTR] += _count_tag(data, ps, pe, _attr_tag(mt))
                                        xt = _ex_tag(mt)
                                        if xt < 0:
                                            continue
                                        p5 = ps
                                        while p5 < pe:
                                            tag, p5 = read_tag(data, p5, pe)
                                            if p5 < 0:
                                                break
                                            if tag == xt:
                                                xs, xe = read_len(data, p5, pe)
                                                if xe < 0:
                                                    break
                                                p5 = xe
                                                c[N_EX] += 1
                                                c[N_EATTR] += _count_tag(data, xs, xe, 0x3A)
                                            else:
                                                p5 = skip_field(data, p5, pe, tag)
                                                if p5 < 0:
                                                    break
                                    else:
                                        p4 = skip_field(data, p4, b, tag)
                                        if p4 < 0:
                                            break
                            else:
                                p3 = skip_field(data, p3, e, tag)
                                if p3 < 0:
                                    break
                    else:
                        p2 = skip_field(data, p2, sl_e, tag)
                        if p2 < 0:
                            break
            else:
                p1 = skip_field(data, p1, rl_e, tag)
                if p1 < 0:
                    break
    return c


#: ``ln`` positions past the five list value counts
L_EX, L_REJ = 5, 6


@jit
def _f64(data: Arr, p: Any, end: Any) -> tuple[np.uint64, Any]:
    """A fixed64 at ``p`` and the position after it (-1 when it does not fit)."""
    if p + 8 > end:
        return np.uint64(0), np.int64(-1)
    return np.uint64(read_fixed64(data, p)), p + 8


@jit
def _append(data: Arr, p: Any, end: Any, tag: Any, field: Any, lval: Arr, ln: Arr, j: Any) -> Any:
    """Append one repeated number field occurrence (packed or not) to list ``j``; the position
    after it, -1 if malformed. ``tag`` of field ``field``: wire 2 is packed, 1 fixed64, 0 varint."""
    wt = tag & 7
    cap = lval.shape[1]
    if wt == 2:
        a, b = read_len(data, p, end)
        if b < 0:
            return np.int64(-1)
        if field == 0:  # packed varints
            q = a
            while q < b:
                x, q = read_varint(data, q, b)
                if q < 0 or ln[j] >= cap:
                    return np.int64(-1)
                lval[j, ln[j]] = x
                ln[j] += 1
            return b
        if (b - a) % 8 != 0:
            return np.int64(-1)
        for q in range(a, b, 8):
            if ln[j] >= cap:
                return np.int64(-1)
            lval[j, ln[j]] = read_fixed64(data, q)
            ln[j] += 1
        return b
    if ln[j] >= cap:
        return np.int64(-1)
    if wt == 0:
        x, q = read_varint(data, p, end)
        if q < 0:
            return np.int64(-1)
        lval[j, ln[j]] = x
        ln[j] += 1
        return q
    x, q = _f64(data, p, end)
    if q >= 0:
        lval[j, ln[j]] = x
        ln[j] += 1
    return q


@jit
def _buckets(
    data: Arr,
    a: Any,
    b: Any,
    k: Any,
    side: Any,
    pi32: Arr,
    lval: Arr,
    ln: Arr,
    kind: Arr,
    wire: Arr,
    child: Arr,
    t: Any,
) -> bool:
    """One occurrence of an exponential histogram's ``positive`` (side 0) / ``negative`` Buckets."""
    q = a
    while q < b:
        tag, q = read_tag(data, q, b)
        if q < 0:
            return False
        if tag == 0x08:
            x, q = read_varint(data, q, b)
            if q < 0:
                return False
            pi32[2 + side, k] = _zigzag32(x)
        elif tag == 0x10 or tag == 0x12:
            q = _append(data, q, b, tag, 0, lval, ln, 2 + side)
        else:
            q = check_field(data, q, b, tag, t, 6, kind, wire, child)
        if q < 0:
            return False
    return True


@jit
def _point(
    data: Arr, s: Any, e: Any, mt: Any, k: Any, m: Any, ri: Any, si: Any, mi: Any, pi: Any,
    pu: Arr, pi32: Arr, p_flags: Arr, p_vk: Arr, pok: Arr, loff: Arr, lval: Arr, ln: Arr,
    pa_cols: Arr, pa_fb: Arr, pa_cnt: Arr, pa_slots: Arr, pa_uniq: Arr, pa_meta: Arr, pa_cache: Arr,
    x_point: Arr, x_time: Arr, x_vk: Arr, x_bits: Arr, x_span: Arr, x_span_ok: Arr, x_trace: Arr,
    x_trace_ok: Arr, xa_cols: Arr, xa_fb: Arr, xa_cnt: Arr, xa_slots: Arr, xa_uniq: Arr, xa_meta: Arr,
    xa_cache: Arr, rej: Arr, v: Arr, kind: Arr, wire: Arr, child: Arr, ptids: Arr, t_any: Any,
) -> bool:  # fmt: skip
    """Row ``k`` of the points table (and its attributes and exemplars) from data point ``data[s:e]``
    of a metric whose data field is ``mt``; False where upb would fail (or a table is full)."""
    for j in range(5):
        loff[j, k] = ln[j]
    for j in range(9):
        pu[j, k] = 0
    for j in range(12):
        pok[j, k] = False
    pi32[0, k] = m
    pi32[1, k] = 0
    pi32[2, k] = 0
    pi32[3, k] = 0
    p_flags[k] = 0
    p_vk[k] = 0
    t_point = ptids[mt, P_POINT]
    attr_tag = _attr_tag(mt)
    ex_tag = _ex_tag(mt)
    flags_tag = _flags_tag(mt)
    vk = 0
    pa_j = 0
    ei = -1
    ok = True
    q = s
    while q < e:
        tag, q = read_tag(data, q, e)
        if q < 0:
            return False
        if tag == 0x11 or tag == 0x19:
            x, q = _f64(data, q, e)
            pu[0 if tag == 0x11 else 1, k] = x
        elif tag == attr_tag:
            a, b = read_len(data, q, e)
            if b < 0 or not add_kv(
                data, a, b, k, pa_j, pa_cols, pa_fb, pa_cnt, pa_slots, pa_uniq, pa_meta, pa_cache,
                v, 6, kind, wire, child, ptids[mt, P_PKV], t_any,
            ):  # fmt: skip
                return False
            pa_j += 1
            q = b
        elif tag == flags_tag:
            x, q = read_varint(data, q, e)
            p_flags[k] = np.uint32(x & np.uint64(0xFFFFFFFF))
        elif tag == ex_tag:
            a, b = read_len(data, q, e)
            if b < 0:
                return False
            q = b
            ei += 1
            xi = ln[L_EX]
            if xi >= x_point.shape[0]:
                return False
            m_xa = xa_cnt[0]
            m_xaf = xa_cnt[1]
            x_time[xi] = 0
            xvk = 0
            xbits = np.uint64(0)
            tr_s = 0
            tr_n = 0
            sp_s = 0
            sp_n = 0
            xa_j = 0
            r = a
            while r < b:
                tag, r = read_tag(data, r, b)
                if r < 0:
                    return False
                if tag == 0x11 or tag == 0x19 or tag == 0x31:
                    x, r = _f64(data, r, b)
                    if tag == 0x11:
                        x_time[xi] = x
                    else:
                        xvk = 4 if tag == 0x19 else 6
                        xbits = x
                elif tag == 0x22:
                    sp_s, r = read_len(data, r, b)
                    sp_n = r - sp_s
                elif tag == 0x2A:
                    tr_s, r = read_len(data, r, b)
                    tr_n = r - tr_s
                elif tag == 0x3A:
                    a2, b2 = read_len(data, r, b)
                    if b2 < 0 or not add_kv(
                        data, a2, b2, xi, xa_j, xa_cols, xa_fb, xa_cnt, xa_slots, xa_uniq, xa_meta, xa_cache,
                        v, 7, kind, wire, child, ptids[mt, P_EKV], t_any,
                    ):  # fmt: skip
                        return False
                    xa_j += 1
                    r = b2
                else:
                    r = check_field(data, r, b, tag, ptids[mt, P_EX], 6, kind, wire, child)
                if r < 0:
                    return False
            reason = 0
            bad_n = 0
            if tr_n != 0 and tr_n != 16:
                reason = R_TRACE
                bad_n = tr_n
            elif sp_n != 0 and sp_n != 8:
                reason = R_SPAN
                bad_n = sp_n
            if reason != 0:
                nr = ln[L_REJ]
                rej[nr, 0] = reason
                rej[nr, 1] = ri
                rej[nr, 2] = si
                rej[nr, 3] = mi
                rej[nr, 4] = mt
                rej[nr, 5] = pi
                rej[nr, 6] = ei
                rej[nr, 7] = bad_n
                ln[L_REJ] = nr + 1
                xa_cnt[0] = m_xa
                xa_cnt[1] = m_xaf
                continue
            x_point[xi] = k
            x_vk[xi] = xvk
            x_bits[xi] = xbits
            x_trace_ok[xi] = tr_n == 16
            for z in range(16):
                x_trace[xi * 16 + z] = data[tr_s + z] if tr_n == 16 else 0
            x_span_ok[xi] = sp_n == 8
            for z in range(8):
                x_span[xi * 8 + z] = data[sp_s + z] if sp_n == 8 else 0
            ln[L_EX] = xi + 1
        elif mt <= 1:
            if tag == 0x21 or tag == 0x31:
                x, q = _f64(data, q, e)
                pu[2, k] = x
                vk = 4 if tag == 0x21 else 6
            else:
                q = check_field(data, q, e, tag, t_point, 5, kind, wire, child)
        elif tag == 0x21:
            x, q = _f64(data, q, e)
            pu[3, k] = x
        elif tag == 0x29:
            x, q = _f64(data, q, e)
            pu[4, k] = x
            pok[4, k] = True
        elif mt == 4:
            if tag == 0x32:
                a, b = read_len(data, q, e)
                if b < 0:
                    return False
                q = b
                n = ln[4]
                if n >= lval.shape[1]:
                    return False
                lval[4, n] = 0
                lval[5, n] = 0
                r = a
                while r < b:
                    tag, r = read_tag(data, r, b)
                    if r < 0:
                        return False
                    if tag == 0x09 or tag == 0x11:
                        x, r = _f64(data, r, b)
                        lval[4 if tag == 0x09 else 5, n] = x
                    else:
                        r = check_field(data, r, b, tag, ptids[mt, P_SUB1], 6, kind, wire, child)
                    if r < 0:
                        return False
                ln[4] = n + 1
            else:
                q = check_field(data, q, e, tag, t_point, 5, kind, wire, child)
        elif mt == 2:
            if tag == 0x59 or tag == 0x61:
                x, q = _f64(data, q, e)
                j = 5 if tag == 0x59 else 6
                pu[j, k] = x
                pok[j, k] = True
            elif tag == 0x31 or tag == 0x32:
                q = _append(data, q, e, tag, 1, lval, ln, 0)
            elif tag == 0x39 or tag == 0x3A:
                q = _append(data, q, e, tag, 1, lval, ln, 1)
            else:
                q = check_field(data, q, e, tag, t_point, 5, kind, wire, child)
        elif tag == 0x61 or tag == 0x69:
            x, q = _f64(data, q, e)
            j = 5 if tag == 0x61 else 6
            pu[j, k] = x
            pok[j, k] = True
        elif tag == 0x30:
            x, q = read_varint(data, q, e)
            pi32[1, k] = _zigzag32(x)
        elif tag == 0x39 or tag == 0x71:
            x, q = _f64(data, q, e)
            pu[7 if tag == 0x39 else 8, k] = x
        elif tag == 0x42 or tag == 0x4A:
            a, b = read_len(data, q, e)
            side = 0 if tag == 0x42 else 1
            if b < 0 or not _buckets(data, a, b, k, side, pi32, lval, ln, kind, wire, child, ptids[mt, P_SUB1 + side]):
                return False
            pok[9 + side, k] = True
            q = b
        else:
            q = check_field(data, q, e, tag, t_point, 5, kind, wire, child)
        if q < 0:
            return False
    if mt <= 1:
        p_vk[k] = vk
        pok[0, k] = True
        pok[1, k] = vk == 4
        pok[2, k] = vk == 6
    else:
        pok[3, k] = True
        if mt == 4:
            pok[4, k] = True
            pok[11, k] = True
        elif mt == 2:
            pok[7, k] = True
        else:
            pok[8, k] = True
    for j in range(5):
        loff[j, k + 1] = ln[j]
    return ok


@jit
def decode_metrics_kernel(data: Arr, kind: Arr, wire: Arr, child: Arr, tids: Arr, ptids: Arr) -> tuple[Any, ...]:
    """Every table of a MetricBatch, checked; the first item is True when ``data`` is valid."""
    counts = count_metrics(data)
    n_res_max = counts[N_RES]
    n_scope_max = counts[N_SCOPE]
    n_m_max = counts[N_METRIC]
    n_p_max = counts[N_POINT]
    n_x_max = counts[N_EX]
    n_val = data.shape[0]
    v = np.zeros(6, dtype=np.int64)
    res_url_s = np.empty(n_res_max, dtype=np.int64)
    res_url_n = np.empty(n_res_max, dtype=np.int64)
    res_dropped = np.empty(n_res_max, dtype=np.uint32)
    res_occ = np.empty((counts[N_RESMSG], 3), dtype=np.int64)
    n_occ = 0
    ra_cols, ra_fb, ra_cnt, ra_slots, ra_uniq, ra_meta, ra_cache = new_attrs(counts[N_RATTR])
    sc_res = np.empty(n_scope_max, dtype=np.int32)
    sc_name_s = np.empty(n_scope_max, dtype=np.int64)
    sc_name_n = np.empty(n_scope_max, dtype=np.int64)
    sc_ver_s = np.empty(n_scope_max, dtype=np.int64)
    sc_ver_n = np.empty(n_scope_max, dtype=np.int64)
    sc_dropped = np.empty(n_scope_max, dtype=np.uint32)
    sc_url_s = np.empty(n_scope_max, dtype=np.int64)
    sc_url_n = np.empty(n_scope_max, dtype=np.int64)
    ca_cols, ca_fb, ca_cnt, ca_slots, ca_uniq, ca_meta, ca_cache = new_attrs(counts[N_SATTR])
    # metrics
    m_scope = np.empty(n_m_max, dtype=np.int32)
    m_name = np.empty(n_m_max, dtype=np.int32)
    m_desc_s = np.empty(n_m_max, dtype=np.int64)
    m_desc_n = np.empty(n_m_max, dtype=np.int64)
    m_unit_s = np.empty(n_m_max, dtype=np.int64)
    m_unit_n = np.empty(n_m_max, dtype=np.int64)
    m_type = np.empty(n_m_max, dtype=np.int8)
    m_temp = np.zeros(n_m_max, dtype=np.int8)
    m_temp_ok = np.zeros(n_m_max, dtype=np.bool_)
    m_mono = np.zeros(n_m_max, dtype=np.bool_)
    m_mono_ok = np.zeros(n_m_max, dtype=np.bool_)
    nm_slots, nm_uniq, nm_meta = new_dicts(1, n_m_max)
    ma_cols, ma_fb, ma_cnt, ma_slots, ma_uniq, ma_meta, ma_cache = new_attrs(counts[N_MATTR])
    # points: u64 columns (doubles as their bits) in ``pu``, validity in ``pok``
    # pu: 0 start, 1 time, 2 value bits, 3 count, 4 sum, 5 min, 6 max, 7 zero_count, 8 zero_threshold
    pu = np.zeros((9, n_p_max), dtype=np.uint64)
    # pi32: 0 metric, 1 scale, 2 positive offset, 3 negative offset
    pi32 = np.zeros((4, n_p_max), dtype=np.int32)
    p_flags = np.zeros(n_p_max, dtype=np.uint32)
    p_vk = np.zeros(n_p_max, dtype=np.int8)
    # pok: 0 number (value_kind), 1 double, 2 int, 3 count, 4 sum, 5 min, 6 max, 7 histogram lists,
    # 8 exp (scale, zero_*), 9 positive, 10 negative, 11 summary quantiles
    pok = np.zeros((12, n_p_max), dtype=np.bool_)
    # list offsets: 0 bucket_counts, 1 explicit_bounds, 2 positive, 3 negative, 4 quantiles
    loff = np.zeros((5, n_p_max + 1), dtype=np.int32)
    lval = np.empty((6, n_val), dtype=np.uint64)  # bucket, bound, pos, neg, quantile, q value
    ln = np.zeros(7, dtype=np.int64)  # list values per list, then exemplars and refusals
    pa_cols, pa_fb, pa_cnt, pa_slots, pa_uniq, pa_meta, pa_cache = new_attrs(counts[N_PATTR])
    # exemplars
    x_point = np.empty(n_x_max, dtype=np.int32)
    x_time = np.empty(n_x_max, dtype=np.uint64)
    x_vk = np.empty(n_x_max, dtype=np.int8)
    x_bits = np.empty(n_x_max, dtype=np.uint64)
    x_span = np.zeros(n_x_max * 8, dtype=np.uint8)
    x_span_ok = np.zeros(n_x_max, dtype=np.bool_)
    x_trace = np.zeros(n_x_max * 16, dtype=np.uint8)
    x_trace_ok = np.zeros(n_x_max, dtype=np.bool_)
    xa_cols, xa_fb, xa_cnt, xa_slots, xa_uniq, xa_meta, xa_cache = new_attrs(counts[N_EATTR])
    rej = np.empty((n_x_max, 8), dtype=np.int64)  # reason, resource, scope, metric, field, point, exemplar, length
    err = np.zeros(6, dtype=np.int64)  # (1 when set, resource, scope, metric, field, value)
    t_req = tids[T_REQ]
    t_rm = tids[T_RM]
    t_res = tids[T_RES]
    t_any = tids[T_ANY]
    t_sm = tids[T_SM]
    t_scope = tids[T_SCOPE]
    t_metric = tids[T_METRIC]

    bad = False
    n_res = 0
    n_scope = 0
    n_m = 0
    n_p = 0
    end0 = data.shape[0]
    p0 = 0
    ri = -1
    while p0 < end0 and not bad:
        tag, p0 = read_tag(data, p0, end0)
        if p0 < 0:
            bad = True
            break
        if tag != 0x0A:
            p0 = check_field(data, p0, end0, tag, t_req, 0, kind, wire, child)
            bad = p0 < 0
            continue
        rl_s, rl_e = read_len(data, p0, end0)
        if rl_e < 0 or n_res >= n_res_max:
            bad = True
            break
        p0 = rl_e
        ri += 1
        r = n_res
        n_res += 1
        res_url_s[r] = 0
        res_url_n[r] = 0
        res_dropped[r] = 0
        ra_j = 0
        si = -1
        p1 = rl_s
        while p1 < rl_e and not bad:
            tag, p1 = read_tag(data, p1, rl_e)
            if p1 < 0:
                bad = True
                break
            if tag == 0x0A:  # resource
                s, e = read_len(data, p1, rl_e)
                if e < 0:
                    bad = True
                    break
                p1 = e
                p2 = s
                while p2 < e:
                    tag, p2 = read_tag(data, p2, e)
                    if p2 < 0:
                        bad = True
                        break
                    if tag == 0x0A:
                        a, b = read_len(data, p2, e)
                        if b < 0 or not add_kv(
                            data, a, b, r, ra_j, ra_cols, ra_fb, ra_cnt, ra_slots, ra_uniq, ra_meta, ra_cache,
                            v, 3, kind, wire, child, tids[T_RKV], t_any,
                        ):  # fmt: skip
                            bad = True
                            break
                        ra_j += 1
                        p2 = b
                    elif tag == 0x10:
                        x, p2 = read_varint(data, p2, e)
                        if p2 < 0:
                            bad = True
                            break
                        res_dropped[r] = np.uint32(x & np.uint64(0xFFFFFFFF))
                    elif tag == 0x1A:
                        q = check_field(data, p2, e, tag, t_res, 2, kind, wire, child)
                        if q < 0:
                            bad = True
                            break
                        p2 = q
                        if n_occ == 0 or res_occ[n_occ - 1, 0] != r or res_occ[n_occ - 1, 1] != s:
                            if n_occ >= res_occ.shape[0]:  # one row per Resource message, not per ref
                                bad = True
                                break
                            res_occ[n_occ, 0] = r
                            res_occ[n_occ, 1] = s
                            res_occ[n_occ, 2] = e
                            n_occ += 1
                    else:
                        p2 = check_field(data, p2, e, tag, t_res, 2, kind, wire, child)
                        if p2 < 0:
                            bad = True
                            break
            elif tag == 0x1A:  # schema_url
                s, e = read_len(data, p1, rl_e)
                if e < 0 or not valid_utf8(data, s, e):
                    bad = True
                    break
                res_url_s[r] = s
                res_url_n[r] = e - s
                p1 = e
            elif tag == 0x12:  # scope_metrics
                sl_s, sl_e = read_len(data, p1, rl_e)
                if sl_e < 0 or n_scope >= n_scope_max:
                    bad = True
                    break
                p1 = sl_e
                si += 1
                c = n_scope
                n_scope += 1
                sc_res[c] = r
                sc_name_s[c] = 0
                sc_name_n[c] = 0
                sc_ver_s[c] = 0
                sc_ver_n[c] = 0
                sc_dropped[c] = 0
                sc_url_s[c] = 0
                sc_url_n[c] = 0
                ca_j = 0
                mi = -1
                p2 = sl_s
                while p2 < sl_e and not bad:
                    tag, p2 = read_tag(data, p2, sl_e)
                    if p2 < 0:
                        bad = True
                        break
                    if tag == 0x0A:  # scope
                        s, e = read_len(data, p2, sl_e)
                        if e < 0:
                            bad = True
                            break
                        p2 = e
                        p3 = s
                        while p3 < e:
                            tag, p3 = read_tag(data, p3, e)
                            if p3 < 0:
                                bad = True
                                break
                            if tag == 0x0A or tag == 0x12:
                                a, b = read_len(data, p3, e)
                                if b < 0 or not valid_utf8(data, a, b):
                                    bad = True
                                    break
                                if tag == 0x0A:
                                    sc_name_s[c] = a
                                    sc_name_n[c] = b - a
                                else:
                                    sc_ver_s[c] = a
                                    sc_ver_n[c] = b - a
                                p3 = b
                            elif tag == 0x1A:
                                a, b = read_len(data, p3, e)
                                if b < 0 or not add_kv(
                                    data, a, b, c, ca_j, ca_cols, ca_fb, ca_cnt, ca_slots, ca_uniq, ca_meta,
                                    ca_cache, v, 4, kind, wire, child, tids[T_SKV], t_any,
                                ):  # fmt: skip
                                    bad = True
                                    break
                                ca_j += 1
                                p3 = b
                            elif tag == 0x20:
                                x, p3 = read_varint(data, p3, e)
                                if p3 < 0:
                                    bad = True
                                    break
                                sc_dropped[c] = np.uint32(x & np.uint64(0xFFFFFFFF))
                            else:
                                p3 = check_field(data, p3, e, tag, t_scope, 3, kind, wire, child)
                                if p3 < 0:
                                    bad = True
                                    break
                    elif tag == 0x1A:
                        s, e = read_len(data, p2, sl_e)
                        if e < 0 or not valid_utf8(data, s, e):
                            bad = True
                            break
                        sc_url_s[c] = s
                        sc_url_n[c] = e - s
                        p2 = e
                    elif tag == 0x12:  # metric
                        s, e = read_len(data, p2, sl_e)
                        if e < 0 or n_m >= n_m_max:
                            bad = True
                            break
                        p2 = e
                        mi += 1
                        k = n_m
                        n_m += 1
                        # the data oneof: the last member written, merged from its last switch
                        which = -1
                        from_pos = s
                        q = s
                        while q < e:
                            tpos = q
                            tag, q = read_tag(data, q, e)
                            if q < 0:
                                break
                            mt = _data_code(tag)
                            if mt >= 0 and mt != which:
                                which = mt
                                from_pos = tpos
                            q = skip_field(data, q, e, tag)
                            if q < 0:
                                break
                        if q < 0:
                            bad = True
                            break
                        m_scope[k] = c
                        nm_s = 0
                        nm_n = 0
                        m_desc_s[k] = 0
                        m_desc_n[k] = 0
                        m_unit_s[k] = 0
                        m_unit_n[k] = 0
                        m_type[k] = 0
                        temporality = 0
                        mono = False
                        ma_j = 0
                        pi = -1
                        p3 = s
                        while p3 < e and not bad:
                            tpos = p3
                            tag, p3 = read_tag(data, p3, e)
                            if p3 < 0:
                                bad = True
                                break
                            mt = _data_code(tag)
                            if tag == 0x0A or tag == 0x12 or tag == 0x1A:
                                a, b = read_len(data, p3, e)
                                if b < 0 or not valid_utf8(data, a, b):
                                    bad = True
                                    break
                                if tag == 0x0A:
                                    nm_s = a
                                    nm_n = b - a
                                elif tag == 0x12:
                                    m_desc_s[k] = a
                                    m_desc_n[k] = b - a
                                else:
                                    m_unit_s[k] = a
                                    m_unit_n[k] = b - a
                                p3 = b
                            elif tag == 0x62:
                                a, b = read_len(data, p3, e)
                                if b < 0 or not add_kv(
                                    data, a, b, k, ma_j, ma_cols, ma_fb, ma_cnt, ma_slots, ma_uniq, ma_meta,
                                    ma_cache, v, 4, kind, wire, child, tids[T_MKV], t_any,
                                ):  # fmt: skip
                                    bad = True
                                    break
                                ma_j += 1
                                p3 = b
                            elif mt >= 0 and (mt != which or tpos < from_pos):
                                p3 = check_field(data, p3, e, tag, t_metric, 3, kind, wire, child)
                                if p3 < 0:
                                    bad = True
                                    break
                            elif mt >= 0:
                                a, b = read_len(data, p3, e)
                                if b < 0:
                                    bad = True
                                    break
                                p3 = b
                                t_data = ptids[mt, P_DATA]
                                p4 = a
                                while p4 < b and not bad:
                                    tag, p4 = read_tag(data, p4, b)
                                    if p4 < 0:
                                        bad = True
                                        break
                                    if tag == 0x10 and (mt == 1 or mt == 2 or mt == 3):
                                        x, p4 = read_varint(data, p4, b)
                                        if p4 < 0:
                                            bad = True
                                            break
                                        temporality = as_int32(x)
                                    elif tag == 0x18 and mt == 1:
                                        x, p4 = read_varint(data, p4, b)
                                        if p4 < 0:
                                            bad = True
                                            break
                                        mono = x != 0
                                    elif tag == 0x0A:
                                        ps, pe = read_len(data, p4, b)
                                        if pe < 0 or n_p >= n_p_max:
                                            bad = True
                                            break
                                        p4 = pe
                                        pi += 1
                                        if not _point(
                                            data, ps, pe, mt, n_p, k, ri, si, mi, pi, pu, pi32, p_flags, p_vk, pok,
                                            loff, lval, ln, pa_cols, pa_fb, pa_cnt, pa_slots, pa_uniq, pa_meta,
                                            pa_cache, x_point, x_time, x_vk, x_bits, x_span, x_span_ok, x_trace,
                                            x_trace_ok, xa_cols, xa_fb, xa_cnt, xa_slots, xa_uniq, xa_meta,
                                            xa_cache, rej, v, kind, wire, child, ptids, t_any,
                                        ):  # fmt: skip
                                            bad = True
                                            break
                                        n_p += 1
                                    else:
                                        p4 = check_field(data, p4, b, tag, t_data, 4, kind, wire, child)
                                        if p4 < 0:
                                            bad = True
                                            break
                            else:
                                p3 = check_field(data, p3, e, tag, t_metric, 3, kind, wire, child)
                                if p3 < 0:
                                    bad = True
                                    break
                        if bad:
                            break
                        nmi = intern_str(data, nm_s, nm_n, nm_slots, nm_uniq, nm_meta, 0)
                        if nmi < 0:
                            bad = True
                            break
                        m_name[k] = nmi
                        field = 0
                        if which == 0:
                            field = 5
                        elif which == 1:
                            field = 7
                        elif which == 2:
                            field = 9
                        elif which == 3:
                            field = 10
                        elif which == 4:
                            field = 11
                        m_type[k] = field
                        if which == 1 or which == 2 or which == 3:
                            if temporality < -128 or temporality > 127:
                                if err[0] == 0:
                                    err[0] = 1
                                    err[1] = ri
                                    err[2] = si
                                    err[3] = mi
                                    err[4] = field
                                    err[5] = temporality
                                m_temp[k] = 0
                            else:
                                m_temp[k] = temporality
                            m_temp_ok[k] = True
                        if which == 1:
                            m_mono[k] = mono
                            m_mono_ok[k] = True
                    else:
                        p2 = check_field(data, p2, sl_e, tag, t_sm, 2, kind, wire, child)
                        if p2 < 0:
                            bad = True
                            break
            else:
                p1 = check_field(data, p1, rl_e, tag, t_rm, 1, kind, wire, child)
                if p1 < 0:
                    bad = True
                    break
    n_x = ln[L_EX]
    n_rej = ln[L_REJ]
    if bad:  # nothing below is used: empty tables keep the finishing code cheap and safe
        n_res = n_occ = n_scope = n_m = n_p = n_x = n_rej = 0
        for cnt in (ra_cnt, ca_cnt, ma_cnt, pa_cnt, xa_cnt):
            cnt[0] = 0
            cnt[1] = 0
        nm_meta[:, 0] = 0
        for meta in (ra_meta, ca_meta, ma_meta, pa_meta, xa_meta):
            meta[:, 0] = 0
    return (
        not bad,
        err,
        (n_res, gather(data, res_url_s, res_url_n, n_res), res_dropped[:n_res], res_occ[:n_occ]),
        finish_attrs(data, ra_cols, ra_fb, ra_cnt, ra_slots, ra_uniq, ra_meta, ra_cache),
        (
            n_scope,
            sc_res[:n_scope],
            gather(data, sc_name_s, sc_name_n, n_scope),
            gather(data, sc_ver_s, sc_ver_n, n_scope),
            sc_dropped[:n_scope],
            gather(data, sc_url_s, sc_url_n, n_scope),
        ),
        finish_attrs(data, ca_cols, ca_fb, ca_cnt, ca_slots, ca_uniq, ca_meta, ca_cache),
        (
            n_m,
            m_scope[:n_m],
            m_name[:n_m],
            gather(data, nm_uniq[0, : nm_meta[0, 0], 0], nm_uniq[0, : nm_meta[0, 0], 1], nm_meta[0, 0]),
            gather(data, m_desc_s, m_desc_n, n_m),
            gather(data, m_unit_s, m_unit_n, n_m),
            m_type[:n_m],
            m_temp[:n_m],
            m_temp_ok[:n_m],
            m_mono[:n_m],
            m_mono_ok[:n_m],
        ),
        finish_attrs(data, ma_cols, ma_fb, ma_cnt, ma_slots, ma_uniq, ma_meta, ma_cache),
        (n_p, pu[:, :n_p], pi32[:, :n_p], p_flags[:n_p], p_vk[:n_p], pok[:, :n_p], loff[:, : n_p + 1], lval, ln),
        finish_attrs(data, pa_cols, pa_fb, pa_cnt, pa_slots, pa_uniq, pa_meta, pa_cache),
        (
            n_x,
            x_point[:n_x],
            x_time[:n_x],
            x_vk[:n_x],
            x_bits[:n_x],
            x_span[: n_x * 8],
            x_span_ok[:n_x],
            x_trace[: n_x * 16],
            x_trace_ok[:n_x],
        ),
        finish_attrs(data, xa_cols, xa_fb, xa_cnt, xa_slots, xa_uniq, xa_meta, xa_cache),
        rej[:n_rej],
    )
