"""The logs kernel: ``ExportLogsServiceRequest`` bytes -> column buffers, in one checked pass.

Built like the traces kernel (see ``_traces``): a bounds-checked count sizes the tables, then
one walk fills them and checks everything upb checks, reporting only whether the input is
valid. A record's ``body`` is an AnyValue stored in the same columns as an attribute's value,
so it goes through the attribute machinery: a body table with one row per kept record
(type -1, null, when the record has no body).
"""

# ruff: noqa: PLR1714
# (numba kernels: flat loops with early exits; `x in (a, b)` on ints is avoided because numba
# builds a tuple for it)

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from knhk_telemetry.otlp.fast._common import (
    C_BLN,
    C_BOOL,
    C_BST,
    C_DBL,
    C_INT,
    C_KEY,
    C_ROW,
    C_STR,
    C_TYPE,
    CACHED,
    D_DBL,
    D_INT,
    D_STR,
    K_KIDX,
    K_KN,
    K_KS,
    K_VIDX,
    K_VN,
    K_VS,
    V_BITS,
    V_BOOL,
    V_N,
    V_NESTED,
    V_S,
    V_TYPE,
    add_kv,
    as_int32,
    bitmap,
    cached_num,
    cached_str,
    canonical_nested,
    finish_attrs,
    gather,
    intern_num,
    intern_str,
    new_attrs,
    new_dicts,
    parse_any_call,
    read_fixed32,
    read_fixed64,
    read_len,
    same_bytes,
)
from knhk_telemetry.otlp.fast._jit import jit
from knhk_telemetry.otlp.fast._traces import _count_tag
from knhk_telemetry.otlp.fast._wire import check_field, read_tag, read_varint, skip_field, u8, valid_utf8

Arr = NDArray[Any]

#: refusal reasons, as numbers
R_TRACE, R_SPAN = 1, 2
#: the positions of ``tids`` (type ids of the messages the kernel walks, see ``_schema``)
T_REQ, T_RL, T_RES, T_RKV, T_ANY, T_SL, T_SCOPE, T_SKV, T_LOG, T_LKV = range(10)
#: ``count_logs`` output positions
N_RES, N_RATTR, N_SCOPE, N_SATTR, N_LOG, N_LATTR, N_RESMSG = range(7)


@jit
def count_logs(data: Arr) -> Arr:
    """Rows of every table (exact on valid input, only bounds-checked: see ``count_traces``)."""
    c = np.zeros(7, dtype=np.int64)
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
            if tag == 0x0A:
                s, e = read_len(data, p1, rl_e)
                if e < 0:
                    break
                p1 = e
                c[N_RESMSG] += 1
                c[N_RATTR] += _count_tag(data, s, e, 0x0A)
            elif tag == 0x12:
                sl_s, sl_e = read_len(data, p1, rl_e)
                if sl_e < 0:
                    break
                p1 = sl_e
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
                        else:
                            c[N_LOG] += 1
                            c[N_LATTR] += _count_tag(data, s, e, 0x32)
                    else:
                        p2 = skip_field(data, p2, sl_e, tag)
                        if p2 < 0:
                            break
            else:
                p1 = skip_field(data, p1, rl_e, tag)
                if p1 < 0:
                    break
    return c


