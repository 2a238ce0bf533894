"""Per-batch columns for CEP, computed once and shared by every rule that needs them.

A :class:`BatchView` wraps one ``SpanBatch`` and lazily turns the columns the matchers,
partition keys and alert templates ask for into numpy arrays: event time, duration, status,
kind, the span name and ``service.name`` as integer codes into a small list of distinct values,
and per attribute key the slice of the attribute table that holds that key. Dictionary-encoded
Arrow columns stay dictionary-encoded: a regex or an equality is evaluated once per distinct
value and mapped to rows through the indices, never once per span.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from knhk_telemetry.model.batch import SpanBatch
from knhk_telemetry.model.schema import ValueType

Array: TypeAlias = np.ndarray[Any, Any]
EventTime = Literal["end", "start"]

#: span fields a partition key (or a template) may name besides attributes
SPAN_FIELDS = ("service", "name", "kind", "status", "trace_id", "span_id")


def dictionary_codes(column: pa.ChunkedArray | pa.Array) -> tuple[Array, pa.Array]:
    """``(codes, dictionary)`` of a dictionary column; null rows get code ``len(dictionary)``.

    The null code points one past the dictionary so that a lookup table of
    ``len(dictionary) + 1`` entries (last one False/None) maps every row without a branch."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_encode()
    dictionary = arr.dictionary
    indices = arr.indices
    if indices.null_count:
        indices = pc.fill_null(indices, len(dictionary))
    return np.asarray(indices.to_numpy(zero_copy_only=False), dtype=np.int64), dictionary


def dense_unique(codes: Array, size: int) -> tuple[Array, Array]:
    """``np.unique(codes, return_inverse=True)`` for codes in ``[-1, size)``, in O(n + size).

    Codes index small dictionaries, so a presence count beats sorting the (many) events."""
    if len(codes) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if size > 4 * len(codes) + 1024:
        uniq, inverse = np.unique(codes, return_inverse=True)
        return uniq, np.asarray(inverse, np.int64).ravel()
    present = np.bincount(codes + 1, minlength=size + 1) > 0
    rank = np.cumsum(present) - 1
    return np.flatnonzero(present) - 1, rank[codes + 1]


def lookup(codes: Array, table: Array) -> Array:
    """``table[codes]``: ``table`` has one entry per dictionary value plus one for null."""
    return table[codes] if len(codes) else np.zeros(0, table.dtype)


@dataclass(frozen=True, slots=True)
class Coded:
    """A per-row value as integer codes into ``values``; code -1 means absent."""

    codes: Array
    values: Sequence[Hashable]

    def take(self, idx: Array) -> Coded:
        return Coded(self.codes[idx], self.values)


@dataclass(frozen=True, slots=True)
class AttrSlice:
    """The rows of one attribute key in an attribute table (at most one per parent row).

    ``rows`` are parent rows (spans or resources); each value column keeps its dictionary
    codes (null code = one past the dictionary) and its dictionary as numpy/list values."""

    rows: Array
    types: Array
    str_codes: Array
    str_values: list[str | None]
    int_codes: Array
    int_values: Array
    dbl_codes: Array
    dbl_values: Array
    bools: Array  # int8: 1 true, 0 false, -1 not a bool

    def __len__(self) -> int:
        return len(self.rows)

    def numbers(self) -> tuple[Array, Array]:
        """``(is_number, value as float64)`` per attribute row (ints and doubles)."""
        ints = np.append(self.int_values.astype(np.float64), np.nan)[self.int_codes]
        dbls = np.append(self.dbl_values, np.nan)[self.dbl_codes]
        is_int = self.types == ValueType.INT
        is_dbl = self.types == ValueType.DOUBLE
        return is_int | is_dbl, np.where(is_int, ints, dbls)

    def coded(self, n_parents: int) -> Coded:
        """The value per parent row as codes into one list of Python values (absent: -1).

        Strings, ints, doubles and bools share one code space; bytes, arrays and kvlists
        count as absent (a partition key of those types is not supported)."""
        n_str, n_int, n_dbl = len(self.str_values), len(self.int_values), len(self.dbl_values)
        code = np.full(len(self.rows), -1, np.int64)
        t = self.types
        sel = (t == ValueType.STRING) & (self.str_codes < n_str)
        code[sel] = self.str_codes[sel]
        sel = (t == ValueType.INT) & (self.int_codes < n_int)
        code[sel] = n_str + self.int_codes[sel]
        sel = (t == ValueType.DOUBLE) & (self.dbl_codes < n_dbl)
        code[sel] = n_str + n_int + self.dbl_codes[sel]
        sel = (t == ValueType.BOOL) & (self.bools >= 0)
        code[sel] = n_str + n_int + n_dbl + self.bools[sel]
        values: list[Hashable] = [*self.str_values, *self.int_values.tolist(), *self.dbl_values.tolist(), False, True]
        out = np.full(n_parents, -1, np.int64)
        out[self.rows] = code
        return Coded(out, values)


