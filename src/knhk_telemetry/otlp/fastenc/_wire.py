# ruff: noqa: PLR0917, PLR0911 (numba kernels take positional column tuples; one return per value kind)
"""Protobuf wire primitives and the parts every signal shares (attributes, resource, scope).

All kernels work in two passes: sizes bottom-up (a message's length prefix needs the size of
everything inside it), then one write pass top-down into a buffer of exactly that size.
Encoding follows what python protobuf's ``SerializeToString`` emits: fields in field-number
order, proto3 defaults left out (a double only when its bits are not all zero, so ``-0.0`` is
written), oneof members and proto3 ``optional`` fields written whenever set, negative enums and
int64 as ten-byte varints. Column tuples are the shapes described in ``_columns``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from knhk_telemetry.otlp.fastenc._cache import CACHE

_U7 = np.uint64(7)
_U80 = np.uint64(0x80)
_U7F = np.uint64(0x7F)
_UFF = np.uint64(0xFF)
_U8 = np.uint64(8)

#: error codes a kernel returns with the table and row at fault
ERR_NONE = 0
ERR_VALUE_TYPE = 1
ERR_PARENT = 2
ERR_SIZE = 3
ERR_METRIC_TYPE = 4

#: Kernels that allocate (the entry points) run with numba's reference counting (NRT).
JIT: dict[str, Any] = {}
#: Everything that loops over rows runs without it (``_nrt=False``): with it, numba wraps the
#: arrays taken out of column tuples in reference-count updates (atomic calls) inside the
#: loops, which cost 30x the encoding itself. Such functions write into arrays they are given.
WORK: dict[str, Any] = {**JIT, "_nrt": False}
#: small helpers are inlined into their callers
INLINE: dict[str, Any] = {**WORK, "inline": "always"}

_F = TypeVar("_F", bound=Callable[..., Any])


def _decorator(options: dict[str, Any]) -> Callable[[_F], _F]:
    """``njit(cache=True, nogil=True, **options)`` into this package's kernel cache."""
    return CACHE.njit(**options)


#: decorators of the three kinds above
jit = _decorator(JIT)
work = _decorator(WORK)
inline = _decorator(INLINE)


@inline
def vlen(v: Any) -> int:
    """Bytes of ``v`` as a varint (negative numbers as their 64-bit two's complement)."""
    u = np.uint64(v)
    n = 1
    while u >= _U80:
        u >>= _U7
        n += 1
    return n


@inline
def wvar(buf: Any, pos: int, v: Any) -> int:
    u = np.uint64(v)
    while u >= _U80:
        buf[pos] = (u & _U7F) | _U80
        u >>= _U7
        pos += 1
    buf[pos] = u
    return pos + 1


@inline
def wfixed64(buf: Any, pos: int, v: Any) -> int:
    u = np.uint64(v)
    for k in range(8):
        buf[pos + k] = u & _UFF
        u >>= _U8
    return pos + 8


@inline
def wfixed32(buf: Any, pos: int, v: Any) -> int:
    u = np.uint64(v)
    for k in range(4):
        buf[pos + k] = u & _UFF
        u >>= _U8
    return pos + 4


@inline
def ok(valid: Any, off: int, i: int) -> bool:
    """Whether row ``i`` of a column with this validity bitmap is not null."""
    if valid.size == 0:
        return True
    j = off + i
    return bool(((valid[j >> 3] >> (j & 7)) & 1) == 1)


@inline
def pval(c: Any, i: int) -> Any:
    """Row ``i`` of a ``P`` column, 0 when null."""
    if ok(c[1], c[2], i):
        return c[0][i]
    return c[0].dtype.type(0)


@inline
def pvalid(c: Any, i: int) -> bool:
    return ok(c[1], c[2], i)


@inline
def dval(c: Any, i: int) -> Any:
    """Row ``i`` of a ``D`` column, 0 when null."""
    if ok(c[1], c[2], i):
        return c[3][c[0][i]]
    return c[3].dtype.type(0)


