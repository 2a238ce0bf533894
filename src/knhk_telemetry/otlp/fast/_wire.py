"""Protobuf wire primitives and the validating first pass (numba kernels).

The first pass walks the whole message exactly as upb (the protobuf runtime behind the
reference decoder) parses it and fails where upb fails: a truncated or overlong varint, a tag
over 32 bits or with field number 0, wire types 6 and 7, an unmatched or unterminated group,
a length past its enclosing message (for a string field, after its UTF-8 was checked up to
the buffer's end: upb notices the overrun only then), a packed fixed-size field whose length
is not a multiple of the element size, invalid UTF-8 in a ``string`` field, and nesting deeper than upb's limit
of 100 (groups count as a level, as in upb). Unknown fields and known fields with another
wire type are skipped, their groups still checked. While walking it counts the messages of
every type id and the string bytes of every (type, field), which size the second pass's
output exactly.

Every read is bounds-checked against the end of the enclosing message: numba does not check.
The second pass only runs on input this pass accepted, so it can rely on the structure.
"""

# ruff: noqa: PLR0911, PLR0917
# (numba kernels: flat loops with early returns and many array arguments; `x in (a, b)` on
# ints is avoided because numba builds a tuple for it)

from __future__ import annotations

from typing import Any

import numpy as np
from llvmlite import ir  # type: ignore[import-untyped]
from numba import types
from numba.extending import intrinsic
from numpy.typing import NDArray

from knhk_telemetry.otlp.fast._jit import Int, jit, jit_inline
from knhk_telemetry.otlp.fast._schema import K_MESSAGE, K_PACKED, K_STRING, MAX_FIELD

OK = 0
CORRUPT = 1
BAD_UTF8 = 2
TOO_DEEP = 3
#: upb's default recursion limit (message and group nesting below the root)
MAX_DEPTH = 100

#: the text upb gives for each error code
ERROR_TEXT = {
    CORRUPT: "Wire format was corrupt",
    BAD_UTF8: "String field had bad UTF-8",
    TOO_DEEP: "Exceeded upb_DecodeOptions_MaxDepth",
}


def _unaligned_load(bits: Int) -> Any:
    """An intrinsic loading ``bits`` little-endian bits at ``arr[pos]``, unaligned.

    Plain ``arr[i]`` in numba also handles negative indices: a compare and add per byte on
    the hottest loops. The callers check ``0 <= pos`` and ``pos + bits // 8 <= len``."""
    ret = types.uint8 if bits == 8 else types.uint64

    def typer(typingctx: Any, arr: Any, pos: Any) -> Any:
        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            ary = context.make_array(signature.args[0])(context, builder, args[0])
            ptr = builder.gep(ary.data, [args[1]])
            return builder.load(builder.bitcast(ptr, ir.IntType(bits).as_pointer()), align=1)

        return ret(arr, types.intp), codegen

    typer.__name__ = f"_load{bits}"
    return intrinsic(typer)


_load8 = _unaligned_load(8)
_load64 = _unaligned_load(64)


@jit_inline
def u8(data: NDArray[np.uint8], i: Int) -> Int:
    """``data[i]`` for ``0 <= i < len(data)`` (checked by the caller)."""
    return _load8(data, i)


@jit_inline
def u64(data: NDArray[np.uint8], i: Int) -> Int:
    """The 8 bytes at ``data[i:i+8]`` as a little-endian word (``i + 8 <= len`` checked by the caller)."""
    return _load64(data, i)


@jit_inline
def read_varint(data: NDArray[np.uint8], pos: Int, end: Int) -> tuple[np.uint64, Int]:
    """``(value, next position)``; next position -1 if truncated or longer than 10 bytes.

    As upb: bits past 64 in the tenth byte are dropped."""
    if pos < end:  # most varints on the wire (lengths, enums, small ints) are one byte
        b0 = u8(data, pos)
        if b0 < 0x80:
            return np.uint64(b0), pos + 1
    result = np.uint64(0)
    shift = np.uint64(0)
    i = pos
    while i < end and i - pos < 10:
        b = u8(data, i)
        result |= np.uint64(b & 0x7F) << shift
        i += 1
        if b < 0x80:
            return result, i
        shift += np.uint64(7)
    return np.uint64(0), -1


@jit_inline
def read_tag(data: NDArray[np.uint8], pos: Int, end: Int) -> tuple[Int, Int]:
    """``(tag, next position)``; -1 for a tag upb refuses (over 5 bytes or 32 bits, field 0)."""
    if pos < end and u8(data, pos) < 0x80:
        tag = np.int64(u8(data, pos))
        if tag < 8:
            return np.int64(0), -1
        return tag, pos + 1
    value, nxt = read_varint(data, pos, end)
    if nxt < 0 or nxt - pos > 5 or value > np.uint64(0xFFFFFFFF) or value < np.uint64(8):
        return np.int64(0), -1
    return np.int64(value), nxt


