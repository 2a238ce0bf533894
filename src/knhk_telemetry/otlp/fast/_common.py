"""Kernels shared by the signals: dictionaries, attribute tables, AnyValues, string gathering.

All of them run on input the validating pass accepted (so the structure is known good) and
still never read past the ``end`` they are given.

Dictionaries are open-addressing hash tables over the input bytes: a dictionary-encoded
column gets its indices and its distinct values in one pass, with no Python object per cell.
A value only used by an item refused afterwards (a span with a bad id) may stay in a
dictionary; the column's values never reference it.
"""

# ruff: noqa: PLR0911, PLR0917, PLR1714, SIM109
# (numba kernels: flat loops with early returns and many array arguments; `x in (a, b)` on
# ints is avoided because numba builds a tuple for it)

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from knhk_telemetry.otlp.fast._jit import Int, jit, jit_inline
from knhk_telemetry.otlp.fast._wire import check_field, read_tag, read_varint, u8, u64, valid_utf8

Arr = NDArray[Any]

# -- small readers ---------------------------------------------------------------------


@jit_inline
def read_len(data: Arr, pos: Int, end: Int) -> tuple[Int, Int]:
    """``(start, stop)`` of a length-delimited value whose length starts at ``pos``; stop -1
    when the length is malformed or runs past ``end``."""
    n, q = read_varint(data, pos, end)
    if q < 0 or n > np.uint64(end - q):
        return end, -1
    return q, q + np.int64(n)


@jit_inline
def read_fixed64(data: Arr, pos: Int) -> Int:
    if pos >= 0 and pos + 8 <= data.shape[0]:
        return u64(data, pos)
    return np.uint64(0)  # unreachable on validated input


@jit_inline
def read_fixed32(data: Arr, pos: Int) -> np.uint32:
    v = np.uint32(0)
    for k in range(4):
        v |= np.uint32(data[pos + k]) << np.uint32(8 * k)
    return v


@jit_inline
def as_int32(v: np.uint64) -> Int:
    """A varint read as int32 (upb keeps the low 32 bits)."""
    low = int(v & np.uint64(0xFFFFFFFF))
    return low - 0x100000000 if low >= 0x80000000 else low


@jit
def copy_bytes(src: Arr, s: Int, dst: Arr, d: Int, n: Int) -> None:
    for k in range(n):
        dst[d + k] = src[s + k]


# -- dictionaries ----------------------------------------------------------------------
# A dictionary set is three arrays: ``slots[k]`` the open-addressing table of dictionary k,
# ``uniq[k, j]`` its j-th distinct value (``(start, length)`` of a string in the input, or
# ``(value, 0)`` for a 64-bit number) and ``meta[k]`` = (number of values, slot mask). Few
# flat arrays rather than tuples of many: each array argument costs a numba call its struct.


@jit
def new_dicts(k: Int, cap: Int) -> tuple[Arr, Arr, Arr]:
    """``k`` empty dictionaries for at most ``cap`` distinct values each."""
    size = 16
    while size < 2 * cap:
        size *= 2
    slots = np.full((k, size), -1, dtype=np.int32)
    meta = np.zeros((k, 2), dtype=np.int64)
    meta[:, 1] = size - 1
    return slots, np.empty((k, max(cap, 1), 2), dtype=np.int64), meta


@jit_inline
def load_word(data: Arr, s: Int, n: Int) -> Int:
    """Up to 8 bytes at ``s`` (``n`` of them, little-endian) as one word.

    Short strings are one masked 8-byte load where the buffer allows (a byte loop at its
    very end): no loop whose exit the branch predictor must guess (``bench/decode.py``,
    helpers: ``same_bytes``)."""
    if n >= 8:
        return read_fixed64(data, s)
    if s >= 0 and s + 8 <= data.shape[0]:
        return u64(data, s) & ((np.uint64(1) << np.uint64(8 * n)) - np.uint64(1))
    w = np.uint64(0)
    for j in range(n):
        w |= np.uint64(u8(data, s + j)) << np.uint64(8 * j)
    return w


