"""AnyValue at the API edge: Python values <-> the sparse value columns, and table builders.

``AttributeValue`` is what a user writes: ``str``, ``bool``, ``int``, ``float``, ``bytes``,
a list of those (an OTLP ArrayValue), a mapping (a KeyValueList) or ``None`` (an empty
AnyValue). Arrays and kvlists are stored as their protobuf encoding in the ``bytes`` column;
this module is the one place that turns them back into Python.

The builders here collect Python lists and make Arrow tables once: they serve the edge
(``Span`` objects, the reference codecs), never the hot path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import pyarrow as pa
from opentelemetry.proto.common.v1 import common_pb2

from knhk_telemetry.model.schema import ATTRIBUTES, ValueType

AttributeValue: TypeAlias = (
    "str | bool | int | float | bytes | Sequence[AttributeValue] | Mapping[str, AttributeValue] | None"
)

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_VALUE_COLUMNS = {
    ValueType.STRING: "str",
    ValueType.BOOL: "bool",
    ValueType.INT: "int",
    ValueType.DOUBLE: "double",
    ValueType.BYTES: "bytes",
    ValueType.ARRAY: "bytes",
    ValueType.KVLIST: "bytes",
}


def _fill_any(msg: common_pb2.AnyValue, value: AttributeValue) -> None:
    if value is None:
        return
    if isinstance(value, str):
        msg.string_value = value
    elif isinstance(value, bool):
        msg.bool_value = value
    elif isinstance(value, int):
        _check_int(value)
        msg.int_value = value
    elif isinstance(value, float):
        msg.double_value = value
    elif isinstance(value, (bytes, bytearray, memoryview)):
        msg.bytes_value = bytes(value)
    elif isinstance(value, Mapping):
        msg.kvlist_value.SetInParent()
        for k, v in value.items():
            kv = msg.kvlist_value.values.add(key=str(k))
            kv.value.SetInParent()
            _fill_any(kv.value, v)
    elif isinstance(value, Sequence):
        msg.array_value.SetInParent()
        for v in value:
            item = msg.array_value.values.add()
            _fill_any(item, v)
    else:
        raise TypeError(f"{type(value).__name__} is not an attribute value (str, bool, int, float, bytes, list, dict)")


def _check_int(value: int) -> None:
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise ValueError(f"integer attribute {value} does not fit in int64")


def any_value_to_python(msg: common_pb2.AnyValue) -> AttributeValue:
    """A protobuf AnyValue as a Python value (kvlist -> dict, array -> list)."""
    which = msg.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value_to_python(v) for v in msg.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value_to_python(kv.value) for kv in msg.kvlist_value.values}
    return getattr(msg, which)  # type: ignore[no-any-return]


def python_to_columns(value: AttributeValue) -> tuple[ValueType, str, Any]:  # noqa: PLR0911 (one return per type)
    """``(type, column name, cell)`` for a Python value; the cell goes in that column."""
    if value is None:
        return ValueType.EMPTY, "", None
    if isinstance(value, str):
        return ValueType.STRING, "str", value
    if isinstance(value, bool):
        return ValueType.BOOL, "bool", value
    if isinstance(value, int):
        _check_int(value)
        return ValueType.INT, "int", value
    if isinstance(value, float):
        return ValueType.DOUBLE, "double", value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return ValueType.BYTES, "bytes", bytes(value)
    msg = common_pb2.AnyValue()
    _fill_any(msg, value)
    if isinstance(value, Mapping):
        return ValueType.KVLIST, "bytes", msg.kvlist_value.SerializeToString(deterministic=True)
    return ValueType.ARRAY, "bytes", msg.array_value.SerializeToString(deterministic=True)


def columns_to_python(vtype: int | None, cell: Any) -> AttributeValue:
    """Inverse of :func:`python_to_columns` for one cell (``cell`` from the typed column)."""
    if vtype is None or vtype == ValueType.EMPTY:
        return None
    if vtype == ValueType.ARRAY:
        arr = common_pb2.ArrayValue.FromString(cell)
        return [any_value_to_python(v) for v in arr.values]
    if vtype == ValueType.KVLIST:
        kvl = common_pb2.KeyValueList.FromString(cell)
        return {kv.key: any_value_to_python(kv.value) for kv in kvl.values}
    return cell  # type: ignore[no-any-return]


def value_column(vtype: int) -> str:
    """The column that holds a value of type ``vtype`` ('' for EMPTY)."""
    return _VALUE_COLUMNS.get(ValueType(vtype), "")


def entity_ref_cell(ref: Any) -> dict[str, Any]:
    """One ``entity_refs`` list item of the resources table, from any object with the
    OTLP ``EntityRef`` fields (the protobuf message or the edge type)."""
    return {
        "schema_url": ref.schema_url,
        "type": ref.type,
        "id_keys": list(ref.id_keys),
        "description_keys": list(ref.description_keys),
    }


class TableBuilder:
    """Collects rows as Python lists, one list per column, and builds the Arrow table once."""

    __slots__ = ("columns", "schema")

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.columns: dict[str, list[Any]] = {name: [] for name in schema.names}

    def append(self, **values: Any) -> int:
        """Add one row; columns not named are null. Returns the new row's index."""
        for name, col in self.columns.items():
            col.append(values.pop(name, None))
        if values:
            raise KeyError(f"no column(s) {sorted(values)} in {self.schema.names}")
        return len(self) - 1

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def build(self) -> pa.Table:
        return pa.Table.from_pydict(self.columns, schema=self.schema)


class AttributeBuilder(TableBuilder):
    """Rows of an attribute table: ``add(row, key, value)`` in increasing ``row`` order."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(ATTRIBUTES)

    def add(self, row: int, key: str, value: AttributeValue) -> None:
        vtype, column, cell = python_to_columns(value)
        self.add_typed(row, key, vtype, column, cell)

    def add_typed(self, row: int, key: str, vtype: int | None, column: str, cell: Any) -> None:
        """Add a value already split into type, column and cell (``vtype`` None: absent)."""
        c = self.columns
        c["row"].append(row)
        c["key"].append(key)
        c["type"].append(vtype)
        for name in ("str", "int", "double", "bool", "bytes"):
            c[name].append(cell if name == column else None)

    def add_all(self, row: int, attributes: Mapping[str, AttributeValue] | None) -> None:
        if attributes:
            for key, value in attributes.items():
                self.add(row, key, value)


def attributes_by_row(table: pa.Table, n_rows: int) -> list[dict[str, AttributeValue]]:
    """An attribute table as one dict per parent row (edge conversion only)."""
    out: list[dict[str, AttributeValue]] = [{} for _ in range(n_rows)]
    if table.num_rows == 0:
        return out
    cols = {name: table.column(name).to_pylist() for name in table.column_names}
    for i, row in enumerate(cols["row"]):
        vtype = cols["type"][i]
        column = value_column(vtype) if vtype is not None else ""
        out[row][cols["key"][i]] = columns_to_python(vtype, cols[column][i] if column else None)
    return out