@jit
def decode_logs_kernel(data: Arr, kind: Arr, wire: Arr, child: Arr, tids: Arr) -> tuple[Any, ...]:
    """Every table of a LogBatch, checked; the first item is True when ``data`` is valid."""
    counts = count_logs(data)
    n_res_max = counts[N_RES]
    n_scope_max = counts[N_SCOPE]
    n_log_max = counts[N_LOG]
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
    lg_scope = np.empty(n_log_max, dtype=np.int32)
    lg_time = np.empty(n_log_max, dtype=np.uint64)
    lg_obs = np.empty(n_log_max, dtype=np.uint64)
    lg_sev = np.empty(n_log_max, dtype=np.int8)
    lg_sevtext = np.empty(n_log_max, dtype=np.int32)
    lg_dropped = np.empty(n_log_max, dtype=np.uint32)
    lg_flags = np.empty(n_log_max, dtype=np.uint32)
    lg_trace = np.zeros(n_log_max * 16, dtype=np.uint8)
    lg_trace_ok = np.empty(n_log_max, dtype=np.uint8)
    lg_span = np.zeros(n_log_max * 8, dtype=np.uint8)
    lg_span_ok = np.empty(n_log_max, dtype=np.uint8)
    lg_event = np.empty(n_log_max, dtype=np.int32)
    # severity_text (0) and event_name (1)
    st_slots, st_uniq, st_meta = new_dicts(2, n_log_max)
    bd_cols, bd_fb, bd_cnt, bd_slots, bd_uniq, bd_meta, bd_cache = new_attrs(n_log_max)
    la_cols, la_fb, la_cnt, la_slots, la_uniq, la_meta, la_cache = new_attrs(counts[N_LATTR])
    rej = np.empty((n_log_max, 5), dtype=np.int64)  # reason, resource, scope, record, id length
    n_rej = 0
    err = np.zeros(4, dtype=np.int64)  # (1 when set, resource, scope, record), value
    err_v = 0
    t_req = tids[T_REQ]
    t_rl = tids[T_RL]
    t_res = tids[T_RES]
    t_any = tids[T_ANY]
    t_sl = tids[T_SL]
    t_scope = tids[T_SCOPE]
    t_log = tids[T_LOG]

    bad = False
    n_res = 0
    n_scope = 0
    n_log = 0
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
            elif tag == 0x12:  # scope_logs
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
                i = -1
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
                    elif tag == 0x12:  # log record
                        s, e = read_len(data, p2, sl_e)
                        if e < 0 or n_log >= n_log_max:
                            bad = True
                            break
                        p2 = e
                        i += 1
                        k = n_log
                        m_la = la_cnt[0]
                        m_laf = la_cnt[1]
                        time_t = np.uint64(0)
                        obs_t = np.uint64(0)
                        sev = 0
                        stx_s = 0
                        stx_n = 0
                        ev_s = 0
                        ev_n = 0
                        dropped = np.uint32(0)
                        flags = np.uint32(0)
                        tr_s = 0
                        tr_n = 0
                        id_s = 0
                        id_n = 0
                        has_body = False
                        la_j = 0
                        v[V_TYPE] = -1
                        v[V_NESTED] = 0
                        p3 = s
                        while p3 < e:
                            tag, p3 = read_tag(data, p3, e)
                            if p3 < 0:
                                break
                            if tag == 0x32:  # attributes
                                a, b = read_len(data, p3, e)
                                if b < 0:
                                    p3 = -1
                                    break
                                # fast path: `key` then `value` holding one scalar or string, one-byte lengths,
                                # the key (and string) as at this position in the previous parent (known good)
                                done = False
                                i_r = la_cnt[0]
                                if (
                                    la_j < CACHED
                                    and i_r < la_cols.shape[1]
                                    and a + 2 <= b
                                    and u8(data, a) == 0x0A
                                    and u8(data, a + 1) < 128
                                ):
                                    ks = a + 2
                                    kl = np.int64(u8(data, a + 1))
                                    vq = ks + kl
                                    if (
                                        vq + 2 <= b
                                        and u8(data, vq) == 0x12
                                        and u8(data, vq + 1) < 128
                                        and vq + 2 + np.int64(u8(data, vq + 1)) == b
                                        and la_cache[la_j, K_KN] == kl
                                        and same_bytes(data, la_cache[la_j, K_KS], ks, kl)
                                    ):
                                        vs = vq + 2
                                        vt = -1
                                        xv = np.int64(0)
                                        if vs == b:
                                            vt = 0
                                        else:
                                            t0 = u8(data, vs)
                                            if (
                                                t0 == 0x0A
                                                and vs + 2 <= b
                                                and u8(data, vs + 1) < 128
                                                and vs + 2 + np.int64(u8(data, vs + 1)) == b
                                            ):
                                                ss = vs + 2
                                                sn = b - ss
                                                if la_cache[la_j, K_VN] == sn and same_bytes(
                                                    data, la_cache[la_j, K_VS], ss, sn
                                                ):
                                                    xv = la_cache[la_j, K_VIDX]
                                                else:
                                                    xv = intern_str(data, ss, sn, la_slots, la_uniq, la_meta, D_STR)
                                                    la_cache[la_j, K_VS] = ss
                                                    la_cache[la_j, K_VN] = sn
                                                    la_cache[la_j, K_VIDX] = xv
                                                vt = 1 if xv >= 0 else -1
                                            elif t0 == 0x18 or t0 == 0x10:
                                                xu, q = read_varint(data, vs + 1, b)
                                                if q == b:
                                                    vt = 3 if t0 == 0x18 else 2
                                                    xv = np.int64(xu)
                                            elif t0 == 0x21 and vs + 9 == b:
                                                vt = 4
                                                xv = np.int64(read_fixed64(data, vs + 1))
                                        if vt >= 0:
                                            la_cols[C_ROW, i_r] = k
                                            la_cols[C_KEY, i_r] = la_cache[la_j, K_KIDX]
                                            la_cols[C_TYPE, i_r] = vt
                                            if vt == 1:
                                                la_cols[C_STR, i_r] = xv
                                            elif vt == 3:
                                                la_cols[C_INT, i_r] = cached_num(
                                                    xv, la_slots, la_uniq, la_meta, D_INT, la_cache, la_j
                                                )
                                            elif vt == 2:
                                                la_cols[C_BOOL, i_r] = 1 if xv != 0 else 0
                                            elif vt == 4:
                                                la_cols[C_DBL, i_r] = cached_num(
                                                    xv, la_slots, la_uniq, la_meta, D_DBL, la_cache, la_j
                                                )
                                            la_cnt[0] = i_r + 1
                                            done = True
                                if not done and not add_kv(
                                    data, a, b, k, la_j, la_cols, la_fb, la_cnt, la_slots, la_uniq, la_meta, la_cache,
                                    v, 4, kind, wire, child, tids[T_LKV], t_any,
                                ):  # fmt: skip
                                    p3 = -1
                                    break
                                la_j += 1
                                p3 = b
                            elif tag == 0x09 or tag == 0x59:
                                if p3 + 8 > e:
                                    p3 = -1
                                    break
                                if tag == 0x09:
                                    time_t = read_fixed64(data, p3)
                                else:
                                    obs_t = read_fixed64(data, p3)
                                p3 += 8
                            elif tag == 0x10:
                                x, p3 = read_varint(data, p3, e)
                                sev = as_int32(x)
                            elif tag == 0x1A or tag == 0x62:
                                if tag == 0x1A and stx_n > 0 and not valid_utf8(data, stx_s, stx_s + stx_n):
                                    p3 = -1  # a replaced string is still checked
                                    break
                                if tag == 0x62 and ev_n > 0 and not valid_utf8(data, ev_s, ev_s + ev_n):
                                    p3 = -1
                                    break
                                a, b = read_len(data, p3, e)
                                if tag == 0x1A:
                                    stx_s = a
                                    stx_n = b - a
                                else:
                                    ev_s = a
                                    ev_n = b - a
                                p3 = b
                            elif tag == 0x2A:  # body: parsed below (add_kv reuses ``v``)
                                a, b = read_len(data, p3, e)
                                has_body = True
                                p3 = b
                            elif tag == 0x38:
                                x, p3 = read_varint(data, p3, e)
                                dropped = np.uint32(x & np.uint64(0xFFFFFFFF))
                            elif tag == 0x45:
                                if p3 + 4 > e:
                                    p3 = -1
                                    break
                                flags = read_fixed32(data, p3)
                                p3 += 4
                            elif tag == 0x4A:
                                tr_s, p3 = read_len(data, p3, e)
                                tr_n = p3 - tr_s
                            elif tag == 0x52:
                                id_s, p3 = read_len(data, p3, e)
                                id_n = p3 - id_s
                            else:
                                p3 = check_field(data, p3, e, tag, t_log, 3, kind, wire, child)
                            if p3 < 0:
                                break
                        if p3 < 0:
                            bad = True
                            break
                        # the body: every occurrence of field 5, merged in order
                        v[V_TYPE] = -1
                        v[V_NESTED] = 0
                        if has_body:
                            q3 = s
                            while q3 < e:
                                tag, q3 = read_tag(data, q3, e)
                                if tag == 0x2A:
                                    a, b = read_len(data, q3, e)
                                    if not parse_any_call(data, a, b, v, 4, kind, wire, child, t_any):
                                        bad = True
                                        break
                                    q3 = b
                                else:
                                    q3 = skip_field(data, q3, e, tag)
                            if bad:
                                break
                        reason = 0
                        bad_n = 0
                        if tr_n != 0 and tr_n != 16:
                            reason = R_TRACE
                            bad_n = tr_n
                        elif id_n != 0 and id_n != 8:
                            reason = R_SPAN
                            bad_n = id_n
                        if reason != 0:
                            strings_ok = valid_utf8(data, stx_s, stx_s + stx_n) and valid_utf8(data, ev_s, ev_s + ev_n)
                            if not strings_ok or (v[V_TYPE] == 1 and not valid_utf8(data, v[V_S], v[V_S] + v[V_N])):
                                bad = True
                                break
                            rej[n_rej, 0] = reason
                            rej[n_rej, 1] = ri
                            rej[n_rej, 2] = si
                            rej[n_rej, 3] = i
                            rej[n_rej, 4] = bad_n
                            n_rej += 1
                            la_cnt[0] = m_la
                            la_cnt[1] = m_laf
                            continue
                        stx = intern_str(data, stx_s, stx_n, st_slots, st_uniq, st_meta, 0)
                        evn = intern_str(data, ev_s, ev_n, st_slots, st_uniq, st_meta, 1)
                        if stx < 0 or evn < 0:
                            bad = True
                            break
                        # the body row (same columns as an attribute's value)
                        bi = bd_cnt[0]
                        t = v[V_TYPE]
                        if t == 8:
                            t = 0
                        bd_cols[C_ROW, bi] = k
                        bd_cols[C_KEY, bi] = 0
                        bd_cols[C_TYPE, bi] = t
                        if t == 1:
                            x = cached_str(data, v[V_S], v[V_N], bd_slots, bd_uniq, bd_meta, D_STR, bd_cache, 0, K_VS)
                            if x < 0:
                                bad = True
                                break
                            bd_cols[C_STR, bi] = x
                        elif t == 2:
                            bd_cols[C_BOOL, bi] = v[V_BOOL]
                        elif t == 3:
                            bd_cols[C_INT, bi] = intern_num(v[V_BITS], bd_slots, bd_uniq, bd_meta, D_INT)
                        elif t == 4:
                            bd_cols[C_DBL, bi] = intern_num(v[V_BITS], bd_slots, bd_uniq, bd_meta, D_DBL)
                        elif t >= 5:
                            bd_cols[C_BST, bi] = v[V_S]
                            bd_cols[C_BLN, bi] = v[V_N]
                            if t != 7 and not (
                                v[V_NESTED] == 1 and canonical_nested(data, v[V_S], v[V_S] + v[V_N], t - 5)
                            ):
                                f = bd_cnt[1]
                                bd_fb[0, f] = bi
                                bd_fb[1, f] = s  # the whole record: the reference's cell comes from it
                                bd_fb[2, f] = e
                                bd_cnt[1] = f + 1
                        bd_cnt[0] = bi + 1
                        if err[0] == 0 and (sev < -128 or sev > 127):
                            err[0] = 1
                            err[1] = ri
                            err[2] = si
                            err[3] = i
                            err_v = sev
                        n_log += 1
                        lg_scope[k] = c
                        lg_time[k] = time_t
                        lg_obs[k] = obs_t
                        lg_sev[k] = sev if -128 <= sev <= 127 else 0
                        lg_sevtext[k] = stx
                        lg_dropped[k] = dropped
                        lg_flags[k] = flags
                        lg_trace_ok[k] = tr_n == 16
                        if tr_n == 16:
                            for z in range(16):
                                lg_trace[k * 16 + z] = data[tr_s + z]
                        else:
                            for z in range(16):
                                lg_trace[k * 16 + z] = 0
                        lg_span_ok[k] = id_n == 8
                        if id_n == 8:
                            for z in range(8):
                                lg_span[k * 8 + z] = data[id_s + z]
                        else:
                            for z in range(8):
                                lg_span[k * 8 + z] = 0
                        lg_event[k] = evn
                    else:
                        p2 = check_field(data, p2, sl_e, tag, t_sl, 2, kind, wire, child)
                        if p2 < 0:
                            bad = True
                            break
            else:
                p1 = check_field(data, p1, rl_e, tag, t_rl, 1, kind, wire, child)
                if p1 < 0:
                    bad = True
                    break
    if bad:  # nothing below is used: empty tables keep the finishing code cheap and safe
        n_res = n_occ = n_scope = n_log = n_rej = 0
        for cnt in (ra_cnt, ca_cnt, bd_cnt, la_cnt):
            cnt[0] = 0
            cnt[1] = 0
        st_meta[:, 0] = 0
        for meta in (ra_meta, ca_meta, bd_meta, la_meta):
            meta[:, 0] = 0
    return (
        not bad,
        err,
        err_v,
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
            n_log,
            lg_scope[:n_log],
            lg_time[:n_log],
            lg_obs[:n_log],
            lg_sev[:n_log],
            lg_sevtext[:n_log],
            gather(data, st_uniq[0, : st_meta[0, 0], 0], st_uniq[0, : st_meta[0, 0], 1], st_meta[0, 0]),
            lg_dropped[:n_log],
            lg_flags[:n_log],
            lg_trace[: n_log * 16],
            bitmap(lg_trace_ok, n_log),
            lg_span[: n_log * 8],
            bitmap(lg_span_ok, n_log),
            lg_event[:n_log],
            gather(data, st_uniq[1, : st_meta[1, 0], 0], st_uniq[1, : st_meta[1, 0], 1], st_meta[1, 0]),
        ),
        finish_attrs(data, bd_cols, bd_fb, bd_cnt, bd_slots, bd_uniq, bd_meta, bd_cache),
        finish_attrs(data, la_cols, la_fb, la_cnt, la_slots, la_uniq, la_meta, la_cache),
        rej[:n_rej],
    )
