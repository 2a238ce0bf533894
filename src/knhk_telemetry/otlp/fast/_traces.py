"""The traces kernel: ``ExportTraceServiceRequest`` bytes -> column buffers, in one checked pass.

A quick count (:func:`count_traces`, no checks beyond bounds) sizes the tables; then the
fill walks the message once, in wire order, appending rows and checking everything upb
checks on the way (tags, varints, lengths, UTF-8, nested values and unknown groups through
``_wire.check_field``). It reports only *whether* the input is valid: on invalid input the
caller runs the exact validator (``_wire.validate``) for upb's error. String columns are
dictionary-encoded, and a string is checked as UTF-8 when it enters its dictionary, so the
hot path checks each distinct key or value once, not per cell.

A span's attributes, events and links are written before its ids are known, so a span
refused for a bad id is rolled back by resetting the row counters it advanced. Field
semantics are protobuf's: the last occurrence of a scalar wins, a submessage that occurs
twice is merged (``status``, ``resource``, ``scope``, a KeyValue's ``value``), repeated
fields append.
"""

# ruff: noqa: PLR1714
# (numba kernels: flat loops with early exits; `x in (a, b)` on ints is avoided because numba
# builds a tuple for it)

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from knhk_telemetry.otlp.fast._common import (
    C_BOOL,
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
    add_kv,
    as_int32,
    bitmap,
    cached_num,
    copy_bytes,
    dict_strings,
    finish_attrs,
    gather,
    intern_str,
    new_attrs,
    new_dicts,
    read_fixed32,
    read_fixed64,
    read_len,
    same_bytes,
)
from knhk_telemetry.otlp.fast._jit import Int, jit
from knhk_telemetry.otlp.fast._wire import (
    check_field,
    read_tag,
    read_varint,
    skip_field,
    skip_plain,
    u8,
    u64,
    valid_utf8,
)

Arr = NDArray[Any]

#: refusal reasons (see ``Rejections``) and id fields, as numbers
R_TRACE, R_SPAN, R_PARENT = 1, 2, 3
#: enum errors
E_KIND, E_STATUS = 1, 2
#: the positions of ``tids`` (type ids of the messages the kernel walks, see ``_schema``)
(T_REQ, T_RS, T_RES, T_RKV, T_ANY, T_SS, T_SCOPE, T_SKV, T_SPAN, T_SPKV, T_EV, T_EVKV, T_LINK, T_LKV, T_STATUS) = range(
    15
)
#: ``count_traces`` output positions
N_RES, N_RATTR, N_SCOPE, N_SATTR, N_SPAN, N_SPATTR, N_EV, N_EVATTR, N_LINK, N_LATTR, N_RESMSG = range(11)


@jit
def _count_tag(data: Arr, s: Int, e: Int, tag: Int) -> Int:
    """How many fields ``tag`` the message ``data[s:e]`` holds (bounds-checked, nothing more)."""
    n = 0
    p = s
    while p < e:
        t, p = read_tag(data, p, e)
        if p < 0:
            break
        if t == tag:
            n += 1
        q = skip_plain(data, p, e, t)
        p = skip_field(data, p, e, t) if q == -2 else q
        if p < 0:
            break
    return n