def _attr_slice(table: pa.Table, key: str) -> AttrSlice:
    n = table.num_rows
    empty = np.zeros(0, np.int64)
    if n == 0:
        return AttrSlice(empty, empty.astype(np.int8), empty, [], empty, empty, empty, empty.astype(float), empty)
    key_codes, key_dict = dictionary_codes(table.column("key"))
    hit = np.flatnonzero(np.asarray(pc.equal(key_dict, key).to_numpy(zero_copy_only=False), dtype=bool))
    if len(hit) == 0:
        return AttrSlice(empty, empty.astype(np.int8), empty, [], empty, empty, empty, empty.astype(float), empty)
    sel = np.flatnonzero(np.isin(key_codes, hit))
    idx = pa.array(sel)
    sub = table.take(idx)
    rows = np.asarray(sub.column("row").to_numpy(), dtype=np.int64)
    types = np.asarray(pc.fill_null(sub.column("type"), -1).to_numpy(), dtype=np.int8)
    str_codes, str_dict = dictionary_codes(sub.column("str"))
    int_codes, int_dict = dictionary_codes(sub.column("int"))
    dbl_codes, dbl_dict = dictionary_codes(sub.column("double"))
    bools = pc.fill_null(pc.cast(sub.column("bool"), pa.int8()), -1)
    return AttrSlice(
        rows=rows,
        types=types,
        str_codes=str_codes,
        str_values=str_dict.to_pylist(),
        int_codes=int_codes,
        int_values=np.asarray(int_dict.to_numpy(zero_copy_only=False), dtype=np.int64),
        dbl_codes=dbl_codes,
        dbl_values=np.asarray(dbl_dict.to_numpy(zero_copy_only=False), dtype=np.float64),
        bools=np.asarray(bools.to_numpy(), dtype=np.int8),
    )


def _int_column(table: pa.Table, name: str, dtype: Any, fill: int = 0) -> Array:
    col = table.column(name)
    if col.null_count:
        col = pc.fill_null(col, fill)
    return np.asarray(col.to_numpy(), dtype=dtype)


