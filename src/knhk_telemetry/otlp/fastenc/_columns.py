"""Arrow columns as the read-only numpy views the kernels take (no copy of the data).

Every column becomes a small tuple of one fixed shape per kind, so the kernels compile once
whatever the batch looks like (sliced, chunked, with or without nulls, dictionary or plain):

- ``P`` (fixed-width numbers): ``(values, validity, offset)``: ``values`` already sliced
  to the array's rows; doubles are viewed as ``uint64`` bits.
- ``B`` (booleans): ``(bits, validity, offset)``: value and validity bit ``offset + i``.
- ``S`` (strings, binaries, dictionaries of them): ``(indices, validity, offset,
  value_offsets, value_data)``: value ``indices[i]`` of a dictionary; a plain column gets
  the identity as indices.
- ``D`` (dictionaries of numbers): ``(indices, validity, offset, values)``.
- ``F`` (fixed-size binary): ``(data, validity, offset)``: ``data`` sliced to the rows.
- ``L`` (lists of numbers): ``(value_offsets, validity, offset, values P)``: the items of
  row ``i`` (when valid) are ``values`` rows ``value_offsets[i]`` to ``value_offsets[i + 1]``.
- ``Q`` (lists of ``{quantile, value}`` structs): ``(value_offsets, validity, offset,
  quantiles P, values P)``, the struct fields as two ``P`` columns.

``validity`` is the Arrow bitmap (bit ``offset + i``), empty when the column has no nulls.
Chunked columns are combined first (pyarrow unifies dictionaries then).
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa

Array: TypeAlias = np.ndarray[Any, Any]
P: TypeAlias = tuple[Array, Array, int]
S: TypeAlias = tuple[Array, Array, int, Array, Array]
D: TypeAlias = tuple[Array, Array, int, Array]
L: TypeAlias = tuple[Array, Array, int, P]
Q: TypeAlias = tuple[Array, Array, int, P, P]


def _ro(a: Array) -> Array:
    v = a.view()
    v.flags.writeable = False
    return v


EMPTY_U8 = _ro(np.zeros(0, np.uint8))
_ZERO_OFFSETS = _ro(np.zeros(1, np.int32))
_identity = _ro(np.arange(1024, dtype=np.int32))


_nulls = _ro(np.zeros(128, np.uint8))
_EMPTY: dict[Any, Array] = {}
_ZEROS: dict[Any, Array] = {}


def null_bitmap(n: int) -> Array:
    """A validity bitmap of ``n`` nulls (a shared read-only array, grown on demand)."""
    global _nulls  # noqa: PLW0603 (one shared, grow-only cache)
    size = (n + 7) // 8
    if size > len(_nulls):
        _nulls = _ro(np.zeros(max(size, 2 * len(_nulls)), np.uint8))
    return _nulls


def _empty(dtype: Any) -> Array:
    """A shared read-only empty array of ``dtype``."""
    key = np.dtype(dtype)
    if key not in _EMPTY:
        _EMPTY[key] = _ro(np.zeros(0, key))
    return _EMPTY[key]


def _all_null(arr: pa.Array) -> bool:
    return len(arr) > 0 and arr.null_count == len(arr)


def identity(n: int) -> Array:
    """``0..n-1`` as int32 (a shared read-only array, grown on demand)."""
    global _identity  # noqa: PLW0603 (one shared, grow-only cache)
    if n > len(_identity):
        _identity = _ro(np.arange(max(n, 2 * len(_identity)), dtype=np.int32))
    return _identity[:n]


def array(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """One contiguous array of a (possibly chunked) column."""
    if isinstance(column, pa.ChunkedArray):
        return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return column


def _validity(arr: pa.Array, buffers: list[pa.Buffer | None]) -> tuple[Array, int]:
    if arr.null_count == 0:
        return EMPTY_U8, 0
    if buffers[0] is None:  # e.g. a null-typed column: derive the bitmap
        bits = np.packbits(np.asarray(arr.is_valid()), bitorder="little")
        return _ro(bits), 0
    return _ro(np.frombuffer(buffers[0], np.uint8)), arr.offset


def _values(buf: pa.Buffer | None, dtype: Any, offset: int, n: int) -> Array:
    if buf is None or n == 0:
        return _ro(np.zeros(0, dtype))
    return _ro(np.frombuffer(buf, dtype, count=offset + n)[offset:])


def _values_of_nulls(n: int, dtype: Any) -> Array:
    """Values for ``n`` null rows: zeros, shared per dtype (a parent column still needs its
    length, so this is never empty)."""
    key = np.dtype(dtype)
    have = _ZEROS.get(key)
    if have is None or len(have) < n:
        have = _ro(np.zeros(max(n, 1024), key))
        _ZEROS[key] = have
    return have[:n]


def prim(column: pa.ChunkedArray | pa.Array, arrow_type: pa.DataType, dtype: Any) -> P:
    """A fixed-width number column as ``P`` (cast to ``arrow_type`` if it is not)."""
    arr = array(column)
    if _all_null(arr):  # the kernels never read the values of null rows
        return _values_of_nulls(len(arr), dtype), null_bitmap(len(arr)), 0
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if not arr.type.equals(arrow_type):
        arr = arr.cast(arrow_type)
    buffers = arr.buffers()
    valid, off = _validity(arr, buffers)
    return _values(buffers[1], dtype, arr.offset, len(arr)), valid, off


def boolean(column: pa.ChunkedArray | pa.Array) -> P:
    """A boolean column as ``B``."""
    arr = array(column)
    if _all_null(arr):
        return null_bitmap(len(arr)), null_bitmap(len(arr)), 0
    if not pa.types.is_boolean(arr.type):
        arr = arr.cast(pa.bool_())
    buffers = arr.buffers()
    if arr.null_count == 0:
        valid, voff = EMPTY_U8, arr.offset
    else:
        valid, voff = _validity(arr, buffers)
    if buffers[1] is None or len(arr) == 0:
        return _ro(np.zeros(1, np.uint8)), EMPTY_U8, 0
    bits = _ro(np.frombuffer(buffers[1], np.uint8))
    if valid is not EMPTY_U8 and voff != arr.offset:  # derived bitmap starts at bit 0
        bits = _ro(np.packbits(np.asarray(arr.fill_null(False)), bitorder="little"))
        return bits, valid, 0
    return bits, valid, arr.offset


def _binary_parts(arr: pa.Array) -> tuple[Array, Array]:
    """``(value_offsets, data)`` of a string/binary array, offsets sliced to its rows."""
    t = arr.type
    if not (pa.types.is_string(t) or pa.types.is_binary(t)):  # large or view layouts
        arr = arr.cast(pa.binary())
    n = len(arr)
    buffers = arr.buffers()
    if n == 0 or buffers[1] is None:
        return _ZERO_OFFSETS, EMPTY_U8
    offsets = np.frombuffer(buffers[1], np.int32, count=arr.offset + n + 1)[arr.offset :]
    data = EMPTY_U8 if buffers[2] is None else np.frombuffer(buffers[2], np.uint8)
    return _ro(offsets), _ro(data)


def strings(column: pa.ChunkedArray | pa.Array) -> S:
    """A string/binary column, plain or dictionary-encoded, as ``S``."""
    arr = array(column)
    if _all_null(arr):
        return identity(len(arr)), null_bitmap(len(arr)), 0, _ZERO_OFFSETS, EMPTY_U8
    if pa.types.is_dictionary(arr.type):
        if not arr.type.index_type.equals(pa.int32()):
            arr = arr.cast(pa.dictionary(pa.int32(), arr.type.value_type))
        dictionary = arr.dictionary
        if dictionary.null_count:  # a valid index to a null value: make it a null index
            arr = arr.cast(arr.type.value_type).dictionary_encode()
            dictionary = arr.dictionary
        indices = arr.indices
        ibuf = indices.buffers()
        valid, off = _validity(indices, ibuf)
        offsets, data = _binary_parts(dictionary)
        return _values(ibuf[1], np.int32, indices.offset, len(indices)), valid, off, offsets, data
    if pa.types.is_fixed_size_binary(arr.type):
        arr = arr.cast(pa.binary())
    valid, off = _validity(arr, arr.buffers())
    offsets, data = _binary_parts(arr)
    return identity(len(arr)), valid, off, offsets, data


def numbers(column: pa.ChunkedArray | pa.Array, arrow_type: pa.DataType, dtype: Any) -> D:
    """A number column, dictionary-encoded or plain, as ``D`` (values viewed as ``dtype``)."""
    arr = array(column)
    if _all_null(arr):
        return identity(len(arr)), null_bitmap(len(arr)), 0, _empty(dtype)
    if pa.types.is_dictionary(arr.type):
        if (
            arr.dictionary.null_count
            or not arr.type.value_type.equals(arrow_type)
            or not arr.type.index_type.equals(pa.int32())
        ):
            arr = arr.cast(arr.type.value_type).cast(arrow_type).dictionary_encode()
        indices = arr.indices
        ibuf = indices.buffers()
        valid, off = _validity(indices, ibuf)
        dictionary = arr.dictionary
        dbuf = dictionary.buffers()
        return (
            _values(ibuf[1], np.int32, indices.offset, len(indices)),
            valid,
            off,
            _values(dbuf[1], dtype, dictionary.offset, len(dictionary)),
        )
    values, valid, off = prim(arr, arrow_type, dtype)
    return identity(len(values)), valid, off, values


def fixed(column: pa.ChunkedArray | pa.Array, width: int) -> P:
    """A ``fixed_size_binary(width)`` column as ``F``."""
    arr = array(column)
    if _all_null(arr):
        return EMPTY_U8, null_bitmap(len(arr)), 0
    if not arr.type.equals(pa.binary(width)):
        arr = arr.cast(pa.binary(width))
    buffers = arr.buffers()
    valid, off = _validity(arr, buffers)
    n = len(arr)
    if n == 0 or buffers[1] is None:
        return EMPTY_U8, valid, off
    data = np.frombuffer(buffers[1], np.uint8, count=(arr.offset + n) * width)[arr.offset * width :]
    return _ro(data), valid, off


def parent(column: pa.ChunkedArray | pa.Array) -> Array:
    """A non-null int32 parent/row column as a plain array."""
    values, _valid, _off = prim(column, pa.int32(), np.int32)
    return values


def _list_parts(arr: pa.Array) -> tuple[Array, Array, int, pa.Array]:
    """``(value_offsets, validity, offset, items)`` of a list array with a valid row."""
    if not pa.types.is_list(arr.type):  # large lists, list views, fixed-size lists
        arr = arr.cast(pa.list_(arr.type.value_type))
    buffers = arr.buffers()
    valid, off = _validity(arr, buffers)
    offsets = np.frombuffer(buffers[1], np.int32, count=arr.offset + len(arr) + 1)[arr.offset :]
    return _ro(offsets), valid, off, arr.values  # offsets index ``values`` (the unsliced items)


def _no_rows(n: int) -> tuple[Array, Array, int]:
    """Offsets, validity and offset of a list column without a valid row (items never read)."""
    if n == 0:
        return _ZERO_OFFSETS, EMPTY_U8, 0
    return _values_of_nulls(n + 1, np.int32), null_bitmap(n), 0


def lists(column: pa.ChunkedArray | pa.Array, arrow_type: pa.DataType, dtype: Any) -> L:
    """A list-of-numbers column as ``L`` (items cast to ``arrow_type``, viewed as ``dtype``)."""
    arr = array(column)
    if len(arr) == 0 or _all_null(arr):
        return (*_no_rows(len(arr)), (_empty(dtype), EMPTY_U8, 0))
    offsets, valid, off, items = _list_parts(arr)
    return offsets, valid, off, prim(items, arrow_type, dtype)


def quantiles(column: pa.ChunkedArray | pa.Array) -> Q:
    """A ``list<struct<quantile, value>>`` column as ``Q`` (both fields as float64 bits)."""
    arr = array(column)
    if len(arr) == 0 or _all_null(arr):
        empty = (_empty(np.uint64), EMPTY_U8, 0)
        return (*_no_rows(len(arr)), empty, empty)
    offsets, valid, off, items = _list_parts(arr)
    fields = items.flatten()  # a null struct makes both fields null
    names = [items.type.field(k).name for k in range(items.type.num_fields)]
    f64 = pa.float64()
    quantile = prim(fields[names.index("quantile")], f64, np.uint64)
    return offsets, valid, off, quantile, prim(fields[names.index("value")], f64, np.uint64)