@jit_inline
def hash_bytes(data: Arr, s: Int, n: Int) -> Int:
    """A hash from the length and the first and last 8 bytes: constant time per string.

    Distinct strings agreeing on all three collide (then the probe compares bytes), which
    attribute keys and values practically never do."""
    h = load_word(data, s, n) * np.uint64(0x9E3779B97F4A7C15)
    if n > 8:
        h ^= load_word(data, s + n - 8, 8) * np.uint64(0xC2B2AE3D27D4EB4F)
    h ^= np.uint64(n) * np.uint64(0x165667B19E3779F9)
    h ^= h >> np.uint64(29)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    return h ^ (h >> np.uint64(32))


@jit_inline
def same_bytes(data: Arr, a: Int, b: Int, n: Int) -> bool:
    """``data[a:a+n] == data[b:b+n]`` for ranges inside ``data``, in 8-byte words: the last
    word overlaps the one before it, and a string under 8 bytes is one masked word, so the
    usual key or value takes two or three compares and no byte loop."""
    if n >= 8:
        k = 0
        while k + 8 < n:
            if u64(data, a + k) != u64(data, b + k):
                return False
            k += 8
        return bool(u64(data, a + n - 8) == u64(data, b + n - 8))
    if n <= 0:
        return True
    return bool(load_word(data, a, n) == load_word(data, b, n))


@jit
def intern_str(data: Arr, s: Int, n: Int, slots: Arr, uniq: Arr, meta: Arr, d: Int) -> Int:
    """Index of ``data[s:s+n]`` in dictionary ``d``, adding it when new; -1 when it is new and
    not UTF-8 (so a string column's bytes are checked once per distinct value, not per cell)."""
    mask = meta[d, 1]
    i = np.int64(hash_bytes(data, s, n) & np.uint64(mask))
    while True:
        j = slots[d, i]
        if j < 0:
            if not valid_utf8(data, s, s + n):
                return np.int64(-1)
            j = meta[d, 0]
            uniq[d, j, 0] = s
            uniq[d, j, 1] = n
            meta[d, 0] = j + 1
            slots[d, i] = j
            return np.int64(j)
        if uniq[d, j, 1] == n and same_bytes(data, uniq[d, j, 0], s, n):
            return np.int64(j)
        i = (i + 1) & mask


@jit_inline
def intern_num(value: np.int64, slots: Arr, uniq: Arr, meta: Arr, d: Int) -> Int:
    mask = meta[d, 1]
    h = np.uint64(value) * np.uint64(0x9E3779B97F4A7C15)
    i = np.int64((h ^ (h >> np.uint64(32))) & np.uint64(mask))
    while True:
        j = slots[d, i]
        if j < 0:
            j = meta[d, 0]
            uniq[d, j, 0] = value
            meta[d, 0] = j + 1
            slots[d, i] = j
            return np.int64(j)
        if uniq[d, j, 0] == value:
            return np.int64(j)
        i = (i + 1) & mask


@jit
def dict_strings(data: Arr, uniq: Arr, meta: Arr, d: Int) -> tuple[Arr, Arr]:
    """The distinct values of string dictionary ``d`` as Arrow offsets and data."""
    n = np.int64(meta[d, 0])
    return gather(data, uniq[d, :n, 0], uniq[d, :n, 1], n)


@jit
def dict_numbers(uniq: Arr, meta: Arr, d: Int) -> Arr:
    """The distinct values of number dictionary ``d`` (int64; doubles as their bits)."""
    return uniq[d, : meta[d, 0], 0].copy()


@jit
def gather(data: Arr, starts: Arr, lens: Arr, n: Int) -> tuple[Arr, Arr]:
    """Arrow ``int32`` offsets and data of ``n`` byte strings given as slices of ``data``.

    The copy is inline and skips empty strings: most rows of the columns gathered (an
    attribute table's bytes, a span's trace state) are empty, and a copy call per row made it
    3.7x slower (``bench/decode.py``, helpers)."""
    offsets = np.empty(n + 1, dtype=np.int32)
    total = 0
    for i in range(n):
        offsets[i] = total
        total += lens[i]
    offsets[n] = total
    out = np.empty(total, dtype=np.uint8)
    if total:
        for i in range(n):
            m = lens[i]
            if m:
                s = starts[i]
                d = offsets[i]
                for k in range(m):
                    out[d + k] = data[s + k]
    return offsets, out


