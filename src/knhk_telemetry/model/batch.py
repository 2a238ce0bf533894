"""Columnar batches: ``SpanBatch``, ``MetricBatch``, ``LogBatch``.

A batch is a handful of Arrow tables linked by integer parent columns, the relational
shape of the OTLP message tree::

    resources <- scopes <- spans <- events, links       (and an attribute table under each)

Every child table is sorted by its parent column; all operations keep that invariant, so
selecting a contiguous range of parents selects a contiguous (zero-copy) range of children.
The ``items`` table (spans, metric data points, log records) is what queues count.

Operations are vectorised over whole columns (numpy/Arrow); nothing here makes a Python
object per span.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
import pyarrow as pa

from knhk_telemetry.model import schema as S


@dataclass(frozen=True, slots=True)
class TableSpec:
    """One table of a batch: its schema and the table/column that points at its parent."""

    name: str
    schema: pa.Schema
    parent: str | None = None
    parent_column: str = ""


def _attrs(name: str, parent: str) -> TableSpec:
    return TableSpec(name, S.ATTRIBUTES, parent, "row")


_RESOURCE_TABLES = (
    TableSpec("resources", S.RESOURCES),
    _attrs("resource_attributes", "resources"),
    TableSpec("scopes", S.SCOPES, "resources", "resource"),
    _attrs("scope_attributes", "scopes"),
)


def _empty_table(schema: pa.Schema) -> pa.Table:
    return schema.empty_table()


class Batch:
    """Common machinery of the three batch types; use a subclass."""

    TABLES: ClassVar[tuple[TableSpec, ...]]
    ITEMS: ClassVar[str]
    SIGNAL: ClassVar[str]

    __slots__ = ("_tables",)

    def __init__(self, tables: Mapping[str, pa.Table] | None = None, *, check: bool = True) -> None:
        given = dict(tables or {})
        unknown = set(given) - {spec.name for spec in self.TABLES}
        if unknown:
            raise ValueError(f"{type(self).__name__} has no table(s) {sorted(unknown)}")
        built: dict[str, pa.Table] = {}
        for spec in self.TABLES:
            table = given.get(spec.name)
            if table is None:
                table = _empty_table(spec.schema)
            elif check and not table.schema.equals(spec.schema):
                table = _conform(table, spec)
            built[spec.name] = table
        self._tables = built
        if check:
            self.check()

    # -- access ---------------------------------------------------------------------------
    @property
    def tables(self) -> Mapping[str, pa.Table]:
        """All tables by name (read-only view)."""
        return self._tables

    def table(self, name: str) -> pa.Table:
        return self._tables[name]

    @property
    def items(self) -> pa.Table:
        """The table of spans, data points or log records."""
        return self._tables[self.ITEMS]

    @property
    def resources(self) -> pa.Table:
        return self._tables["resources"]

    @property
    def scopes(self) -> pa.Table:
        return self._tables["scopes"]

    def __len__(self) -> int:
        return int(self._tables[self.ITEMS].num_rows)

    @property
    def nbytes(self) -> int:
        """Bytes of Arrow buffers held by all tables."""
        return sum(t.nbytes for t in self._tables.values())

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={v.num_rows}" for k, v in self._tables.items() if v.num_rows)
        return f"{type(self).__name__}({sizes or 'empty'})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Batch)
        return all(_decoded(self._tables[s.name]).equals(_decoded(other._tables[s.name])) for s in self.TABLES)

    __hash__ = None  # type: ignore[assignment]

    def with_table(self, name: str, table: pa.Table) -> Self:
        """A new batch with one table replaced (the others are shared, not copied)."""
        tables = dict(self._tables)
        tables[name] = table
        return type(self)(tables)

    def check(self) -> None:
        """Raise ``ValueError`` if a parent column is out of range or not sorted."""
        for spec in self.TABLES:
            if spec.parent is None:
                continue
            col = _index_array(self._tables[spec.name], spec.parent_column)
            if not len(col):
                continue
            n_parent = self._tables[spec.parent].num_rows
            if col.min() < 0 or col.max() >= n_parent:
                raise ValueError(f"{spec.name}.{spec.parent_column} points outside {spec.parent} (0..{n_parent - 1})")
            if len(col) > 1 and not bool(np.all(col[1:] >= col[:-1])):
                raise ValueError(f"{spec.name} is not sorted by {spec.parent_column}")

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def empty(cls) -> Self:
        return cls(check=False)

    @classmethod
    def concat(cls, batches: Sequence[Self], *, combine: bool = True) -> Self:
        """One batch holding all rows of ``batches`` in order (parent indices are offset).

        ``combine=False`` keeps each table's chunks (zero-copy but for the parent columns,
        which are re-numbered in one pass per table): combining dictionary columns unifies
        their dictionaries, most of the cost of a combining concat (``bench/pipeline.py``).
        The pipeline's batcher leaves that to the consumers that need single chunks."""
        batches = [b for b in batches if b is not None]
        if not batches:
            return cls.empty()
        if len(batches) == 1:
            return batches[0]
        out: dict[str, pa.Table] = {}
        for spec in cls.TABLES:
            parts = [b._tables[spec.name] for b in batches]
            table = pa.concat_tables(parts)
            if spec.parent is not None and table.num_rows:
                sizes = np.array([b._tables[spec.parent].num_rows for b in batches[:-1]], dtype=np.int32)
                offsets = np.concatenate([np.zeros(1, np.int32), np.cumsum(sizes, dtype=np.int32)])
                if offsets[-1]:
                    rows = np.array([t.num_rows for t in parts])
                    col = np.concatenate([_index_array(t, spec.parent_column) for t in parts])
                    table = _set_parent(table, spec, col + np.repeat(offsets, rows))
            out[spec.name] = table.combine_chunks() if combine else table
        return cls(out, check=False)

    # -- selection ------------------------------------------------------------------------
    def slice(self, offset: int, length: int | None = None) -> Self:
        """Items ``[offset, offset + length)`` with their children and ancestors."""
        n = len(self)
        stop = n if length is None else min(n, offset + length)
        offset = max(0, min(offset, n))
        if offset == 0 and stop == n:
            return self
        return self._select(np.arange(offset, stop, dtype=np.int64))

    def filter(self, mask: np.ndarray[Any, Any] | pa.Array | pa.ChunkedArray) -> Self:
        """Items where ``mask`` is true, in order."""
        m = np.asarray(mask.to_numpy(zero_copy_only=False) if isinstance(mask, (pa.Array, pa.ChunkedArray)) else mask)
        if m.dtype != np.bool_ or m.shape != (len(self),):
            raise ValueError(f"mask must be {len(self)} booleans")
        if m.all():
            return self
        return self._select(np.flatnonzero(m))

    def take(self, indices: np.ndarray[Any, Any] | Sequence[int]) -> Self:
        """Items at the given increasing positions."""
        idx = np.asarray(indices, dtype=np.int64)
        if len(idx) > 1 and not bool(np.all(idx[1:] > idx[:-1])):
            raise ValueError("take() needs strictly increasing indices (the tables stay sorted)")
        return self._select(idx)

    def split(self, size: int) -> list[Self]:
        """Consecutive slices of at most ``size`` items."""
        n = len(self)
        if n <= size:
            return [self]
        return [self.slice(i, size) for i in range(0, n, size)]

    def _select(self, items: np.ndarray[Any, Any]) -> Self:
        """Keep ``items`` (sorted positions) of the item table, the ancestors that hold them
        and every descendant of what is kept; re-number the parent columns.

        A kept set that is a contiguous range is sliced (zero-copy) and its children found by
        binary search, so cutting a large batch into slices costs O(slice), not O(batch)."""
        specs = {s.name: s for s in self.TABLES}
        keep: dict[str, np.ndarray[Any, Any]] = {self.ITEMS: items}
        name = self.ITEMS
        while (parent := specs[name].parent) is not None:
            keep[parent] = np.unique(_index_array(self._tables[name], specs[name].parent_column)[keep[name]])
            name = parent
        kept: dict[str, _Kept] = {}
        out: dict[str, pa.Table] = {}
        for spec in self.TABLES:
            table = self._tables[spec.name]
            if spec.name in keep:
                rows = keep[spec.name]
                sel = _Kept.of(rows, table.num_rows)
            else:
                assert spec.parent is not None
                sel = kept[spec.parent].children(_index_array(table, spec.parent_column))
            kept[spec.name] = sel
            sub = table.slice(sel.start, sel.length) if sel.rows is None else table.take(pa.array(sel.rows))
            if spec.parent is not None and sub.num_rows:
                col = kept[spec.parent].renumber(_index_array(sub, spec.parent_column))
                sub = _set_parent(sub, spec, col)
            out[spec.name] = sub
        return type(self)(out, check=False)

    # -- derived columns ------------------------------------------------------------------
    def item_resource_index(self) -> np.ndarray[Any, Any]:
        """For every item, the row of its resource (walks the parent chain once)."""
        specs = {s.name: s for s in self.TABLES}
        name = self.ITEMS
        idx = np.arange(len(self))
        while name != "resources":
            spec = specs[name]
            assert spec.parent is not None
            idx = _index_array(self._tables[name], spec.parent_column)[idx]
            name = spec.parent
        return idx