class BatchView:
    """Lazily computed, cached numpy columns of one ``SpanBatch`` (see the module docstring)."""

    def __init__(self, batch: SpanBatch, *, event_time: EventTime = "end") -> None:
        self.batch = batch
        self.n = len(batch)
        self.event_time_field: EventTime = event_time
        self._cache: dict[Hashable, Any] = {}

    def _cached(self, key: Hashable, make: Callable[[], Any]) -> Any:
        try:
            return self._cache[key]
        except KeyError:
            value = self._cache[key] = make()
            return value

    # -- span columns -------------------------------------------------------------------------
    @property
    def start(self) -> Array:
        return self._cached("start", lambda: _int_column(self.batch.spans, "start_time_unix_nano", np.int64))  # type: ignore[no-any-return]

    @property
    def end(self) -> Array:
        return self._cached("end", lambda: _int_column(self.batch.spans, "end_time_unix_nano", np.int64))  # type: ignore[no-any-return]

    @property
    def time(self) -> Array:
        """Event time per span (ns): its end time, or its start time if configured so."""
        return self.end if self.event_time_field == "end" else self.start

    @property
    def duration(self) -> Array:
        return self._cached("duration", lambda: self.end - self.start)  # type: ignore[no-any-return]

    @property
    def status(self) -> Array:
        return self._cached("status", lambda: _int_column(self.batch.spans, "status_code", np.int8))  # type: ignore[no-any-return]

    @property
    def kind(self) -> Array:
        return self._cached("kind", lambda: _int_column(self.batch.spans, "kind", np.int8))  # type: ignore[no-any-return]

    def name_codes(self) -> tuple[Array, list[str | None]]:
        """Span name as ``(codes, distinct names)``; a null name has code ``len(names)``."""

        def make() -> tuple[Array, list[str | None]]:
            codes, dictionary = dictionary_codes(self.batch.spans.column("name"))
            return codes, dictionary.to_pylist()

        return self._cached("name", make)  # type: ignore[no-any-return]

    def resource_index(self) -> Array:
        return self._cached("resource_index", lambda: np.asarray(self.batch.item_resource_index(), np.int64))  # type: ignore[no-any-return]

    # -- attributes ---------------------------------------------------------------------------
    def span_attr(self, key: str) -> AttrSlice:
        return self._cached(("span_attr", key), lambda: _attr_slice(self.batch.table("span_attributes"), key))  # type: ignore[no-any-return]

    def resource_attr(self, key: str) -> AttrSlice:
        return self._cached(("res_attr", key), lambda: _attr_slice(self.batch.table("resource_attributes"), key))  # type: ignore[no-any-return]

    def resource_value(self, key: str) -> Coded:
        """A resource attribute's value per span (via the span's resource row)."""

        def make() -> Coded:
            per_resource = self.resource_attr(key).coded(self.batch.resources.num_rows)
            return Coded(per_resource.codes[self.resource_index()], per_resource.values)

        return self._cached(("res_value", key), make)  # type: ignore[no-any-return]

    def span_value(self, key: str) -> Coded:
        return self._cached(("span_value", key), lambda: self.span_attr(key).coded(self.n))  # type: ignore[no-any-return]

    # -- partition fields ---------------------------------------------------------------------
    def field(self, name: str, idx: Array) -> Coded:
        """Field ``name`` for the spans at ``idx`` as codes (-1 absent) into distinct values.

        ``name`` is ``service``, ``name``, ``kind``, ``status``, ``trace_id``, ``span_id``,
        ``resource.<key>`` or ``attributes.<key>`` / a bare attribute key."""
        if name == "service":
            return self.resource_value("service.name").take(idx)
        if name == "name":
            codes, names = self.name_codes()
            c = codes[idx]
            return Coded(np.where(c >= len(names), -1, c), names)
        if name in ("kind", "status"):
            col = self.kind if name == "kind" else self.status
            return Coded(col[idx].astype(np.int64), list(range(128)))
        if name in ("trace_id", "span_id"):
            return self._ids(name, idx)
        if name.startswith("resource."):
            return self.resource_value(name[len("resource.") :]).take(idx)
        key = name[len("attributes.") :] if name.startswith("attributes.") else name
        return self.span_value(key).take(idx)

    def id_bytes(self, name: str) -> Array:
        """``trace_id`` or ``span_id`` of every span as an (n, width) uint8 matrix (no copy)."""

        def make() -> Array:
            width = 16 if name == "trace_id" else 8
            col = self.batch.spans.column(name).combine_chunks()
            if len(col) == 0:
                return np.zeros((0, width), np.uint8)
            raw = np.frombuffer(col.buffers()[1], dtype=np.uint8, count=(col.offset + len(col)) * width)
            return raw[col.offset * width :].reshape(-1, width)

        return self._cached(("ids", name), make)  # type: ignore[no-any-return]

    def _ids(self, name: str, idx: Array) -> Coded:
        width = 16 if name == "trace_id" else 8
        if len(idx) == 0:
            return Coded(np.zeros(0, np.int64), [])
        raw = self.id_bytes(name)[idx]
        as_void = np.ascontiguousarray(raw).view(np.dtype((np.void, width))).ravel()
        uniq, inverse = np.unique(as_void, return_inverse=True)
        return Coded(inverse.astype(np.int64).ravel(), [u.tobytes() for u in uniq])

    def id_hex(self, name: str, row: int) -> str:
        return bytes(self.id_bytes(name)[row]).hex()

    def span_name(self, row: int) -> str:
        codes, names = self.name_codes()
        c = int(codes[row])
        return (names[c] or "") if c < len(names) else ""


__all__ = ["SPAN_FIELDS", "AttrSlice", "BatchView", "Coded", "EventTime", "dense_unique", "dictionary_codes", "lookup"]
