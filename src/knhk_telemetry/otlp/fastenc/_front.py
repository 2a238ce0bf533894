"""The Python side of the encoder: tables -> column tuples -> kernel -> bytes or a clear error.

Work here is per column and per resource, never per span; the one Python loop is over
resources that carry ``entity_refs`` (few per batch), which are serialized with protobuf and
spliced into the Resource message by the kernel.
"""

from __future__ import annotations

from functools import cache
from typing import Any, NoReturn

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from knhk_telemetry.model.batch import Batch
from knhk_telemetry.model.schema import ATTRIBUTES
from knhk_telemetry.otlp.fastenc import _columns as C
from knhk_telemetry.otlp.fastenc._wire import ERR_METRIC_TYPE, ERR_PARENT, ERR_VALUE_TYPE

_U32, _U64, _I8, _I32, _I64, _F64 = pa.uint32(), pa.uint64(), pa.int8(), pa.int32(), pa.int64(), pa.float64()


def values(table: pa.Table, prefix: str = "") -> tuple[Any, ...]:
    """The six AnyValue columns ``(type, str, int, double, bool, bytes)`` of a table."""
    col = table.column
    return (
        C.prim(col(prefix + "type"), _I8, np.int8),
        C.strings(col(prefix + "str")),
        C.numbers(col(prefix + "int"), _I64, np.int64),
        C.numbers(col(prefix + "double"), _F64, np.uint64),
        C.boolean(col(prefix + "bool")),
        C.strings(col(prefix + "bytes")),
    )


def attributes(table: pa.Table) -> tuple[Any, ...]:
    """An attribute table as ``(row, key, values)`` (one shared tuple for every empty table:
    most batches have a few, and converting their nine columns costs more than encoding)."""
    if table.num_rows == 0:
        return _no_attributes()
    return C.parent(table.column("row")), C.strings(table.column("key")), values(table)


@cache
def _no_attributes() -> tuple[Any, ...]:
    table = ATTRIBUTES.empty_table()
    return C.parent(table.column("row")), C.strings(table.column("key")), values(table)


def u32(table: pa.Table, name: str) -> C.P:
    return C.prim(table.column(name), _U32, np.uint32)


def u64(table: pa.Table, name: str) -> C.P:
    return C.prim(table.column(name), _U64, np.uint64)


def i8(table: pa.Table, name: str) -> C.P:
    return C.prim(table.column(name), _I8, np.int8)


def i32(table: pa.Table, name: str) -> C.P:
    return C.prim(table.column(name), _I32, np.int32)


def i64(table: pa.Table, name: str) -> C.P:
    return C.prim(table.column(name), _I64, np.int64)


def f64(table: pa.Table, name: str) -> C.P:
    """A float64 column as its ``uint64`` bits (the kernels copy doubles bit for bit)."""
    return C.prim(table.column(name), _F64, np.uint64)


def u64_lists(table: pa.Table, name: str) -> C.L:
    """A ``list<uint64>`` column as ``L``."""
    return C.lists(table.column(name), _U64, np.uint64)


def f64_lists(table: pa.Table, name: str) -> C.L:
    """A ``list<float64>`` column as ``L`` of the doubles' ``uint64`` bits."""
    return C.lists(table.column(name), _F64, np.uint64)


def quantiles(table: pa.Table, name: str) -> C.Q:
    """A ``list<struct<quantile, value>>`` column as ``Q``."""
    return C.quantiles(table.column(name))


def _d(value: Any, default: Any) -> Any:
    return default if value is None else value


def _entity_refs(resources: pa.Table) -> pa.Array:
    """Per resource, its ``entity_refs`` as serialized Resource field 3 entries (or null)."""
    n = resources.num_rows
    column = C.array(resources.column("entity_refs"))
    if column.null_count == n or not n or pc.sum(pc.list_value_length(column)).as_py() in (None, 0):
        return pa.nulls(n, pa.binary())
    out: list[bytes | None] = [None] * n
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(np.nan_to_num(lengths.astype(np.float64)) > 0):
        res = Resource()
        for ref in column[int(i)].as_py():
            res.entity_refs.add(
                schema_url=_d(ref["schema_url"], ""),
                type=_d(ref["type"], ""),
                id_keys=_d(ref["id_keys"], ()),
                description_keys=_d(ref["description_keys"], ()),
            )
        out[int(i)] = res.SerializeToString()
    return pa.array(out, pa.binary())


def envelope(batch: Batch) -> tuple[int, tuple[Any, ...], tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]]:
    """``(n_resources, resources, resource_attributes, scopes, scope_attributes)`` tuples."""
    res = batch.resources
    scopes = batch.scopes
    r = (C.strings(res.column("schema_url")), u32(res, "dropped_attributes_count"), C.strings(_entity_refs(res)))
    c = (
        C.parent(scopes.column("resource")),
        C.strings(scopes.column("name")),
        C.strings(scopes.column("version")),
        u32(scopes, "dropped_attributes_count"),
        C.strings(scopes.column("schema_url")),
    )
    return (
        res.num_rows,
        r,
        attributes(batch.table("resource_attributes")),
        c,
        attributes(batch.table("scope_attributes")),
    )


def fail(err: int, table_no: int, row: int, tables: tuple[str, ...], batch: Batch) -> NoReturn:
    """Raise the fault a kernel reports, as the reference codec would."""
    name = tables[table_no]
    if err == ERR_VALUE_TYPE:
        table = batch.table(name)
        prefix = "body_" if name == "logs" else ""
        vtype = table.column(prefix + "type")[row].as_py()
        where = f"logs row {row} body" if name == "logs" else f"{name} row {row}"
        raise ValueError(f"{where}: unknown value type {vtype}")
    if err == ERR_METRIC_TYPE:
        mtype = batch.table(name).column("type")[row].as_py()
        raise ValueError(f"{name} row {row}: unknown metric type {mtype}")
    if err == ERR_PARENT:
        spec = next(s for s in type(batch).TABLES if s.name == name)
        raise ValueError(
            f"{name}.{spec.parent_column} row {row} is out of order or points outside {spec.parent}"
            f" (child tables must be sorted by their parent column)"
        )
    raise RuntimeError(f"fastenc: unknown kernel error {err}")  # pragma: no cover


def finish(buf: np.ndarray[Any, Any], written: int) -> bytes:
    """The request bytes, after checking the write pass filled exactly the sized buffer."""
    if written != buf.size:  # pragma: no cover (an encoder bug, never bad input)
        raise RuntimeError(f"fastenc: wrote {written} bytes, not the {buf.size} computed for the request")
    return buf.tobytes()