@jit
def valid_utf8(data: NDArray[np.uint8], start: Int, end: Int) -> bool:
    """Strict UTF-8 (no overlongs, surrogates or code points over U+10FFFF), as upb and Python."""
    i = start
    while i + 8 <= end:  # ASCII runs a word at a time
        if u64(data, i) & np.uint64(0x8080808080808080):
            break
        i += 8
    while i < end:
        c = u8(data, i)
        if c < 0x80:
            i += 1
            continue
        if c < 0xC2 or c > 0xF4:
            return False
        if c < 0xE0:
            if i + 1 >= end or (data[i + 1] & 0xC0) != 0x80:
                return False
            i += 2
            continue
        if c < 0xF0:
            if i + 2 >= end:
                return False
            c1 = data[i + 1]
            lo = 0xA0 if c == 0xE0 else 0x80
            hi = 0x9F if c == 0xED else 0xBF
            if c1 < lo or c1 > hi or (data[i + 2] & 0xC0) != 0x80:
                return False
            i += 3
            continue
        if i + 3 >= end:
            return False
        c1 = data[i + 1]
        lo = 0x90 if c == 0xF0 else 0x80
        hi = 0x8F if c == 0xF4 else 0xBF
        if c1 < lo or c1 > hi or (data[i + 2] & 0xC0) != 0x80 or (data[i + 3] & 0xC0) != 0x80:
            return False
        i += 4
    return True


@jit_inline
def skip_plain(data: NDArray[np.uint8], pos: Int, end: Int, tag: Int) -> Int:
    """:func:`skip_field` for every wire type but groups (-2 for a group: call that one).

    Calls nothing, so it can be inlined into a hot loop (see ``_common.add_kv``)."""
    wt = tag & 7
    if wt == 2:
        n, nxt = read_varint(data, pos, end)
        if nxt < 0 or n > np.uint64(end - nxt):
            return -1
        return nxt + np.int64(n)
    if wt == 0:
        _, nxt = read_varint(data, pos, end)
        return nxt
    if wt == 1:
        return pos + 8 if pos + 8 <= end else -1
    if wt == 5:
        return pos + 4 if pos + 4 <= end else -1
    return -2 if wt == 3 else -1


@jit
def skip_field(data: NDArray[np.uint8], pos: Int, end: Int, tag: Int) -> Int:
    """Position after the value of a field whose tag was just read; -1 if malformed.

    Used by the second pass on validated input; groups are skipped with their nesting."""
    wt = tag & 7
    if wt == 0:
        _, nxt = read_varint(data, pos, end)
        return nxt
    if wt == 1:
        return pos + 8 if pos + 8 <= end else -1
    if wt == 5:
        return pos + 4 if pos + 4 <= end else -1
    if wt == 2:
        n, nxt = read_varint(data, pos, end)
        if nxt < 0 or n > np.uint64(end - nxt):
            return -1
        return nxt + np.int64(n)
    if wt == 3:
        depth = 1
        p = pos
        while depth > 0:
            t, p = read_tag(data, p, end)
            if p < 0:
                return -1
            w = t & 7
            if w == 3:
                depth += 1
            elif w == 4:
                depth -= 1
            elif w == 0:
                _, p = read_varint(data, p, end)
            elif w == 1:
                p = p + 8 if p + 8 <= end else -1
            elif w == 5:
                p = p + 4 if p + 4 <= end else -1
            elif w == 2:
                m, q = read_varint(data, p, end)
                p = -1 if q < 0 or m > np.uint64(end - q) else q + np.int64(m)
            else:
                return -1
            if p < 0:
                return -1
        return p
    return -1