@jit
def count_traces(data: Arr) -> Arr:
    """Rows of every table (exact on valid input; only bounds-checked, so the fill still
    checks its capacity: on invalid input these may be anything)."""
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
        rs_s, rs_e = read_len(data, p0, end0)
        if rs_e < 0:
            break
        p0 = rs_e
        c[N_RES] += 1
        p1 = rs_s
        while p1 < rs_e:
            tag, p1 = read_tag(data, p1, rs_e)
            if p1 < 0:
                break
            if tag == 0x0A:
                s, e = read_len(data, p1, rs_e)
                if e < 0:
                    break
                p1 = e
                c[N_RESMSG] += 1
                c[N_RATTR] += _count_tag(data, s, e, 0x0A)
            elif tag == 0x12:
                ss_s, ss_e = read_len(data, p1, rs_e)
                if ss_e < 0:
                    break
                p1 = ss_e
                c[N_SCOPE] += 1
                p2 = ss_s
                while p2 < ss_e:
                    tag, p2 = read_tag(data, p2, ss_e)
                    if p2 < 0:
                        break
                    if tag == 0x0A:
                        s, e = read_len(data, p2, ss_e)
                        if e < 0:
                            break
                        p2 = e
                        c[N_SATTR] += _count_tag(data, s, e, 0x1A)
                    elif tag == 0x12:
                        s, e = read_len(data, p2, ss_e)
                        if e < 0:
                            break
                        p2 = e
                        c[N_SPAN] += 1
                        p3 = s
                        while p3 < e:
                            tag, p3 = read_tag(data, p3, e)
                            if p3 < 0:
                                break
                            if tag == 0x4A:
                                c[N_SPATTR] += 1
                            elif tag == 0x5A or tag == 0x6A:
                                a, b = read_len(data, p3, e)
                                if b < 0:
                                    break
                                if tag == 0x5A:
                                    c[N_EV] += 1
                                    c[N_EVATTR] += _count_tag(data, a, b, 0x1A)
                                else:
                                    c[N_LINK] += 1
                                    c[N_LATTR] += _count_tag(data, a, b, 0x22)
                            q = skip_plain(data, p3, e, tag)
                            p3 = skip_field(data, p3, e, tag) if q == -2 else q
                            if p3 < 0:
                                break
                    else:
                        p2 = skip_field(data, p2, ss_e, tag)
                        if p2 < 0:
                            break
            else:
                p1 = skip_field(data, p1, rs_e, tag)
                if p1 < 0:
                    break
    return c