@jit
def bitmap(valid: Arr, n: Int) -> tuple[Arr, Int]:
    """An Arrow validity bitmap of ``valid[:n]`` and its null count; eight flags per byte
    without a branch (a third of the time of a bit-by-bit loop on sparse columns)."""
    out = np.zeros((n + 7) // 8, dtype=np.uint8)
    ones = 0
    full = n >> 3
    for j in range(full):
        b = 0
        for k in range(8):
            x = 1 if valid[8 * j + k] else 0
            b |= x << k
            ones += x
        out[j] = np.uint8(b)
    for i in range(full * 8, n):
        if valid[i]:
            out[i >> 3] |= np.uint8(1 << (i & 7))
            ones += 1
    return out, n - ones


# -- canonical nested values -----------------------------------------------------------

_ARRAY, _KVLIST, _KV, _ANY = 0, 1, 2, 3


@jit
def _minimal(data: Arr, p: Int, q: Int, v: np.uint64) -> bool:
    """Whether the varint ``data[p:q]`` (value ``v``) is the shortest encoding of ``v``."""
    size = 1
    x = v >> np.uint64(7)
    while x != np.uint64(0):
        size += 1
        x >>= np.uint64(7)
    if q - p != size:
        return False
    return size < 10 or data[q - 1] == 1


@jit
def _canonical_int32(data: Arr, p: Int, q: Int, v: np.uint64) -> bool:
    return np.uint64(np.int64(as_int32(v))) == v and _minimal(data, p, q, v)


@jit
def canonical_nested(data: Arr, s: Int, e: Int, top: Int) -> bool:
    """Whether ``data[s:e]`` (an ArrayValue, top 0, or KeyValueList, top 1) is byte for byte
    what upb's ``SerializeToString`` writes for it after parsing.

    That holds when every field is known, in field-number order, written once with the
    shortest varints, and proto3 defaults (an empty key) are left out: then the reference's
    re-serialization equals the input bytes and they can be copied."""
    st_end = np.empty(128, dtype=np.int64)
    st_kind = np.empty(128, dtype=np.int64)
    st_state = np.empty(128, dtype=np.int64)
    lvl = 0
    end = e
    k = top
    state: Int = 0
    p = s
    while True:
        if p >= end:
            if lvl == 0:
                return True
            lvl -= 1
            end = st_end[lvl]
            k = st_kind[lvl]
            state = st_state[lvl]
            continue
        b = np.int64(data[p])
        if b >= 0x80:
            return False
        p += 1
        child = -1
        if k == _ARRAY or k == _KVLIST:
            if b != 0x0A:
                return False
            child = _ANY if k == _ARRAY else _KV
        elif k == _KV:
            f = b >> 3
            if f <= state:
                return False
            state = f
            if b == 0x0A:
                n, q = read_varint(data, p, end)
                if q < 0 or n == np.uint64(0) or not _minimal(data, p, q, n):
                    return False
                p = q + np.int64(n)
                continue
            if b == 0x12:
                child = _ANY
            elif b == 0x18:
                v, q = read_varint(data, p, end)
                if q < 0 or v == np.uint64(0) or not _canonical_int32(data, p, q, v):
                    return False
                p = q
                continue
            else:
                return False
        else:
            if state != 0:
                return False
            state = 1
            if b == 0x0A or b == 0x3A:
                n, q = read_varint(data, p, end)
                if q < 0 or not _minimal(data, p, q, n):
                    return False
                p = q + np.int64(n)
                continue
            if b == 0x10:
                if p >= end or data[p] > 1:
                    return False
                p += 1
                continue
            if b == 0x18:
                v, q = read_varint(data, p, end)
                if q < 0 or not _minimal(data, p, q, v):
                    return False
                p = q
                continue
            if b == 0x21:
                p += 8
                continue
            if b == 0x40:
                v, q = read_varint(data, p, end)
                if q < 0 or not _canonical_int32(data, p, q, v):
                    return False
                p = q
                continue
            if b == 0x2A:
                child = _ARRAY
            elif b == 0x32:
                child = _KVLIST
            else:
                return False
        n, q = read_varint(data, p, end)
        if q < 0 or n > np.uint64(end - q) or not _minimal(data, p, q, n) or lvl >= 127:
            return False
        st_end[lvl] = end
        st_kind[lvl] = k
        st_state[lvl] = state
        lvl += 1
        end = q + np.int64(n)
        k = child
        state = 0
        p = q


# -- AnyValue and attribute tables -----------------------------------------------------

#: AnyValue parse state: type (-1 absent, 8 = string_value_strindex), nested occurrences,
#: value slice, int/double bits, bool
V_TYPE, V_NESTED, V_S, V_N, V_BITS, V_BOOL = 0, 1, 2, 3, 4, 5


def _parse_any(data: Arr, pos: Int, end: Int, v: Arr, level: Int, kind: Arr, wire: Arr, child: Arr, t_any: Int) -> bool:
    """Apply one AnyValue occurrence ``data[pos:end]`` (at nesting ``level``) to the state
    ``v`` (merging, as protobuf does when a value field occurs twice); False where the
    validating pass would fail.

    A ``string_value`` is left for the caller's dictionary to check as UTF-8, unless a later
    field replaces it: then it is checked here."""
    v[V_TYPE] = max(v[V_TYPE], 0)
    p = pos
    while p < end:
        tag, p = read_tag(data, p, end)
        if p < 0:
            return False
        f = tag >> 3
        wt = tag & 7
        known = (wt == 2 and (f == 1 or f == 5 or f == 6 or f == 7)) or (wt == 0 and (f == 2 or f == 3 or f == 8))
        known = known or (wt == 1 and f == 4)
        if known and v[V_TYPE] == 1 and not valid_utf8(data, v[V_S], v[V_S] + v[V_N]):
            return False  # a replaced string_value is still checked
        if wt == 2 and (f == 1 or f == 5 or f == 6 or f == 7):
            if f == 5 or f == 6:
                if check_field(data, p, end, tag, t_any, level, kind, wire, child) < 0:
                    return False
                if v[V_TYPE] != f:
                    v[V_NESTED] = 0
                v[V_NESTED] += 1
            s, e = read_len(data, p, end)
            if e < 0:
                return False
            v[V_TYPE] = f
            v[V_S] = s
            v[V_N] = e - s
            p = e
        elif wt == 0 and (f == 2 or f == 3 or f == 8):
            x, p = read_varint(data, p, end)
            if p < 0:
                return False
            v[V_TYPE] = f
            if f == 2:
                v[V_BOOL] = 1 if x != np.uint64(0) else 0
            elif f == 3:
                v[V_BITS] = np.int64(x)
        elif wt == 1 and f == 4:
            if p + 8 > end:
                return False
            v[V_TYPE] = 4
            v[V_BITS] = np.int64(read_fixed64(data, p))
            p += 8
        else:
            p = check_field(data, p, end, tag, t_any, level, kind, wire, child)
            if p < 0:
                return False
    return True


#: ``_parse_any`` inlined (into ``add_kv``, which is itself a call) and as a call (see
#: ``add_kv`` on inlining helpers that call others)
parse_any = jit_inline(_parse_any)
parse_any_call = jit(_parse_any)


# attribute table columns (rows of ``cols``)
C_ROW, C_KEY, C_TYPE, C_STR, C_INT, C_DBL, C_BOOL, C_BST, C_BLN = 0, 1, 2, 3, 4, 5, 6, 7, 8
# its dictionaries
D_KEY, D_STR, D_INT, D_DBL = 0, 1, 2, 3
#: attributes per parent whose key and string value are remembered by position
CACHED = 64
# the columns of that cache
K_KS, K_KN, K_KIDX, K_VS, K_VN, K_VIDX = 0, 1, 2, 3, 4, 5


@jit
def new_attrs(n: Int) -> tuple[Arr, Arr, Arr, Arr, Arr, Arr, Arr]:
    """An attribute table with room for ``n`` rows: ``(cols, fallbacks, counters, slots,
    uniq, meta, cache)``; counters are (rows, fallbacks).

    ``cache[j]`` is the key and string value last seen at position j of a parent's attribute
    list with their dictionary indices: one SDK writes the same keys in the same order, so
    most lookups are a byte comparison instead of a hash probe."""
    slots, uniq, meta = new_dicts(4, n)
    cache = np.zeros((CACHED, 6), dtype=np.int64)
    cache[:, K_KN] = -1
    cache[:, K_VN] = -1
    return (
        np.zeros((9, max(n, 1)), dtype=np.int64),
        np.empty((3, max(n, 1)), dtype=np.int64),
        np.zeros(2, dtype=np.int64),
        slots,
        uniq,
        meta,
        cache,
    )


@jit_inline
def cached_str(data: Arr, s: Int, n: Int, slots: Arr, uniq: Arr, meta: Arr, d: Int, cache: Arr, j: Int, c: Int) -> Int:
    """:func:`intern_str` through the position cache ``cache[j, c:c+3]`` (start, length, index)."""
    if j < CACHED:
        if cache[j, c + 1] == n and same_bytes(data, cache[j, c], s, n):
            return cache[j, c + 2]
        idx = intern_str(data, s, n, slots, uniq, meta, d)
        cache[j, c] = s
        cache[j, c + 1] = n
        cache[j, c + 2] = idx
        return idx
    return intern_str(data, s, n, slots, uniq, meta, d)


@jit_inline
def cached_num(value: np.int64, slots: Arr, uniq: Arr, meta: Arr, d: Int, cache: Arr, j: Int) -> Int:
    """:func:`intern_num` through the position cache: a number equal to the one at position
    ``j`` of the previous parent (a status code, a port) skips the hash probe. A number is
    marked by ``cache[j, K_VN] == -2 - d`` (string lengths are >= 0, the empty mark is -1)."""
    if cache[j, K_VN] == -2 - d and cache[j, K_VS] == value:
        return cache[j, K_VIDX]
    idx = intern_num(value, slots, uniq, meta, d)
    cache[j, K_VS] = value
    cache[j, K_VN] = -2 - d
    cache[j, K_VIDX] = idx
    return idx


def _add_kv(
    data: Arr,
    pos: Int,
    end: Int,
    row: Int,
    j: Int,
    cols: Arr,
    fb: Arr,
    cnt: Arr,
    slots: Arr,
    uniq: Arr,
    meta: Arr,
    cache: Arr,
    v: Arr,
    level: Int,
    kind: Arr,
    wire: Arr,
    child: Arr,
    t_kv: Int,
    t_any: Int,
) -> bool:
    """Append the KeyValue ``data[pos:end]`` (at nesting ``level``, the ``j``-th of parent
    ``row``) to an attribute table; False where the validating pass would fail (or the
    table is full, which only invalid input can cause)."""
    i = cnt[0]
    if i >= cols.shape[1]:
        return False
    ks = pos
    kn = 0
    v[V_TYPE] = -1
    v[V_NESTED] = 0
    p = pos
    while p < end:
        tag, p = read_tag(data, p, end)
        if p < 0:
            return False
        if tag == 0x0A:
            if kn > 0 and not valid_utf8(data, ks, ks + kn):
                return False  # a replaced key is still checked
            s, e = read_len(data, p, end)
            if e < 0:
                return False
            ks = s
            kn = e - s
            p = e
        elif tag == 0x12:
            s, e = read_len(data, p, end)
            if e < 0 or not parse_any(data, s, e, v, level + 1, kind, wire, child, t_any):
                return False
            p = e
        else:
            p = check_field(data, p, end, tag, t_kv, level, kind, wire, child)
            if p < 0:
                return False
    key = cached_str(data, ks, kn, slots, uniq, meta, D_KEY, cache, j, K_KS)
    if key < 0:
        return False
    cols[C_ROW, i] = row
    cols[C_KEY, i] = key
    t = v[V_TYPE]
    if t == 8:
        t = 0
    cols[C_TYPE, i] = t
    if t == 1:
        x = cached_str(data, v[V_S], v[V_N], slots, uniq, meta, D_STR, cache, j, K_VS)
        if x < 0:
            return False
        cols[C_STR, i] = x
    elif t == 2:
        cols[C_BOOL, i] = v[V_BOOL]
    elif t == 3:
        cols[C_INT, i] = intern_num(v[V_BITS], slots, uniq, meta, D_INT)
    elif t == 4:
        cols[C_DBL, i] = intern_num(v[V_BITS], slots, uniq, meta, D_DBL)
    elif t >= 5:
        cols[C_BST, i] = v[V_S]
        cols[C_BLN, i] = v[V_N]
        if t != 7 and not (v[V_NESTED] == 1 and canonical_nested(data, v[V_S], v[V_S] + v[V_N], t - 5)):
            f = cnt[1]
            fb[0, f] = i
            fb[1, f] = pos
            fb[2, f] = end
            cnt[1] = f + 1
    cnt[0] = i + 1
    return True


#: ``_add_kv`` as a call. Never inlined: numba inlines at the IR level, and an inlined helper
#: that itself calls a compiled function (``intern_str``, ``check_field``) slows every
#: iteration of the caller's loop by ~20 ns even when that call never runs (measured); the
#: kernels handle the common KeyValue shape in their own loop body and call this for the rest.
add_kv = jit(_add_kv)


@jit
def finish_attrs(
    data: Arr, cols: Arr, fb: Arr, cnt: Arr, slots: Arr, uniq: Arr, meta: Arr, cache: Arr
) -> tuple[Any, ...]:
    """The Arrow buffers of an attribute table (see ``_arrow.attribute_table``)."""
    n = np.int64(cnt[0])
    typ = np.empty(n, dtype=np.int8)
    idx = np.zeros((5, n), dtype=np.int32)  # row, key, str, int, double
    valid = np.zeros((6, n), dtype=np.uint8)  # type, str, int, double, bool, bytes
    bool_vals = np.zeros(n, dtype=np.uint8)
    bst = np.zeros(n, dtype=np.int64)
    bln = np.zeros(n, dtype=np.int64)
    for i in range(n):
        t = cols[C_TYPE, i]
        typ[i] = t
        idx[0, i] = cols[C_ROW, i]
        idx[1, i] = cols[C_KEY, i]
        if t >= 0:
            valid[0, i] = 1
        if t == 1:
            valid[1, i] = 1
            idx[2, i] = cols[C_STR, i]
        elif t == 3:
            valid[2, i] = 1
            idx[3, i] = cols[C_INT, i]
        elif t == 4:
            valid[3, i] = 1
            idx[4, i] = cols[C_DBL, i]
        elif t == 2:
            valid[4, i] = 1
            bool_vals[i] = cols[C_BOOL, i]
        elif t >= 5:
            valid[5, i] = 1
            bst[i] = cols[C_BST, i]
            bln[i] = cols[C_BLN, i]
    nf = cnt[1]
    return (
        n,
        idx,
        typ,
        bitmap(valid[0], n),
        bitmap(valid[1], n),
        bitmap(valid[2], n),
        bitmap(valid[3], n),
        bitmap(valid[4], n),
        bitmap(valid[5], n),
        bitmap(bool_vals, n)[0],
        dict_strings(data, uniq, meta, D_KEY),
        dict_strings(data, uniq, meta, D_STR),
        dict_numbers(uniq, meta, D_INT),
        dict_numbers(uniq, meta, D_DBL),
        gather(data, bst, bln, n),
        fb[:, :nf].copy(),
    )