class _Kept:
    """The rows kept of one table: a range ``[start, start + length)`` or explicit rows."""

    __slots__ = ("_map", "length", "n", "rows", "start")

    def __init__(self, start: int, length: int, rows: np.ndarray[Any, Any] | None, n: int) -> None:
        self.start, self.length, self.rows, self.n = start, length, rows, n
        self._map: np.ndarray[Any, Any] | None = None

    @classmethod
    def of(cls, rows: np.ndarray[Any, Any], n: int) -> _Kept:
        if len(rows) == 0:
            return cls(0, 0, None, n)
        if int(rows[-1]) - int(rows[0]) + 1 == len(rows):
            return cls(int(rows[0]), len(rows), None, n)
        return cls(0, len(rows), rows, n)

    def _new_index(self) -> np.ndarray[Any, Any]:
        if self._map is None:
            assert self.rows is not None
            self._map = np.full(self.n, -1, dtype=np.int32)
            self._map[self.rows] = np.arange(len(self.rows), dtype=np.int32)
        return self._map

    def children(self, parent_col: np.ndarray[Any, Any]) -> _Kept:
        """The rows of a child table (sorted by ``parent_col``) whose parent is kept."""
        if self.rows is None:
            # search with the column's own dtype: a Python int would make numpy copy the
            # whole column to int64 on every call
            bounds = np.array([self.start, self.start + self.length], dtype=parent_col.dtype)
            lo, hi = (int(x) for x in parent_col.searchsorted(bounds, side="left"))
            return _Kept(lo, hi - lo, None, len(parent_col))
        return _Kept.of(np.flatnonzero(self._new_index()[parent_col] >= 0), len(parent_col))

    def renumber(self, parent_col: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """Old parent rows -> their positions among the kept rows."""
        if self.rows is None:
            return np.asarray(parent_col - self.start, dtype=np.int32)
        return np.asarray(self._new_index()[parent_col])


def _set_parent(table: pa.Table, spec: TableSpec, values: np.ndarray[Any, Any]) -> pa.Table:
    i = table.schema.get_field_index(spec.parent_column)
    return table.set_column(i, spec.schema.field(spec.parent_column), pa.array(values, S.ROW))


def _index_array(table: pa.Table, column: str) -> np.ndarray[Any, Any]:
    col = table.column(column)
    if col.num_chunks == 1:
        return np.asarray(col.chunk(0).to_numpy(zero_copy_only=False))
    return np.asarray(col.to_numpy())


def _decoded(table: pa.Table) -> pa.Table:
    """The table with dictionary columns decoded, so that equality ignores dictionaries."""
    cols = []
    for column in table.columns:
        col = column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column
        cols.append(col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col)
    return pa.table(cols, names=table.column_names)


def _conform(table: pa.Table, spec: TableSpec) -> pa.Table:
    """Cast a table to the spec's schema, naming the table and column when it cannot be."""
    missing = [f.name for f in spec.schema if f.name not in table.column_names]
    extra = [c for c in table.column_names if c not in spec.schema.names]
    if extra:
        raise ValueError(f"table {spec.name!r} has unknown column(s) {extra}")
    cols = []
    for field in spec.schema:
        if field.name in missing:
            if not field.nullable:
                raise ValueError(f"table {spec.name!r} lacks required column {field.name!r}")
            cols.append(pa.nulls(table.num_rows, field.type))
            continue
        col = table.column(field.name)
        if not col.type.equals(field.type):
            try:
                col = col.cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise ValueError(
                    f"column {spec.name}.{field.name}: cannot use {col.type} as {field.type}: {exc}"
                ) from exc
        if not field.nullable and col.null_count:
            raise ValueError(f"column {spec.name}.{field.name} must not hold nulls")
        cols.append(col)
    return pa.Table.from_arrays(cols, schema=spec.schema)


class SpanBatch(Batch):
    """Spans with their resources, scopes, events, links and attributes."""

    TABLES = (
        *_RESOURCE_TABLES,
        TableSpec("spans", S.SPANS, "scopes", "scope"),
        _attrs("span_attributes", "spans"),
        TableSpec("events", S.EVENTS, "spans", "span"),
        _attrs("event_attributes", "events"),
        TableSpec("links", S.LINKS, "spans", "span"),
        _attrs("link_attributes", "links"),
    )
    ITEMS = "spans"
    SIGNAL = "traces"
    __slots__ = ()

    @property
    def spans(self) -> pa.Table:
        return self._tables["spans"]

    def durations_ns(self) -> np.ndarray[Any, Any]:
        """``end - start`` per span as int64 nanoseconds."""
        s = self._tables["spans"]
        end = _index_array(s, "end_time_unix_nano").astype(np.int64)
        start = _index_array(s, "start_time_unix_nano").astype(np.int64)
        return end - start


class MetricBatch(Batch):
    """Metrics (all five OTLP point types) with their data points and exemplars."""

    TABLES = (
        *_RESOURCE_TABLES,
        TableSpec("metrics", S.METRICS, "scopes", "scope"),
        _attrs("metric_metadata", "metrics"),
        TableSpec("points", S.POINTS, "metrics", "metric"),
        _attrs("point_attributes", "points"),
        TableSpec("exemplars", S.EXEMPLARS, "points", "point"),
        _attrs("exemplar_attributes", "exemplars"),
    )
    ITEMS = "points"
    SIGNAL = "metrics"
    __slots__ = ()

    @property
    def metrics(self) -> pa.Table:
        return self._tables["metrics"]

    @property
    def points(self) -> pa.Table:
        return self._tables["points"]


class LogBatch(Batch):
    """Log records with their resources, scopes and attributes."""

    TABLES = (
        *_RESOURCE_TABLES,
        TableSpec("logs", S.LOGS, "scopes", "scope"),
        _attrs("log_attributes", "logs"),
    )
    ITEMS = "logs"
    SIGNAL = "logs"
    __slots__ = ()

    @property
    def logs(self) -> pa.Table:
        return self._tables["logs"]


AnyBatch = SpanBatch | MetricBatch | LogBatch

BATCH_TYPES: dict[str, type[Batch]] = {"traces": SpanBatch, "metrics": MetricBatch, "logs": LogBatch}


def concat_batches(batches: Iterable[Batch]) -> Batch:
    """Concatenate batches of one type."""
    items = list(batches)
    if not items:
        raise ValueError("nothing to concatenate")
    kind = type(items[0])
    return kind.concat(items)