@jit
def decode_traces_kernel(data: Arr, kind: Arr, wire: Arr, child: Arr, tids: Arr) -> tuple[Any, ...]:
    """Every table of a SpanBatch, checked; the first item is True when ``data`` is valid
    (otherwise the rest is empty or partial and must not be used)."""
    counts = count_traces(data)
    n_res_max = counts[N_RES]
    n_scope_max = counts[N_SCOPE]
    n_span_max = counts[N_SPAN]
    n_ev_max = counts[N_EV]
    n_link_max = counts[N_LINK]
    v = np.zeros(6, dtype=np.int64)
    # resources
    res_url_s = np.empty(n_res_max, dtype=np.int64)
    res_url_n = np.empty(n_res_max, dtype=np.int64)
    res_dropped = np.empty(n_res_max, dtype=np.uint32)
    res_occ = np.empty((counts[N_RESMSG], 3), dtype=np.int64)  # resource occurrences with entity refs
    n_occ = 0
    ra_cols, ra_fb, ra_cnt, ra_slots, ra_uniq, ra_meta, ra_cache = new_attrs(counts[N_RATTR])
    # scopes
    sc_res = np.empty(n_scope_max, dtype=np.int32)
    sc_name_s = np.empty(n_scope_max, dtype=np.int64)
    sc_name_n = np.empty(n_scope_max, dtype=np.int64)
    sc_ver_s = np.empty(n_scope_max, dtype=np.int64)
    sc_ver_n = np.empty(n_scope_max, dtype=np.int64)
    sc_dropped = np.empty(n_scope_max, dtype=np.uint32)
    sc_url_s = np.empty(n_scope_max, dtype=np.int64)
    sc_url_n = np.empty(n_scope_max, dtype=np.int64)
    ca_cols, ca_fb, ca_cnt, ca_slots, ca_uniq, ca_meta, ca_cache = new_attrs(counts[N_SATTR])
    # spans
    sp_scope = np.empty(n_span_max, dtype=np.int32)
    sp_trace = np.empty(n_span_max * 2, dtype=np.uint64)  # ids as words: two loads, not 16
    sp_id = np.empty(n_span_max, dtype=np.uint64)
    sp_ts_s = np.empty(n_span_max, dtype=np.int64)
    sp_ts_n = np.empty(n_span_max, dtype=np.int64)
    sp_parent = np.zeros(n_span_max, dtype=np.uint64)
    sp_parent_ok = np.empty(n_span_max, dtype=np.uint8)
    sp_flags = np.empty(n_span_max, dtype=np.uint32)
    sp_name = np.empty(n_span_max, dtype=np.int32)
    nm_slots, nm_uniq, nm_meta = new_dicts(1, n_span_max)
    nm_cache = np.full((64, 3), -1, dtype=np.int64)  # (start, length, index) by length % 64
    sp_kind = np.empty(n_span_max, dtype=np.int8)
    sp_start = np.empty(n_span_max, dtype=np.uint64)
    sp_end = np.empty(n_span_max, dtype=np.uint64)
    sp_dattr = np.empty(n_span_max, dtype=np.uint32)
    sp_dev = np.empty(n_span_max, dtype=np.uint32)
    sp_dlink = np.empty(n_span_max, dtype=np.uint32)
    sp_code = np.zeros(n_span_max, dtype=np.int8)
    sp_has_status = np.empty(n_span_max, dtype=np.uint8)
    sp_msg_s = np.empty(n_span_max, dtype=np.int64)
    sp_msg_n = np.empty(n_span_max, dtype=np.int64)
    sa_cols, sa_fb, sa_cnt, sa_slots, sa_uniq, sa_meta, sa_cache = new_attrs(counts[N_SPATTR])
    # events
    ev_span = np.empty(n_ev_max, dtype=np.int32)
    ev_time = np.empty(n_ev_max, dtype=np.uint64)
    ev_name = np.empty(n_ev_max, dtype=np.int32)
    en_slots, en_uniq, en_meta = new_dicts(1, n_ev_max)
    ev_dropped = np.empty(n_ev_max, dtype=np.uint32)
    ea_cols, ea_fb, ea_cnt, ea_slots, ea_uniq, ea_meta, ea_cache = new_attrs(counts[N_EVATTR])
    # links
    ln_span = np.empty(n_link_max, dtype=np.int32)
    ln_trace = np.empty(n_link_max * 16, dtype=np.uint8)
    ln_id = np.empty(n_link_max * 8, dtype=np.uint8)
    ln_ts_s = np.empty(n_link_max, dtype=np.int64)
    ln_ts_n = np.empty(n_link_max, dtype=np.int64)
    ln_dropped = np.empty(n_link_max, dtype=np.uint32)
    ln_flags = np.empty(n_link_max, dtype=np.uint32)
    la_cols, la_fb, la_cnt, la_slots, la_uniq, la_meta, la_cache = new_attrs(counts[N_LATTR])
    # refusals: reason, resource, scope, span, link (-1: the span's own id), id length
    rej = np.empty((n_span_max, 6), dtype=np.int64)
    n_rej = 0
    # (enum error kind, resource, scope, span, value)
    err = np.zeros(5, dtype=np.int64)
    t_req = tids[T_REQ]
    t_rs = tids[T_RS]
    t_res = tids[T_RES]
    t_any = tids[T_ANY]
    t_ss = tids[T_SS]
    t_scope = tids[T_SCOPE]
    t_span = tids[T_SPAN]
    t_ev = tids[T_EV]
    t_link = tids[T_LINK]
    t_status = tids[T_STATUS]

    bad = False
    n_res = 0
    n_scope = 0
    n_span = 0
    n_ev = 0
    n_link = 0
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
        rs_s, rs_e = read_len(data, p0, end0)
        if rs_e < 0 or n_res >= n_res_max:
            bad = True
            break
        p0 = rs_e
        ri += 1
        r = n_res
        n_res += 1
        res_url_s[r] = 0
        res_url_n[r] = 0
        res_dropped[r] = 0
        ra_j = 0
        si = -1
        p1 = rs_s
        while p1 < rs_e and not bad:
            tag, p1 = read_tag(data, p1, rs_e)
            if p1 < 0:
                bad = True
                break
            if tag == 0x0A:  # resource
                s, e = read_len(data, p1, rs_e)
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
                s, e = read_len(data, p1, rs_e)
                if e < 0 or not valid_utf8(data, s, e):
                    bad = True
                    break
                res_url_s[r] = s
                res_url_n[r] = e - s
                p1 = e
            elif tag == 0x12:  # scope_spans
                ss_s, ss_e = read_len(data, p1, rs_e)
                if ss_e < 0 or n_scope >= n_scope_max:
                    bad = True
                    break
                p1 = ss_e
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
                p2 = ss_s
                while p2 < ss_e and not bad:
                    tag, p2 = read_tag(data, p2, ss_e)
                    if p2 < 0:
                        bad = True
                        break
                    if tag == 0x0A:  # scope
                        s, e = read_len(data, p2, ss_e)
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
                        s, e = read_len(data, p2, ss_e)
                        if e < 0 or not valid_utf8(data, s, e):
                            bad = True
                            break
                        sc_url_s[c] = s
                        sc_url_n[c] = e - s
                        p2 = e
                    elif tag == 0x12:  # span
                        s, e = read_len(data, p2, ss_e)
                        if e < 0 or n_span >= n_span_max:
                            bad = True
                            break
                        p2 = e
                        i += 1
                        k = n_span
                        # rollback marks
                        m_sa = sa_cnt[0]
                        m_saf = sa_cnt[1]
                        m_ev = n_ev
                        m_ea = ea_cnt[0]
                        m_eaf = ea_cnt[1]
                        m_ln = n_link
                        m_la = la_cnt[0]
                        m_laf = la_cnt[1]
                        tr_s = 0
                        tr_n = 0
                        id_s = 0
                        id_n = 0
                        pa_s = 0
                        pa_n = 0
                        ts_s = 0
                        ts_n = 0
                        nm_s = 0
                        nm_n = 0
                        kind_v = 0
                        start_t = np.uint64(0)
                        end_t = np.uint64(0)
                        d_attr = np.uint32(0)
                        d_ev = np.uint32(0)
                        d_link = np.uint32(0)
                        flags = np.uint32(0)
                        has_status = 0
                        code = 0
                        msg_s = 0
                        msg_n = 0
                        sa_j = 0
                        li = -1
                        bad_li = -1
                        bad_reason = 0
                        bad_len = 0
                        p3 = s
                        while p3 < e:
                            tag, p3 = read_tag(data, p3, e)
                            if p3 < 0:
                                bad = True
                                break
                            if tag == 0x4A:  # attributes
                                a, b = read_len(data, p3, e)
                                if b < 0:
                                    bad = True
                                    break
                                # fast path: `key` then `value` holding one scalar or string, one-byte lengths,
                                # the key (and string) as at this position in the previous parent (known good)
                                done = False
                                i_r = sa_cnt[0]
                                if (
                                    sa_j < CACHED
                                    and i_r < sa_cols.shape[1]
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
                                        and sa_cache[sa_j, K_KN] == kl
                                        and same_bytes(data, sa_cache[sa_j, K_KS], ks, kl)
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
                                                if sa_cache[sa_j, K_VN] == sn and same_bytes(
                                                    data, sa_cache[sa_j, K_VS], ss, sn
                                                ):
                                                    xv = sa_cache[sa_j, K_VIDX]
                                                else:
                                                    xv = intern_str(data, ss, sn, sa_slots, sa_uniq, sa_meta, D_STR)
                                                    sa_cache[sa_j, K_VS] = ss
                                                    sa_cache[sa_j, K_VN] = sn
                                                    sa_cache[sa_j, K_VIDX] = xv
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
                                            sa_cols[C_ROW, i_r] = k
                                            sa_cols[C_KEY, i_r] = sa_cache[sa_j, K_KIDX]
                                            sa_cols[C_TYPE, i_r] = vt
                                            if vt == 1:
                                                sa_cols[C_STR, i_r] = xv
                                            elif vt == 3:
                                                sa_cols[C_INT, i_r] = cached_num(
                                                    xv, sa_slots, sa_uniq, sa_meta, D_INT, sa_cache, sa_j
                                                )
                                            elif vt == 2:
                                                sa_cols[C_BOOL, i_r] = 1 if xv != 0 else 0
                                            elif vt == 4:
                                                sa_cols[C_DBL, i_r] = cached_num(
                                                    xv, sa_slots, sa_uniq, sa_meta, D_DBL, sa_cache, sa_j
                                                )
                                            sa_cnt[0] = i_r + 1
                                            done = True
                                if not done and not add_kv(
                                    data, a, b, k, sa_j, sa_cols, sa_fb, sa_cnt, sa_slots, sa_uniq, sa_meta, sa_cache,
                                    v, 4, kind, wire, child, tids[T_SPKV], t_any,
                                ):  # fmt: skip
                                    bad = True
                                    break
                                sa_j += 1
                                p3 = b
                            elif tag == 0x0A:
                                tr_s, p3 = read_len(data, p3, e)
                                tr_n = p3 - tr_s
                            elif tag == 0x12:
                                id_s, p3 = read_len(data, p3, e)
                                id_n = p3 - id_s
                            elif tag == 0x1A:
                                ts_s, p3 = read_len(data, p3, e)
                                ts_n = p3 - ts_s
                                if p3 >= 0 and not valid_utf8(data, ts_s, p3):
                                    p3 = -1
                            elif tag == 0x22:
                                pa_s, p3 = read_len(data, p3, e)
                                pa_n = p3 - pa_s
                            elif tag == 0x2A:
                                if nm_n > 0 and not valid_utf8(data, nm_s, nm_s + nm_n):
                                    bad = True  # a replaced name is still checked
                                    break
                                nm_s, p3 = read_len(data, p3, e)
                                nm_n = p3 - nm_s
                            elif tag == 0x30:
                                x, p3 = read_varint(data, p3, e)
                                kind_v = as_int32(x)
                            elif tag == 0x39 or tag == 0x41:
                                if p3 + 8 > e:
                                    bad = True
                                    break
                                if tag == 0x39:
                                    start_t = read_fixed64(data, p3)
                                else:
                                    end_t = read_fixed64(data, p3)
                                p3 += 8
                            elif tag == 0x50:
                                x, p3 = read_varint(data, p3, e)
                                d_attr = np.uint32(x & np.uint64(0xFFFFFFFF))
                            elif tag == 0x5A:  # event
                                a, b = read_len(data, p3, e)
                                if b < 0 or n_ev >= n_ev_max:
                                    bad = True
                                    break
                                p3 = b
                                q = n_ev
                                n_ev += 1
                                ev_span[q] = k
                                ev_time[q] = 0
                                ens = 0
                                enn = 0
                                ev_dropped[q] = 0
                                ea_j = 0
                                p4 = a
                                while p4 < b:
                                    tag, p4 = read_tag(data, p4, b)
                                    if p4 < 0:
                                        break
                                    if tag == 0x09:
                                        if p4 + 8 > b:
                                            p4 = -1
                                            break
                                        ev_time[q] = read_fixed64(data, p4)
                                        p4 += 8
                                    elif tag == 0x12:
                                        ens, p4 = read_len(data, p4, b)
                                        enn = p4 - ens
                                        if p4 < 0 or not valid_utf8(data, ens, p4):
                                            p4 = -1
                                            break
                                    elif tag == 0x1A:
                                        a5, b5 = read_len(data, p4, b)
                                        if b5 < 0 or not add_kv(
                                            data, a5, b5, q, ea_j, ea_cols, ea_fb, ea_cnt, ea_slots, ea_uniq,
                                            ea_meta, ea_cache, v, 5, kind, wire, child, tids[T_EVKV], t_any,
                                        ):  # fmt: skip
                                            p4 = -1
                                            break
                                        ea_j += 1
                                        p4 = b5
                                    elif tag == 0x20:
                                        x, p4 = read_varint(data, p4, b)
                                        if p4 < 0:
                                            break
                                        ev_dropped[q] = np.uint32(x & np.uint64(0xFFFFFFFF))
                                    else:
                                        p4 = check_field(data, p4, b, tag, t_ev, 4, kind, wire, child)
                                        if p4 < 0:
                                            break
                                if p4 < 0:
                                    bad = True
                                    break
                                name = intern_str(data, ens, enn, en_slots, en_uniq, en_meta, 0)
                                if name < 0:
                                    bad = True
                                    break
                                ev_name[q] = name
                            elif tag == 0x60:
                                x, p3 = read_varint(data, p3, e)
                                d_ev = np.uint32(x & np.uint64(0xFFFFFFFF))
                            elif tag == 0x6A:  # link
                                a, b = read_len(data, p3, e)
                                if b < 0 or n_link >= n_link_max:
                                    bad = True
                                    break
                                p3 = b
                                li += 1
                                q = n_link
                                n_link += 1
                                ln_span[q] = k
                                lt_s = 0
                                lt_n = 0
                                lid_s = 0
                                lid_n = 0
                                ln_ts_s[q] = 0
                                ln_ts_n[q] = 0
                                ln_dropped[q] = 0
                                ln_flags[q] = 0
                                la_j = 0
                                p4 = a
                                while p4 < b:
                                    tag, p4 = read_tag(data, p4, b)
                                    if p4 < 0:
                                        break
                                    if tag == 0x0A:
                                        lt_s, p4 = read_len(data, p4, b)
                                        lt_n = p4 - lt_s
                                    elif tag == 0x12:
                                        lid_s, p4 = read_len(data, p4, b)
                                        lid_n = p4 - lid_s
                                    elif tag == 0x1A:
                                        a5, b5 = read_len(data, p4, b)
                                        if b5 < 0 or not valid_utf8(data, a5, b5):
                                            p4 = -1
                                            break
                                        ln_ts_s[q] = a5
                                        ln_ts_n[q] = b5 - a5
                                        p4 = b5
                                    elif tag == 0x22:
                                        a5, b5 = read_len(data, p4, b)
                                        if b5 < 0 or not add_kv(
                                            data, a5, b5, q, la_j, la_cols, la_fb, la_cnt, la_slots, la_uniq,
                                            la_meta, la_cache, v, 5, kind, wire, child, tids[T_LKV], t_any,
                                        ):  # fmt: skip
                                            p4 = -1
                                            break
                                        la_j += 1
                                        p4 = b5
                                    elif tag == 0x28:
                                        x, p4 = read_varint(data, p4, b)
                                        if p4 < 0:
                                            break
                                        ln_dropped[q] = np.uint32(x & np.uint64(0xFFFFFFFF))
                                    elif tag == 0x35:
                                        if p4 + 4 > b:
                                            p4 = -1
                                            break
                                        ln_flags[q] = read_fixed32(data, p4)
                                        p4 += 4
                                    else:
                                        p4 = check_field(data, p4, b, tag, t_link, 4, kind, wire, child)
                                        if p4 < 0:
                                            break
                                if p4 < 0:
                                    bad = True
                                    break
                                if bad_li < 0:
                                    if lt_n != 16:
                                        bad_li = li
                                        bad_reason = R_TRACE
                                        bad_len = lt_n
                                    elif lid_n != 8:
                                        bad_li = li
                                        bad_reason = R_SPAN
                                        bad_len = lid_n
                                if lt_n == 16:
                                    copy_bytes(data, lt_s, ln_trace, q * 16, 16)
                                if lid_n == 8:
                                    copy_bytes(data, lid_s, ln_id, q * 8, 8)
                            elif tag == 0x70:
                                x, p3 = read_varint(data, p3, e)
                                d_link = np.uint32(x & np.uint64(0xFFFFFFFF))
                            elif tag == 0x7A:  # status (merged when repeated)
                                a, b = read_len(data, p3, e)
                                if b < 0:
                                    bad = True
                                    break
                                p3 = b
                                has_status = 1
                                p4 = a
                                while p4 < b:
                                    tag, p4 = read_tag(data, p4, b)
                                    if p4 < 0:
                                        break
                                    if tag == 0x12:
                                        msg_s, p4 = read_len(data, p4, b)
                                        msg_n = p4 - msg_s
                                        if p4 < 0 or not valid_utf8(data, msg_s, p4):
                                            p4 = -1
                                            break
                                    elif tag == 0x18:
                                        x, p4 = read_varint(data, p4, b)
                                        if p4 < 0:
                                            break
                                        code = as_int32(x)
                                    else:
                                        p4 = check_field(data, p4, b, tag, t_status, 4, kind, wire, child)
                                        if p4 < 0:
                                            break
                                if p4 < 0:
                                    bad = True
                                    break
                            elif tag == 0x85:  # flags, field 16 (two-byte tag 0x85 0x01)
                                if p3 + 4 > e:
                                    bad = True
                                    break
                                flags = read_fixed32(data, p3)
                                p3 += 4
                            else:
                                p3 = check_field(data, p3, e, tag, t_span, 3, kind, wire, child)
                            if p3 < 0:
                                bad = True
                                break
                        if bad:
                            break
                        reason = 0
                        bad_n = 0
                        link = -1
                        if tr_n != 16:
                            reason = R_TRACE
                            bad_n = tr_n
                        elif id_n != 8:
                            reason = R_SPAN
                            bad_n = id_n
                        elif pa_n != 0 and pa_n != 8:
                            reason = R_PARENT
                            bad_n = pa_n
                        elif bad_li >= 0:
                            reason = bad_reason
                            bad_n = bad_len
                            link = bad_li
                        if reason != 0:
                            if nm_n > 0 and not valid_utf8(data, nm_s, nm_s + nm_n):
                                bad = True
                                break
                            rej[n_rej, 0] = reason
                            rej[n_rej, 1] = ri
                            rej[n_rej, 2] = si
                            rej[n_rej, 3] = i
                            rej[n_rej, 4] = link
                            rej[n_rej, 5] = bad_n
                            n_rej += 1
                            sa_cnt[0] = m_sa
                            sa_cnt[1] = m_saf
                            n_ev = m_ev
                            ea_cnt[0] = m_ea
                            ea_cnt[1] = m_eaf
                            n_link = m_ln
                            la_cnt[0] = m_la
                            la_cnt[1] = m_laf
                            continue
                        h = nm_n & 63
                        if nm_cache[h, 1] == nm_n and same_bytes(data, nm_cache[h, 0], nm_s, nm_n):
                            name = nm_cache[h, 2]
                        else:
                            name = intern_str(data, nm_s, nm_n, nm_slots, nm_uniq, nm_meta, 0)
                            if name < 0:
                                bad = True
                                break
                            nm_cache[h, 0] = nm_s
                            nm_cache[h, 1] = nm_n
                            nm_cache[h, 2] = name
                        if err[0] == 0 and (
                            kind_v < -128 or kind_v > 127 or (has_status and (code < -128 or code > 127))
                        ):
                            # the first enum out of range, in the reference's walk order
                            err[0] = E_KIND if kind_v < -128 or kind_v > 127 else E_STATUS
                            err[1] = ri
                            err[2] = si
                            err[3] = i
                            err[4] = kind_v if err[0] == E_KIND else code
                        n_span += 1
                        sp_scope[k] = c
                        sp_trace[2 * k] = u64(data, tr_s)  # lengths checked above: 16 and 8
                        sp_trace[2 * k + 1] = u64(data, tr_s + 8)
                        sp_id[k] = u64(data, id_s)
                        sp_ts_s[k] = ts_s
                        sp_ts_n[k] = ts_n
                        sp_parent_ok[k] = pa_n == 8
                        sp_parent[k] = u64(data, pa_s) if pa_n == 8 else np.uint64(0)
                        sp_flags[k] = flags
                        sp_name[k] = name
                        sp_kind[k] = kind_v if -128 <= kind_v <= 127 else 0
                        sp_start[k] = start_t
                        sp_end[k] = end_t
                        sp_dattr[k] = d_attr
                        sp_dev[k] = d_ev
                        sp_dlink[k] = d_link
                        sp_has_status[k] = has_status
                        sp_code[k] = code if has_status and -128 <= code <= 127 else 0
                        sp_msg_s[k] = msg_s
                        sp_msg_n[k] = msg_n if has_status else 0
                    else:
                        p2 = check_field(data, p2, ss_e, tag, t_ss, 2, kind, wire, child)
                        if p2 < 0:
                            bad = True
                            break
            else:
                p1 = check_field(data, p1, rs_e, tag, t_rs, 1, kind, wire, child)
                if p1 < 0:
                    bad = True
                    break
    if bad:  # nothing below is used: empty tables keep the finishing code cheap and safe
        n_res = n_occ = n_scope = n_span = n_ev = n_link = n_rej = 0
        for cnt in (ra_cnt, ca_cnt, sa_cnt, ea_cnt, la_cnt):
            cnt[0] = 0
            cnt[1] = 0
        nm_meta[0, 0] = 0
        en_meta[0, 0] = 0
        for meta in (ra_meta, ca_meta, sa_meta, ea_meta, la_meta):
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
            n_span,
            sp_scope[:n_span],
            sp_trace[: n_span * 2].view(np.uint8),
            sp_id[:n_span].view(np.uint8),
            gather(data, sp_ts_s, sp_ts_n, n_span),
            sp_parent[:n_span].view(np.uint8),
            bitmap(sp_parent_ok, n_span),
            sp_flags[:n_span],
            sp_name[:n_span],
            dict_strings(data, nm_uniq, nm_meta, 0),
            sp_kind[:n_span],
            sp_start[:n_span],
            sp_end[:n_span],
            sp_dattr[:n_span],
            sp_dev[:n_span],
            sp_dlink[:n_span],
            sp_code[:n_span],
            bitmap(sp_has_status, n_span),
            gather(data, sp_msg_s, sp_msg_n, n_span),
        ),
        finish_attrs(data, sa_cols, sa_fb, sa_cnt, sa_slots, sa_uniq, sa_meta, sa_cache),
        (
            n_ev,
            ev_span[:n_ev],
            ev_time[:n_ev],
            ev_name[:n_ev],
            dict_strings(data, en_uniq, en_meta, 0),
            ev_dropped[:n_ev],
        ),
        finish_attrs(data, ea_cols, ea_fb, ea_cnt, ea_slots, ea_uniq, ea_meta, ea_cache),
        (
            n_link,
            ln_span[:n_link],
            ln_trace[: n_link * 16],
            ln_id[: n_link * 8],
            gather(data, ln_ts_s, ln_ts_n, n_link),
            ln_dropped[:n_link],
            ln_flags[:n_link],
        ),
        finish_attrs(data, la_cols, la_fb, la_cnt, la_slots, la_uniq, la_meta, la_cache),
        rej[:n_rej],
    )
