"""The second pass for traces: ``ExportTraceServiceRequest`` bytes -> column buffers.

Walks the (already validated) message once, in wire order, and appends rows as it goes; a
span's attributes, events and links are written before its ids are known, so a span refused
for a bad id is rolled back by resetting the row counters it advanced. Field semantics are
protobuf's: the last occurrence of a scalar wins, a submessage that occurs twice is merged
(``status``, ``resource``, ``scope``, a KeyValue's ``value``), repeated fields append.
"""

# ruff: noqa: PLR1714
# (numba kernels: flat loops with early returns and many array arguments; `x in (a, b)` on
# ints is avoided because numba builds a tuple for it)

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from knhk_telemetry.errors import DecodeError
from knhk_telemetry.model import schema as S
from knhk_telemetry.model.batch import SpanBatch
from knhk_telemetry.model.rejections import (
    INVALID_PARENT_SPAN_ID,
    INVALID_SPAN_ID,
    INVALID_TRACE_ID,
    MAX_MESSAGES,
    Decoded,
    Rejections,
)
from knhk_telemetry.otlp.fast import _arrow as A
from knhk_telemetry.otlp.fast._common import (
    add_kv,
    as_int32,
    bitmap,
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
)
from knhk_telemetry.otlp.fast._jit import Int, jit
from knhk_telemetry.otlp.fast._schema import SCHEMA
from knhk_telemetry.otlp.fast._wire import read_tag, read_varint, skip_field

Arr = NDArray[Any]

#: refusal reasons (see ``Rejections``) and id fields, as numbers
R_TRACE, R_SPAN, R_PARENT = 1, 2, 3
#: enum errors
E_KIND, E_STATUS = 1, 2


@jit
def _id_ok(n: Int, size: Int, optional: bool) -> bool:
    return n == size or (optional and n == 0)