@inline
def bval(c: Any, i: int) -> int:
    """Row ``i`` of a ``B`` column as 0/1, 0 when null."""
    if not ok(c[1], c[2], i):
        return 0
    j = c[2] + i
    return int((c[0][j >> 3] >> (j & 7)) & 1)


@inline
def slen(c: Any, i: int) -> int:
    """Length of row ``i`` of an ``S`` column, -1 when null."""
    if not ok(c[1], c[2], i):
        return -1
    k = c[0][i]
    return int(np.int64(c[3][k + 1]) - np.int64(c[3][k]))


@inline
def wraw(buf: Any, pos: int, c: Any, i: int, n: int) -> int:
    """Copy the ``n`` bytes of row ``i`` of an ``S`` column."""
    data = c[4]
    # unsigned indices: no negative-index wraparound, so LLVM sees a plain copy loop
    # (a slice assignment would need NRT, as it may copy the source)
    src = np.uint64(c[3][c[0][i]])
    dst = np.uint64(pos)
    for k in range(np.uint64(n)):
        buf[dst + k] = data[src + k]
    return pos + n


@inline
def str_size(n: int) -> int:
    """A length-delimited field with a one-byte tag holding ``n`` bytes (0 if empty or null)."""
    if n <= 0:
        return 0
    return 1 + vlen(n) + n


@inline
def wstr(buf: Any, pos: int, tag: int, c: Any, i: int) -> int:
    """Write row ``i`` of an ``S`` column as field ``tag`` unless empty or null."""
    n = slen(c, i)
    if n <= 0:
        return pos
    buf[pos] = tag
    pos = wvar(buf, pos + 1, n)
    return wraw(buf, pos, c, i, n)


@inline
def uvar_size(v: Any) -> int:
    """A varint field with a one-byte tag (0 if ``v`` is 0)."""
    if v == 0:
        return 0
    return 1 + vlen(v)


@inline
def wuvar(buf: Any, pos: int, tag: int, v: Any) -> int:
    if v == 0:
        return pos
    buf[pos] = tag
    return wvar(buf, pos + 1, v)


@inline
def entry(n: int) -> int:
    """Bytes of a submessage of ``n`` bytes behind a one-byte tag."""
    return 1 + vlen(n) + n


@inline
def wid(buf: Any, pos: int, tag: int, c: Any, i: int, width: int) -> int:
    """Write row ``i`` of a fixed-size binary column as field ``tag`` unless null."""
    if not ok(c[1], c[2], i) or c[0].size == 0:
        return pos
    buf[pos] = tag
    buf[pos + 1] = width
    data = c[0]
    src = np.uint64(i * width)
    dst = np.uint64(pos + 2)
    for k in range(np.uint64(width)):
        buf[dst + k] = data[src + k]
    return pos + 2 + width


@inline
def id_size(c: Any, i: int, width: int) -> int:
    if not ok(c[1], c[2], i) or c[0].size == 0:
        return 0
    return 2 + width


# ----------------------------------------------------------------------------------------
# AnyValue and attributes
# ----------------------------------------------------------------------------------------


@inline
def any_size(v: Any, i: int) -> int:
    """Bytes of the AnyValue of row ``i`` of value columns ``v``; -1 for an unknown type."""
    t = v[0][0][i]
    if t == 0:
        return 0
    if t == 1:
        return entry(max(slen(v[1], i), 0))
    if t == 2:
        return 2
    if t == 3:
        return 1 + vlen(dval(v[2], i))
    if t == 4:
        return 9
    if 5 <= t <= 7:
        return entry(max(slen(v[5], i), 0))
    return -1


@inline
def wany(buf: Any, pos: int, v: Any, i: int) -> int:
    """Write the fields of the AnyValue of row ``i`` (its type known to be valid)."""
    t = v[0][0][i]
    if t == 0:
        return pos
    if t == 1:
        n = max(slen(v[1], i), 0)
        buf[pos] = 0x0A
        pos = wvar(buf, pos + 1, n)
        return wraw(buf, pos, v[1], i, n)
    if t == 2:
        buf[pos] = 0x10
        buf[pos + 1] = bval(v[4], i)
        return pos + 2
    if t == 3:
        buf[pos] = 0x18
        return wvar(buf, pos + 1, dval(v[2], i))
    if t == 4:
        buf[pos] = 0x21
        return wfixed64(buf, pos + 1, dval(v[3], i))
    n = max(slen(v[5], i), 0)
    buf[pos] = 0x2A if t == 5 else (0x32 if t == 6 else 0x3A)
    pos = wvar(buf, pos + 1, n)
    return wraw(buf, pos, v[5], i, n)