@jit
def validate_at(
    data: NDArray[np.uint8],
    pos: Int,
    end: Int,
    root: Int,
    level: Int,
    group: Int,
    kind: NDArray[np.int8],
    wire: NDArray[np.int8],
    child: NDArray[np.int32],
    counts: NDArray[np.int64],
) -> tuple[Int, Int]:
    """Check ``data[pos:end]`` as the contents of a message of type ``root`` at nesting
    ``level`` (or, with ``group`` != 0, of a group of that field number, ending at its end-group
    tag); ``(error code, position after it)``.

    Adds to ``counts[t]`` one per message of type t below ``root``. The fill kernels call it
    for the parts of a message they do not parse themselves (nested values, unknown groups)."""
    n = data.shape[0]
    st_end = np.empty(MAX_DEPTH + 2, dtype=np.int64)
    st_tid = np.empty(MAX_DEPTH + 2, dtype=np.int64)
    st_grp = np.empty(MAX_DEPTH + 2, dtype=np.int64)
    base = level
    tid = root
    grp = group
    while True:
        if pos >= end:
            if grp != 0:
                return CORRUPT, pos  # group not closed inside its enclosing message
            if level == base:
                return OK, pos
            level -= 1
            end = st_end[level - base]
            tid = st_tid[level - base]
            grp = st_grp[level - base]
            continue
        tag, nxt = read_tag(data, pos, end)
        if nxt < 0:
            return CORRUPT, pos
        pos = nxt
        fnum = tag >> 3
        wt = tag & 7
        if wt == 0:
            _, nxt = read_varint(data, pos, end)
            if nxt < 0:
                return CORRUPT, pos
            pos = nxt
        elif wt == 1:
            if pos + 8 > end:
                return CORRUPT, pos
            pos += 8
        elif wt == 5:
            if pos + 4 > end:
                return CORRUPT, pos
            pos += 4
        elif wt == 2:
            length, nxt = read_varint(data, pos, end)
            if nxt < 0:
                return CORRUPT, pos
            k = kind[tid, fnum] if fnum < MAX_FIELD else 0
            if k == K_STRING and length <= np.uint64(n - nxt) and length > np.uint64(end - nxt):
                # as upb: a string is bounded by the buffer first, its UTF-8 checked, and only
                # then the overrun of its enclosing message noticed
                if not valid_utf8(data, nxt, nxt + np.int64(length)):
                    return BAD_UTF8, nxt
                return CORRUPT, pos
            if length > np.uint64(end - nxt):
                return CORRUPT, pos
            start = nxt
            stop = nxt + np.int64(length)
            if k == K_MESSAGE:
                if level + 1 > MAX_DEPTH:
                    return TOO_DEEP, pos
                st_end[level - base] = end
                st_tid[level - base] = tid
                st_grp[level - base] = grp
                level += 1
                tid = child[tid, fnum]
                counts[tid] += 1
                grp = 0
                pos = start
                end = stop
                continue
            if k == K_STRING:
                if not valid_utf8(data, start, stop):
                    return BAD_UTF8, start
            elif k == K_PACKED:
                ew = wire[tid, fnum]
                if ew == 1:
                    if (stop - start) % 8 != 0:
                        return CORRUPT, start
                elif ew == 5:
                    if (stop - start) % 4 != 0:
                        return CORRUPT, start
                else:
                    p = start
                    while p < stop:
                        _, p = read_varint(data, p, stop)
                        if p < 0:
                            return CORRUPT, start
            pos = stop
        elif wt == 3:
            if level + 1 > MAX_DEPTH:
                return TOO_DEEP, pos
            st_end[level - base] = end
            st_tid[level - base] = tid
            st_grp[level - base] = grp
            level += 1
            tid = 0
            grp = fnum
        elif wt == 4:
            if grp != fnum:
                return CORRUPT, pos
            if level == base:
                return OK, pos  # the end of the group this call was asked to check
            level -= 1
            end = st_end[level - base]
            tid = st_tid[level - base]
            grp = st_grp[level - base]
        else:
            return CORRUPT, pos


@jit
def validate(
    data: NDArray[np.uint8],
    root: Int,
    kind: NDArray[np.int8],
    wire: NDArray[np.int8],
    child: NDArray[np.int32],
    counts: NDArray[np.int64],
) -> tuple[Int, Int]:
    """Check ``data`` as a message of type ``root``; ``(error code, position)``.

    Adds to ``counts[t]`` one per message of type t. This is the exact check whose error
    the decoder reports; the fill kernels only run it once they found something wrong."""
    counts[root] += 1
    return validate_at(data, 0, data.shape[0], root, 0, 0, kind, wire, child, counts)


@jit
def check_field(
    data: NDArray[np.uint8],
    pos: Int,
    end: Int,
    tag: Int,
    tid: Int,
    level: Int,
    kind: NDArray[np.int8],
    wire: NDArray[np.int8],
    child: NDArray[np.int32],
) -> Int:
    """Position after the value of field ``tag`` (just read) of a message of type ``tid`` at
    nesting ``level``, checked as :func:`validate` would check it; -1 where that would fail.

    The fill kernels call it for every field they do not handle themselves (unknown fields,
    known ones with another wire type, submessages they do not descend into)."""
    wt = tag & 7
    if wt == 0:
        _, nxt = read_varint(data, pos, end)
        return nxt
    if wt == 1:
        return pos + 8 if pos + 8 <= end else -1
    if wt == 5:
        return pos + 4 if pos + 4 <= end else -1
    if wt == 3:
        if level + 1 > MAX_DEPTH:
            return -1
        scratch = np.zeros(kind.shape[0], dtype=np.int64)
        code, nxt = validate_at(data, pos, end, 0, level + 1, tag >> 3, kind, wire, child, scratch)
        return nxt if code == OK else -1
    if wt != 2:
        return -1
    length, nxt = read_varint(data, pos, end)
    if nxt < 0 or length > np.uint64(end - nxt):
        return -1
    start = nxt
    stop = nxt + np.int64(length)
    fnum = tag >> 3
    k = kind[tid, fnum] if fnum < MAX_FIELD else 0
    if k == K_MESSAGE:
        if level + 1 > MAX_DEPTH:
            return -1
        scratch = np.zeros(kind.shape[0], dtype=np.int64)
        code, _ = validate_at(data, start, stop, child[tid, fnum], level + 1, 0, kind, wire, child, scratch)
        return stop if code == OK else -1
    if k == K_STRING:
        return stop if valid_utf8(data, start, stop) else -1
    if k == K_PACKED:
        ew = wire[tid, fnum]
        if ew == 1:
            return stop if (stop - start) % 8 == 0 else -1
        if ew == 5:
            return stop if (stop - start) % 4 == 0 else -1
        p = start
        while p < stop:
            _, p = read_varint(data, p, stop)
            if p < 0:
                return -1
    return stop