@jit
def decode_traces_kernel(data: Arr, counts: Arr) -> tuple[Any, ...]:
    """Fill every table of a SpanBatch; ``counts`` come from the validating pass.

    ``counts`` holds, in order: resources, resource attributes, scopes, scope attributes,
    spans, span attributes, events, event attributes, links, link attributes, Resource messages."""
    n_res_max = counts[0]
    n_scope_max = counts[2]
    n_span_max = counts[4]
    n_ev_max = counts[6]
    n_link_max = counts[8]
    v = np.zeros(6, dtype=np.int64)
    # resources
    res_url_s = np.empty(n_res_max, dtype=np.int64)
    res_url_n = np.empty(n_res_max, dtype=np.int64)
    res_dropped = np.empty(n_res_max, dtype=np.uint32)
    res_occ = np.empty((counts[10], 3), dtype=np.int64)  # resource occurrences with entity refs
    n_occ = 0
    ra_cols, ra_fb, ra_cnt, ra_slots, ra_uniq, ra_meta = new_attrs(counts[1])
    # scopes
    sc_res = np.empty(n_scope_max, dtype=np.int32)
    sc_name_s = np.empty(n_scope_max, dtype=np.int64)
    sc_name_n = np.empty(n_scope_max, dtype=np.int64)
    sc_ver_s = np.empty(n_scope_max, dtype=np.int64)
    sc_ver_n = np.empty(n_scope_max, dtype=np.int64)
    sc_dropped = np.empty(n_scope_max, dtype=np.uint32)
    sc_url_s = np.empty(n_scope_max, dtype=np.int64)
    sc_url_n = np.empty(n_scope_max, dtype=np.int64)
    ca_cols, ca_fb, ca_cnt, ca_slots, ca_uniq, ca_meta = new_attrs(counts[3])
    # spans
    sp_scope = np.empty(n_span_max, dtype=np.int32)
    sp_trace = np.empty(n_span_max * 16, dtype=np.uint8)
    sp_id = np.empty(n_span_max * 8, dtype=np.uint8)
    sp_ts_s = np.empty(n_span_max, dtype=np.int64)
    sp_ts_n = np.empty(n_span_max, dtype=np.int64)
    sp_parent = np.zeros(n_span_max * 8, dtype=np.uint8)
    sp_parent_ok = np.empty(n_span_max, dtype=np.uint8)
    sp_flags = np.empty(n_span_max, dtype=np.uint32)
    sp_name = np.empty(n_span_max, dtype=np.int32)
    nm_slots, nm_uniq, nm_meta = new_dicts(1, n_span_max)
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
    sa_cols, sa_fb, sa_cnt, sa_slots, sa_uniq, sa_meta = new_attrs(counts[5])
    # events
    ev_span = np.empty(n_ev_max, dtype=np.int32)
    ev_time = np.empty(n_ev_max, dtype=np.uint64)
    ev_name = np.empty(n_ev_max, dtype=np.int32)
    en_slots, en_uniq, en_meta = new_dicts(1, n_ev_max)
    ev_dropped = np.empty(n_ev_max, dtype=np.uint32)
    ea_cols, ea_fb, ea_cnt, ea_slots, ea_uniq, ea_meta = new_attrs(counts[7])
    # links
    ln_span = np.empty(n_link_max, dtype=np.int32)
    ln_trace = np.empty(n_link_max * 16, dtype=np.uint8)
    ln_id = np.empty(n_link_max * 8, dtype=np.uint8)
    ln_ts_s = np.empty(n_link_max, dtype=np.int64)
    ln_ts_n = np.empty(n_link_max, dtype=np.int64)
    ln_dropped = np.empty(n_link_max, dtype=np.uint32)
    ln_flags = np.empty(n_link_max, dtype=np.uint32)
    la_cols, la_fb, la_cnt, la_slots, la_uniq, la_meta = new_attrs(counts[9])
    # refusals: reason, resource, scope, span, link (-1: the span's own id), id length
    rej = np.empty((n_span_max, 6), dtype=np.int64)
    n_rej = 0
    # (enum error kind, resource, scope, span, value)
    err = np.zeros(5, dtype=np.int64)

    n_res = 0
    n_scope = 0
    n_span = 0
    n_ev = 0
    n_link = 0
    end0 = data.shape[0]
    p0 = 0
    ri = -1
    while p0 < end0:
        tag, p0 = read_tag(data, p0, end0)
        if tag != 0x0A:
            p0 = skip_field(data, p0, end0, tag)
            continue
        rs_s, rs_e = read_len(data, p0, end0)
        p0 = rs_e
        ri += 1
        r = n_res
        n_res += 1
        res_url_s[r] = 0
        res_url_n[r] = 0
        res_dropped[r] = 0
        si = -1
        p1 = rs_s
        while p1 < rs_e:
            tag, p1 = read_tag(data, p1, rs_e)
            if tag == 0x0A:  # resource
                s, e = read_len(data, p1, rs_e)
                p1 = e
                p2 = s
                while p2 < e:
                    tag, p2 = read_tag(data, p2, e)
                    if tag == 0x0A:
                        a, b = read_len(data, p2, e)
                        add_kv(data, a, b, r, ra_cols, ra_fb, ra_cnt, ra_slots, ra_uniq, ra_meta, v)
                        p2 = b
                    elif tag == 0x10:
                        x, p2 = read_varint(data, p2, e)
                        res_dropped[r] = np.uint32(x & np.uint64(0xFFFFFFFF))
                    elif tag == 0x1A:
                        a, b = read_len(data, p2, e)
                        p2 = b
                        if n_occ == 0 or res_occ[n_occ - 1, 0] != r or res_occ[n_occ - 1, 1] != s:
                            res_occ[n_occ, 0] = r
                            res_occ[n_occ, 1] = s
                            res_occ[n_occ, 2] = e
                            n_occ += 1
                    else:
                        p2 = skip_field(data, p2, e, tag)
            elif tag == 0x1A:  # schema_url
                s, e = read_len(data, p1, rs_e)
                res_url_s[r] = s
                res_url_n[r] = e - s
                p1 = e
            elif tag == 0x12:  # scope_spans
                ss_s, ss_e = read_len(data, p1, rs_e)
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
                i = -1
                p2 = ss_s
                while p2 < ss_e:
                    tag, p2 = read_tag(data, p2, ss_e)
                    if tag == 0x0A:  # scope
                        s, e = read_len(data, p2, ss_e)
                        p2 = e
                        p3 = s
                        while p3 < e:
                            tag, p3 = read_tag(data, p3, e)
                            if tag == 0x0A:
                                a, b = read_len(data, p3, e)
                                sc_name_s[c] = a
                                sc_name_n[c] = b - a
                                p3 = b
                            elif tag == 0x12:
                                a, b = read_len(data, p3, e)
                                sc_ver_s[c] = a
                                sc_ver_n[c] = b - a
                                p3 = b
                            elif tag == 0x1A:
                                a, b = read_len(data, p3, e)
                                add_kv(data, a, b, c, ca_cols, ca_fb, ca_cnt, ca_slots, ca_uniq, ca_meta, v)
                                p3 = b
                            elif tag == 0x20:
                                x, p3 = read_varint(data, p3, e)
                                sc_dropped[c] = np.uint32(x & np.uint64(0xFFFFFFFF))
                            else:
                                p3 = skip_field(data, p3, e, tag)
                    elif tag == 0x1A:
                        s, e = read_len(data, p2, ss_e)
                        sc_url_s[c] = s
                        sc_url_n[c] = e - s
                        p2 = e
                    elif tag == 0x12:  # span
                        s, e = read_len(data, p2, ss_e)
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
                        kind = 0
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
                        li = -1
                        bad_li = -1
                        bad_reason = 0
                        bad_len = 0
                        p3 = s
                        while p3 < e:
                            tag, p3 = read_tag(data, p3, e)
                            if tag == 0x4A:  # attributes
                                a, b = read_len(data, p3, e)
                                add_kv(data, a, b, k, sa_cols, sa_fb, sa_cnt, sa_slots, sa_uniq, sa_meta, v)
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
                            elif tag == 0x22:
                                pa_s, p3 = read_len(data, p3, e)
                                pa_n = p3 - pa_s
                            elif tag == 0x2A:
                                nm_s, p3 = read_len(data, p3, e)
                                nm_n = p3 - nm_s
                            elif tag == 0x30:
                                x, p3 = read_varint(data, p3, e)
                                kind = as_int32(x)
                            elif tag == 0x39:
                                start_t = read_fixed64(data, p3)
                                p3 += 8
                            elif tag == 0x41:
                                end_t = read_fixed64(data, p3)
                                p3 += 8
                            elif tag == 0x50:
                                x, p3 = read_varint(data, p3, e)
                                d_attr = np.uint32(x & np.uint64(0xFFFFFFFF))
                            elif tag == 0x5A:  # event
                                a, b = read_len(data, p3, e)
                                p3 = b
                                q = n_ev
                                n_ev += 1
                                ev_span[q] = k
                                ev_time[q] = 0
                                ens = 0
                                enn = 0
                                ev_dropped[q] = 0
                                p4 = a
                                while p4 < b:
                                    tag, p4 = read_tag(data, p4, b)
                                    if tag == 0x09:
                                        ev_time[q] = read_fixed64(data, p4)
                                        p4 += 8
                                    elif tag == 0x12:
                                        ens, p4 = read_len(data, p4, b)
                                        enn = p4 - ens
                                    elif tag == 0x1A:
                                        a5, b5 = read_len(data, p4, b)
                                        add_kv(data, a5, b5, q, ea_cols, ea_fb, ea_cnt, ea_slots, ea_uniq, ea_meta, v)
                                        p4 = b5
                                    elif tag == 0x20:
                                        x, p4 = read_varint(data, p4, b)
                                        ev_dropped[q] = np.uint32(x & np.uint64(0xFFFFFFFF))
                                    else:
                                        p4 = skip_field(data, p4, b, tag)
                                ev_name[q] = intern_str(data, ens, enn, en_slots, en_uniq, en_meta, 0)
                            elif tag == 0x60:
                                x, p3 = read_varint(data, p3, e)
                                d_ev = np.uint32(x & np.uint64(0xFFFFFFFF))
                            elif tag == 0x6A:  # link
                                a, b = read_len(data, p3, e)
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
                                p4 = a
                                while p4 < b:
                                    tag, p4 = read_tag(data, p4, b)
                                    if tag == 0x0A:
                                        lt_s, p4 = read_len(data, p4, b)
                                        lt_n = p4 - lt_s
                                    elif tag == 0x12:
                                        lid_s, p4 = read_len(data, p4, b)
                                        lid_n = p4 - lid_s
                                    elif tag == 0x1A:
                                        a5, b5 = read_len(data, p4, b)
                                        ln_ts_s[q] = a5
                                        ln_ts_n[q] = b5 - a5
                                        p4 = b5
                                    elif tag == 0x22:
                                        a5, b5 = read_len(data, p4, b)
                                        add_kv(data, a5, b5, q, la_cols, la_fb, la_cnt, la_slots, la_uniq, la_meta, v)
                                        p4 = b5
                                    elif tag == 0x28:
                                        x, p4 = read_varint(data, p4, b)
                                        ln_dropped[q] = np.uint32(x & np.uint64(0xFFFFFFFF))
                                    elif tag == 0x35:
                                        ln_flags[q] = read_fixed32(data, p4)
                                        p4 += 4
                                    else:
                                        p4 = skip_field(data, p4, b, tag)
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
                                p3 = b
                                has_status = 1
                                p4 = a
                                while p4 < b:
                                    tag, p4 = read_tag(data, p4, b)
                                    if tag == 0x12:
                                        msg_s, p4 = read_len(data, p4, b)
                                        msg_n = p4 - msg_s
                                    elif tag == 0x18:
                                        x, p4 = read_varint(data, p4, b)
                                        code = as_int32(x)
                                    else:
                                        p4 = skip_field(data, p4, b, tag)
                            elif tag == 0x85:  # flags, field 16 (two-byte tag 0x85 0x01)
                                flags = read_fixed32(data, p3)
                                p3 += 4
                            else:
                                p3 = skip_field(data, p3, e, tag)
                        reason = 0
                        bad = 0
                        link = -1
                        if tr_n != 16:
                            reason = R_TRACE
                            bad = tr_n
                        elif id_n != 8:
                            reason = R_SPAN
                            bad = id_n
                        elif pa_n != 0 and pa_n != 8:
                            reason = R_PARENT
                            bad = pa_n
                        elif bad_li >= 0:
                            reason = bad_reason
                            bad = bad_len
                            link = bad_li
                        if reason != 0:
                            rej[n_rej, 0] = reason
                            rej[n_rej, 1] = ri
                            rej[n_rej, 2] = si
                            rej[n_rej, 3] = i
                            rej[n_rej, 4] = link
                            rej[n_rej, 5] = bad
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
                        if err[0] == 0 and (kind < -128 or kind > 127 or (has_status and (code < -128 or code > 127))):
                            # the first enum out of range, in the reference's walk order
                            err[0] = E_KIND if kind < -128 or kind > 127 else E_STATUS
                            err[1] = ri
                            err[2] = si
                            err[3] = i
                            err[4] = kind if err[0] == E_KIND else code
                        n_span += 1
                        sp_scope[k] = c
                        copy_bytes(data, tr_s, sp_trace, k * 16, 16)
                        copy_bytes(data, id_s, sp_id, k * 8, 8)
                        sp_ts_s[k] = ts_s
                        sp_ts_n[k] = ts_n
                        sp_parent_ok[k] = pa_n == 8
                        if pa_n == 8:
                            copy_bytes(data, pa_s, sp_parent, k * 8, 8)
                        else:
                            for z in range(8):
                                sp_parent[k * 8 + z] = 0
                        sp_flags[k] = flags
                        sp_name[k] = intern_str(data, nm_s, nm_n, nm_slots, nm_uniq, nm_meta, 0)
                        sp_kind[k] = kind if -128 <= kind <= 127 else 0
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
                        p2 = skip_field(data, p2, ss_e, tag)
            else:
                p1 = skip_field(data, p1, rs_e, tag)
    return (
        err,
        (n_res, gather(data, res_url_s, res_url_n, n_res), res_dropped[:n_res], res_occ[:n_occ]),
        finish_attrs(data, ra_cols, ra_fb, ra_cnt, ra_slots, ra_uniq, ra_meta),
        (
            n_scope,
            sc_res[:n_scope],
            gather(data, sc_name_s, sc_name_n, n_scope),
            gather(data, sc_ver_s, sc_ver_n, n_scope),
            sc_dropped[:n_scope],
            gather(data, sc_url_s, sc_url_n, n_scope),
        ),
        finish_attrs(data, ca_cols, ca_fb, ca_cnt, ca_slots, ca_uniq, ca_meta),
        (
            n_span,
            sp_scope[:n_span],
            sp_trace[: n_span * 16],
            sp_id[: n_span * 8],
            gather(data, sp_ts_s, sp_ts_n, n_span),
            sp_parent[: n_span * 8],
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
        finish_attrs(data, sa_cols, sa_fb, sa_cnt, sa_slots, sa_uniq, sa_meta),
        (
            n_ev,
            ev_span[:n_ev],
            ev_time[:n_ev],
            ev_name[:n_ev],
            dict_strings(data, en_uniq, en_meta, 0),
            ev_dropped[:n_ev],
        ),
        finish_attrs(data, ea_cols, ea_fb, ea_cnt, ea_slots, ea_uniq, ea_meta),
        (
            n_link,
            ln_span[:n_link],
            ln_trace[: n_link * 16],
            ln_id[: n_link * 8],
            gather(data, ln_ts_s, ln_ts_n, n_link),
            ln_dropped[:n_link],
            ln_flags[:n_link],
        ),
        finish_attrs(data, la_cols, la_fb, la_cnt, la_slots, la_uniq, la_meta),
        rej[:n_rej],
    )


# -- Python side ---------------------------------------------------------------------------

_COUNT_PATHS = (
    ("traces", "resource_spans"),
    ("traces", "resource_spans", "resource", "attributes"),
    ("traces", "resource_spans", "scope_spans"),
    ("traces", "resource_spans", "scope_spans", "scope", "attributes"),
    ("traces", "resource_spans", "scope_spans", "spans"),
    ("traces", "resource_spans", "scope_spans", "spans", "attributes"),
    ("traces", "resource_spans", "scope_spans", "spans", "events"),
    ("traces", "resource_spans", "scope_spans", "spans", "events", "attributes"),
    ("traces", "resource_spans", "scope_spans", "spans", "links"),
    ("traces", "resource_spans", "scope_spans", "spans", "links", "attributes"),
    ("traces", "resource_spans", "resource"),
)
COUNT_TIDS = np.array([SCHEMA.tid(*p) for p in _COUNT_PATHS], dtype=np.int64)
_REASONS = {R_TRACE: INVALID_TRACE_ID, R_SPAN: INVALID_SPAN_ID, R_PARENT: INVALID_PARENT_SPAN_ID}
_ID_NAMES = {R_TRACE: ("trace_id", 16), R_SPAN: ("span_id", 8), R_PARENT: ("parent_span_id", 8)}


def _rejections(rej: Arr) -> Rejections:
    out = Rejections()
    if not len(rej):
        return out
    for reason, ri, si, i, link, size in rej[:MAX_MESSAGES].tolist():
        name, expected = _ID_NAMES[reason]
        where = f".links[{link}]" if link >= 0 else ""
        out.add(
            _REASONS[reason],
            f"resource_spans[{ri}].scope_spans[{si}].spans[{i}]{where}: {name} has {size} bytes, expected {expected}",
        )
    rest = rej[MAX_MESSAGES:, 0]
    for code, n in zip(*np.unique(rest, return_counts=True), strict=True):
        out.counts[_REASONS[int(code)]] += int(n)
    return out


def build(data: bytes | bytearray | memoryview, arr: Arr, counts: Arr) -> Decoded[SpanBatch]:
    """Run the traces kernel on validated ``arr`` and wrap its output as a SpanBatch."""
    out = decode_traces_kernel(arr, counts[COUNT_TIDS])
    err = out[0]
    if err[0]:
        path = f"resource_spans[{err[1]}].scope_spans[{err[2]}].spans[{err[3]}]"
        field = "kind" if err[0] == E_KIND else "status.code"
        raise DecodeError(f"{path}.{field}: enum value {err[4]} is outside the range the model stores (-128..127)")
    res, res_attrs, sc, sc_attrs, sp, sp_attrs, ev, ev_attrs, ln, ln_attrs, rej = out[1:]
    n = int(sp[0])
    if n:
        spans = A.table(
            S.SPANS,
            [
                A.prim(pa.int32(), n, sp[1]),
                A.fixed(S.TRACE_ID, n, sp[2]),
                A.fixed(S.SPAN_ID, n, sp[3]),
                A.strings(pa.string(), n, sp[4]),
                A.fixed(S.SPAN_ID, n, sp[5], sp[6]),
                A.prim(pa.uint32(), n, sp[7]),
                A.dict_strings(n, sp[8], sp[9]),
                A.prim(pa.int8(), n, sp[10]),
                A.prim(pa.uint64(), n, sp[11]),
                A.prim(pa.uint64(), n, sp[12]),
                A.prim(pa.uint32(), n, sp[13]),
                A.prim(pa.uint32(), n, sp[14]),
                A.prim(pa.uint32(), n, sp[15]),
                A.prim(pa.int8(), n, sp[16], sp[17]),
                A.strings(pa.string(), n, sp[18], sp[17]),
            ],
        )
    else:
        spans = S.SPANS.empty_table()
    n_ev = int(ev[0])
    events = (
        A.table(
            S.EVENTS,
            [
                A.prim(pa.int32(), n_ev, ev[1]),
                A.prim(pa.uint64(), n_ev, ev[2]),
                A.dict_strings(n_ev, ev[3], ev[4]),
                A.prim(pa.uint32(), n_ev, ev[5]),
            ],
        )
        if n_ev
        else S.EVENTS.empty_table()
    )
    n_ln = int(ln[0])
    links = (
        A.table(
            S.LINKS,
            [
                A.prim(pa.int32(), n_ln, ln[1]),
                A.fixed(S.TRACE_ID, n_ln, ln[2]),
                A.fixed(S.SPAN_ID, n_ln, ln[3]),
                A.strings(pa.string(), n_ln, ln[4]),
                A.prim(pa.uint32(), n_ln, ln[5]),
                A.prim(pa.uint32(), n_ln, ln[6]),
            ],
        )
        if n_ln
        else S.LINKS.empty_table()
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
    return Decoded(SpanBatch(tables, check=False), _rejections(rej))