@work
def starts_of(parent: Any, starts: Any) -> int:
    """Fill ``starts`` (zeros, one more than the parent rows) so that ``[starts[p],
    starts[p+1])`` are the rows of parent ``p`` in a child table sorted by ``parent``.

    Returns the first row that breaks the order or points outside the parent table, else -1."""
    n_parent = starts.size - 1
    prev = 0
    for i in range(parent.size):
        p = int(parent[i])
        if p < prev or p >= n_parent:
            return i
        prev = p
        starts[p + 1] += 1
    for q in range(n_parent):
        starts[q + 1] += starts[q]
    return -1


@work
def attr_sizes(a: Any, kv: Any, av: Any) -> int:
    """Fill ``kv`` (KeyValue bytes) and ``av`` (AnyValue bytes, -1 when absent) per row of
    attribute table ``a``; return the first row with an unknown value type, else -1."""
    key = a[1]
    v = a[2]
    types = v[0]
    for i in range(kv.size):
        s = str_size(slen(key, i))
        if ok(types[1], types[2], i):
            n = any_size(v, i)
            if n < 0:
                return i
            av[i] = n
            s += entry(n)
        else:
            av[i] = -1
        kv[i] = s
    return -1


@work
def wattrs(buf: Any, pos: int, tag: Any, a: Any, lo: int, hi: int, kv: Any, av: Any) -> int:
    """Write attribute rows ``[lo, hi)`` as repeated KeyValue field ``tag`` (pass it as
    ``np.int64(...)``: a literal would compile one specialization per tag)."""
    for i in range(lo, hi):
        buf[pos] = tag
        pos = wvar(buf, pos + 1, kv[i])
        pos = wstr(buf, pos, 0x0A, a[1], i)
        n = av[i]
        if n >= 0:
            buf[pos] = 0x12
            pos = wvar(buf, pos + 1, n)
            pos = wany(buf, pos, a[2], i)
    return pos


@work
def group_sizes(starts: Any, sizes: Any, out: Any) -> None:
    """Per parent, the bytes of its children as repeated submessages behind one-byte tags."""
    for p in range(out.size):
        s = 0
        for i in range(starts[p], starts[p + 1]):
            s += entry(sizes[i])
        out[p] = s


@jit
def grouped(starts: Any, sizes: Any) -> Any:
    """:func:`group_sizes` into a new array."""
    out = np.zeros(starts.size - 1, np.int64)
    group_sizes(starts, sizes, out)
    return out


@jit
def starts_array(parent: Any, n_parent: int) -> tuple[Any, int]:
    """:func:`starts_of` into a new array: ``(starts, first bad row or -1)``."""
    starts = np.zeros(n_parent + 1, np.int64)
    return starts, starts_of(parent, starts)


@jit
def prep_attrs(a: Any, n_parent: int) -> tuple[Any, Any, Any, Any, int, int]:
    """``(starts, kv, av, totals, error, row)`` of an attribute table under ``n_parent`` rows."""
    n = a[0].size
    kv = np.empty(n, np.int64)
    av = np.empty(n, np.int64)
    totals = np.zeros(n_parent, np.int64)
    starts = np.zeros(n_parent + 1, np.int64)
    bad = starts_of(a[0], starts)
    if bad >= 0:
        return starts, kv, av, totals, ERR_PARENT, bad
    bad = attr_sizes(a, kv, av)
    if bad >= 0:
        return starts, kv, av, totals, ERR_VALUE_TYPE, bad
    group_sizes(starts, kv, totals)
    return starts, kv, av, totals, ERR_NONE, -1


