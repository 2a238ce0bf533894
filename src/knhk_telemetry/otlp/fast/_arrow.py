"""Kernel output buffers -> Arrow arrays and tables, zero-copy (``from_buffers``).

The kernels hand back numpy arrays laid out as Arrow wants them (offsets, data, validity
bitmaps, dictionary indices and distinct values); this module only wraps them. The one
place that makes Python objects per value is :func:`_fallback_bytes`, for nested values the
reference re-serializes differently from the input (see ``_common.canonical_nested``) and for
resources with entity refs: both rare, and one object per such value, never per span.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from knhk_telemetry.model import schema as S
from knhk_telemetry.model.values import entity_ref_cell

Arr = np.ndarray[Any, Any]
_INT_DICT = S.ATTRIBUTES.field("int").type
_DBL_DICT = S.ATTRIBUTES.field("double").type
_STR_DICT = S.ATTRIBUTES.field("str").type
_REFS = S.RESOURCES.field("entity_refs").type
I8, I32, U32, U64, STR, BIN, BOOL = (
    pa.int8(),
    pa.int32(),
    pa.uint32(),
    pa.uint64(),
    pa.string(),
    pa.binary(),
    pa.bool_(),
)
_EMPTY: dict[int, pa.Table] = {}


def empty(schema: pa.Schema) -> pa.Table:
    """The empty table of ``schema``, made once (``Schema.empty_table`` takes ~50 us)."""
    table = _EMPTY.get(id(schema))
    if table is None:
        table = _EMPTY[id(schema)] = schema.empty_table()
    return table


def _buf(a: Arr) -> pa.Buffer:
    return pa.py_buffer(a)


def _validity(bm: tuple[Arr, int]) -> tuple[pa.Buffer | None, int]:
    bits, nulls = bm
    return (None, 0) if nulls == 0 else (_buf(bits), int(nulls))


def prim(typ: pa.DataType, n: int, values: Arr, valid: tuple[Arr, int] | None = None) -> pa.Array:
    """A fixed-width array over ``values`` (numpy, same width as ``typ``)."""
    bits, nulls = _validity(valid) if valid is not None else (None, 0)
    return pa.Array.from_buffers(typ, n, [bits, _buf(values)], null_count=nulls)


def bools(n: int, packed: Arr, valid: tuple[Arr, int] | None = None) -> pa.Array:
    bits, nulls = _validity(valid) if valid is not None else (None, 0)
    return pa.Array.from_buffers(pa.bool_(), n, [bits, _buf(packed)], null_count=nulls)


def strings(typ: pa.DataType, n: int, gathered: tuple[Arr, Arr], valid: tuple[Arr, int] | None = None) -> pa.Array:
    """A string/binary array from int32 offsets and data."""
    offsets, data = gathered
    bits, nulls = _validity(valid) if valid is not None else (None, 0)
    return pa.Array.from_buffers(typ, n, [bits, _buf(offsets), _buf(data)], null_count=nulls)


def dict_strings(n: int, idx: Arr, gathered: tuple[Arr, Arr], valid: tuple[Arr, int] | None = None) -> pa.Array:
    offsets, data = gathered
    dictionary = strings(pa.string(), len(offsets) - 1, (offsets, data))
    bits, nulls = _validity(valid) if valid is not None else (None, 0)
    return pa.DictionaryArray.from_buffers(_STR_DICT, n, [bits, _buf(idx)], dictionary, null_count=nulls)


def dict_numbers(typ: pa.DictionaryType, n: int, idx: Arr, distinct: Arr, valid: tuple[Arr, int]) -> pa.Array:
    value_type = typ.value_type
    values = distinct.view(np.float64) if pa.types.is_floating(value_type) else distinct
    dictionary = pa.Array.from_buffers(value_type, len(values), [None, _buf(values)])
    bits, nulls = _validity(valid)
    return pa.DictionaryArray.from_buffers(typ, n, [bits, _buf(idx)], dictionary, null_count=nulls)


def fixed(typ: pa.DataType, n: int, data: Arr, valid: tuple[Arr, int] | None = None) -> pa.Array:
    bits, nulls = _validity(valid) if valid is not None else (None, 0)
    return pa.Array.from_buffers(typ, n, [bits, _buf(data)], null_count=nulls)


def table(schema: pa.Schema, columns: list[pa.Array]) -> pa.Table:
    return pa.Table.from_arrays(columns, schema=schema)


def _fallback_bytes(data: bytes | bytearray | memoryview, starts: Arr, ends: Arr, body: bool) -> list[bytes]:
    """The reference's cell for nested values: the parsed value re-serialized by protobuf
    (from the KeyValue, or for a log body the whole LogRecord, at ``data[start:end]``)."""
    out: list[bytes] = []
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        raw = bytes(data[s:e])
        value: AnyValue = LogRecord.FromString(raw).body if body else KeyValue.FromString(raw).value
        which = value.WhichOneof("value")
        assert which in ("array_value", "kvlist_value")
        out.append(getattr(value, which).SerializeToString())
    return out


def value_columns(data: bytes | bytearray | memoryview, t: tuple[Any, ...], *, body: bool = False) -> list[pa.Array]:
    """The six AnyValue columns (type, str, int, double, bool, bytes) of ``finish_attrs`` output."""
    n = int(t[0])
    idx = t[1]
    byte_col = strings(BIN, n, t[14], t[8])
    fb = t[15]
    if fb.shape[1]:
        cells = byte_col.to_pylist()
        for row, cell in zip(fb[0].tolist(), _fallback_bytes(data, fb[1], fb[2], body), strict=True):
            cells[row] = cell
        byte_col = pa.array(cells, BIN)
    return [
        prim(I8, n, t[2], t[3]),
        dict_strings(n, idx[2], t[11], t[4]),
        dict_numbers(_INT_DICT, n, idx[3], t[12], t[5]),
        dict_numbers(_DBL_DICT, n, idx[4], t[13], t[6]),
        bools(n, t[9], t[7]),
        byte_col,
    ]


def attribute_table(data: bytes | bytearray | memoryview, t: tuple[Any, ...]) -> pa.Table:
    """An attribute table from ``_common.finish_attrs`` output."""
    n = int(t[0])
    if n == 0:
        return empty(S.ATTRIBUTES)
    idx = t[1]
    return table(S.ATTRIBUTES, [prim(I32, n, idx[0]), dict_strings(n, idx[1], t[10]), *value_columns(data, t)])


def entity_refs(data: bytes | bytearray | memoryview, n_resources: int, occurrences: Arr) -> pa.Array:
    """The ``entity_refs`` column: null-free lists, filled from the Resource occurrences that
    carry refs (parsed by protobuf: resources are few per request)."""
    cells: list[list[dict[str, Any]]] = [[] for _ in range(n_resources)]
    for r, s, e in occurrences.tolist():
        for ref in Resource.FromString(bytes(data[s:e])).entity_refs:
            cells[r].append(entity_ref_cell(ref))
    return pa.array(cells, S.RESOURCES.field("entity_refs").type)


def resources_table(data: bytes | bytearray | memoryview, t: tuple[Any, ...]) -> pa.Table:
    n = int(t[0])
    if n == 0:
        return empty(S.RESOURCES)
    refs = entity_refs(data, n, t[3]) if len(t[3]) else _no_refs(n)
    return table(S.RESOURCES, [strings(STR, n, t[1]), prim(U32, n, t[2]), refs])


def _no_refs(n: int) -> pa.Array:
    """``n`` empty ``entity_refs`` lists: all-zero offsets, no child values."""
    offsets = pa.py_buffer(np.zeros(n + 1, dtype=np.int32))
    return pa.ListArray.from_buffers(_REFS, n, [None, offsets], children=[_EMPTY_REF_VALUES])


def scopes_table(t: tuple[Any, ...]) -> pa.Table:
    n = int(t[0])
    if n == 0:
        return empty(S.SCOPES)
    return table(
        S.SCOPES,
        [
            prim(I32, n, t[1]),
            strings(STR, n, t[2]),
            strings(STR, n, t[3]),
            prim(U32, n, t[4]),
            strings(STR, n, t[5]),
        ],
    )


_EMPTY_REF_VALUES = pa.array([], _REFS.value_type)