# ----------------------------------------------------------------------------------------
# resource and scope
# ----------------------------------------------------------------------------------------
# resources r: (schema_url S, dropped_attributes_count P, entity_refs bytes S)
# scopes c: (resource parent, name S, version S, dropped_attributes_count P, schema_url S)


@work
def resource_sizes(r: Any, attr_totals: Any, out: Any) -> None:
    """Bytes of each ``Resource`` message."""
    for i in range(out.size):
        out[i] = attr_totals[i] + uvar_size(pval(r[1], i)) + max(slen(r[2], i), 0)


@work
def scope_sizes(c: Any, attr_totals: Any, out: Any) -> None:
    """Bytes of each ``InstrumentationScope`` message."""
    for i in range(out.size):
        out[i] = str_size(slen(c[1], i)) + str_size(slen(c[2], i)) + attr_totals[i] + uvar_size(pval(c[3], i))


@work
def envelope_sizes(
    r: Any,
    c: Any,
    res_msg: Any,
    scope_msg: Any,
    scope_payload: Any,
    scope_starts: Any,
    res_cont: Any,
    scope_cont: Any,
) -> int:
    """Fill the sizes of the containers (a ``Resource*`` / ``Scope*`` message holding the
    resource/scope, its children and schema_url); return the size of the request."""
    for s in range(scope_cont.size):
        scope_cont[s] = entry(scope_msg[s]) + scope_payload[s] + str_size(slen(c[4], s))
    total = 0
    for i in range(res_cont.size):
        size = entry(res_msg[i]) + str_size(slen(r[0], i))
        for s in range(scope_starts[i], scope_starts[i + 1]):
            size += entry(scope_cont[s])
        res_cont[i] = size
        total += entry(size)
    return total


@jit
def envelope(
    r: Any, c: Any, ra_totals: Any, ca_totals: Any, scope_payload: Any, scope_starts: Any
) -> tuple[Any, Any, Any, Any, int]:
    """``(resource sizes, scope sizes, resource container sizes, scope container sizes,
    request size)``."""
    n_res = ra_totals.size
    n_scopes = ca_totals.size
    res_msg = np.empty(n_res, np.int64)
    scope_msg = np.empty(n_scopes, np.int64)
    res_cont = np.empty(n_res, np.int64)
    scope_cont = np.empty(n_scopes, np.int64)
    resource_sizes(r, ra_totals, res_msg)
    scope_sizes(c, ca_totals, scope_msg)
    total = envelope_sizes(r, c, res_msg, scope_msg, scope_payload, scope_starts, res_cont, scope_cont)
    return res_msg, scope_msg, res_cont, scope_cont, total


@work
def wresource(buf: Any, pos: int, r: Any, ra: Any, ra_prep: Any, res_msg: Any, i: int) -> int:
    """Write field 1 (``resource``) of a ``Resource*`` container."""
    buf[pos] = 0x0A
    pos = wvar(buf, pos + 1, res_msg[i])
    starts = ra_prep[0]
    pos = wattrs(buf, pos, np.int64(0x0A), ra, starts[i], starts[i + 1], ra_prep[1], ra_prep[2])
    pos = wuvar(buf, pos, 0x10, pval(r[1], i))
    n = slen(r[2], i)
    if n > 0:
        pos = wraw(buf, pos, r[2], i, n)
    return pos


@work
def wscope(buf: Any, pos: int, c: Any, ca: Any, ca_prep: Any, scope_msg: Any, s: int) -> int:
    """Write field 1 (``scope``) of a ``Scope*`` container."""
    buf[pos] = 0x0A
    pos = wvar(buf, pos + 1, scope_msg[s])
    pos = wstr(buf, pos, 0x0A, c[1], s)
    pos = wstr(buf, pos, 0x12, c[2], s)
    starts = ca_prep[0]
    pos = wattrs(buf, pos, np.int64(0x1A), ca, starts[s], starts[s + 1], ca_prep[1], ca_prep[2])
    return wuvar(buf, pos, 0x20, pval(c[3], s))
