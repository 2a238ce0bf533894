"""Group-by keys and event columns of span, log and metric batches, computed without a loop per item.

Dimensions (``group_by`` entries) by signal:

- spans: ``span.name``, ``span.kind``, ``status.code`` (kind and status as their OTLP enum
  names, ``SPAN_KIND_SERVER``, ``STATUS_CODE_ERROR``, as the spanmetrics connector writes them);
- log records: ``severity_text``, ``severity_number`` (an int), ``event_name``;
- metric data points: ``metric.name``, ``metric.unit``, ``metric.type`` (``GAUGE``, ``SUM``...);
- all: ``scope.name``; ``resource.<key>`` (a resource attribute only); any other name is the
  item's attribute (span, log record or data point attribute), else the resource attribute (so
  ``service.name`` is the resource's), as the Collector's spanmetrics connector looks them up.

Each dimension becomes a per-item integer code (``-1`` = missing) over a small dictionary of
values; the codes of all dimensions are combined pairwise and re-densified after each step, so
the work is a few O(n) numpy passes and one Python step per *distinct* key of the batch.
Missing values appear as ``None`` in the key; so do empty ``severity_text``, ``event_name`` and
``metric.unit`` (OTLP's "unset"). String, int, double and bool attribute values are supported;
bytes, arrays and maps count as missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from knhk_telemetry.model.batch import Batch, LogBatch, MetricBatch, SpanBatch
from knhk_telemetry.model.schema import MetricType, NumberKind, SpanKind, StatusCode, ValueType

__all__ = [
    "DEFAULT_GROUP_BY",
    "DEFAULT_LOG_GROUP_BY",
    "DEFAULT_METRIC_GROUP_BY",
    "KeyTable",
    "batch_keys",
    "dimension_codes",
    "metric_values",
    "numeric_column",
]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
DEFAULT_GROUP_BY: tuple[str, ...] = ("service.name", "span.name", "span.kind", "status.code")
DEFAULT_LOG_GROUP_BY: tuple[str, ...] = ("service.name", "severity_text")
DEFAULT_METRIC_GROUP_BY: tuple[str, ...] = ("service.name", "metric.name")
_METRIC_TYPE_NAMES = {t.value: t.name for t in MetricType}
#: the attribute table of each batch type's items
_ITEM_ATTRIBUTES = {SpanBatch: "span_attributes", LogBatch: "log_attributes", MetricBatch: "point_attributes"}
_KIND_NAMES = [f"SPAN_KIND_{k.name}" for k in SpanKind]
_STATUS_NAMES = [f"STATUS_CODE_{s.name}" for s in StatusCode]
#: dense re-coding uses a presence array up to this many combined codes, np.unique beyond
_DENSE_LIMIT = 1 << 24


def _dict_codes(col: pa.ChunkedArray | pa.Array) -> tuple[I64, list[Any]]:
    """Indices (``-1`` for null) and dictionary values of a dictionary-encoded column."""
    if isinstance(col, pa.Array):
        col = pa.chunked_array([col], type=col.type)
    if col.num_chunks == 0:
        return np.zeros(0, dtype=np.int64), []
    if col.num_chunks > 1:
        col = col.unify_dictionaries()
    dictionary = col.chunk(0).dictionary
    idx = pa.chunked_array([c.indices for c in col.chunks]).combine_chunks()
    codes = idx.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, dictionary.to_pylist()


def _int_column(table: pa.Table, name: str, fill: int) -> I64:
    out: I64 = table.column(name).combine_chunks().fill_null(fill).to_numpy(zero_copy_only=False).astype(np.int64)
    return out


def _attribute_codes(attrs: pa.Table, n_rows: int, key: str) -> tuple[I64, list[Any]]:
    """Per parent row: a code of the value of attribute ``key`` (``-1`` missing) and the values."""
    codes = np.full(n_rows, -1, dtype=np.int64)
    if attrs.num_rows == 0:
        return codes, []
    kcodes, kdict = _dict_codes(attrs.column("key"))
    try:
        want = kdict.index(key)
    except ValueError:
        return codes, []
    sel = np.flatnonzero(kcodes == want)
    if sel.size == 0:
        return codes, []
    sub = attrs.take(pa.array(sel))
    rows = _int_column(sub, "row", -1)
    vtype = _int_column(sub, "type", -1)
    values: list[Any] = []
    local = np.full(sel.size, -1, dtype=np.int64)
    for vt, colname in ((ValueType.STRING, "str"), (ValueType.INT, "int"), (ValueType.DOUBLE, "double")):
        m = vtype == vt
        if m.any():
            c, d = _dict_codes(sub.column(colname))
            local[m] = c[m] + len(values)
            values.extend(d)
    m = vtype == ValueType.BOOL
    if m.any():
        b = sub.column("bool").combine_chunks().fill_null(False).to_numpy(zero_copy_only=False)
        local[m] = np.where(b[m], 1, 0) + len(values)
        values.extend([False, True])
    codes[rows] = local  # a repeated key: the last one wins
    return codes, values


def _string_codes(col: pa.ChunkedArray | pa.Array, *, empty_is_missing: bool) -> tuple[I64, list[Any]]:
    """Codes of a string column (dictionary-encoded or not); ``""`` may count as missing."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if not pa.types.is_dictionary(col.type):
        col = col.dictionary_encode()
    codes, values = _dict_codes(col)
    if empty_is_missing and "" in values:
        codes = np.where(codes == values.index(""), -1, codes)
    return codes, values


def _small_int_codes(values: I64) -> tuple[I64, list[Any]]:
    """Codes of an int column with few distinct values (e.g. severity numbers): one O(n) pass."""
    if values.size == 0:
        return np.zeros(0, dtype=np.int64), []
    lo, hi = int(values.min()), int(values.max())
    present = np.zeros(hi - lo + 1, dtype=np.bool_)
    present[values - lo] = True
    distinct = np.flatnonzero(present)
    remap = np.cumsum(present, dtype=np.int64) - 1
    return remap[values - lo], [int(v) + lo for v in distinct]


def _metric_rows(batch: MetricBatch) -> I64:
    """The metric row of each data point."""
    return _int_column(batch.points, "metric", 0)


def _item_scopes(batch: Batch) -> I64:
    if isinstance(batch, MetricBatch):
        return _int_column(batch.metrics, "scope", -1)[_metric_rows(batch)] if len(batch) else np.zeros(0, np.int64)
    return _int_column(batch.items, "scope", -1)


def _signal_field(batch: Batch, dim: str) -> tuple[I64, list[Any]] | None:  # noqa: PLR0911 - one per field
    """Codes of a signal-specific field dimension, or None when ``dim`` is not one."""
    items = batch.items
    if isinstance(batch, SpanBatch):
        if dim == "span.name":
            return _dict_codes(items.column("name"))
        if dim == "span.kind":
            k = _int_column(items, "kind", -1)
            return np.where((k >= 0) & (k < len(_KIND_NAMES)), k, -1), list(_KIND_NAMES)
        if dim == "status.code":
            s = _int_column(items, "status_code", 0)
            return np.where((s >= 0) & (s < len(_STATUS_NAMES)), s, -1), list(_STATUS_NAMES)
    elif isinstance(batch, LogBatch):
        if dim in ("severity_text", "event_name"):
            return _string_codes(items.column(dim), empty_is_missing=True)
        if dim == "severity_number":
            return _small_int_codes(_int_column(items, "severity_number", 0))
    elif isinstance(batch, MetricBatch) and dim in ("metric.name", "metric.unit", "metric.type"):
        rows = _metric_rows(batch)
        metrics = batch.metrics
        if dim == "metric.type":
            mc, mv = _small_int_codes(_int_column(metrics, "type", 0))
            names = [_METRIC_TYPE_NAMES.get(v, str(v)) for v in mv]
        else:
            col = metrics.column("name" if dim == "metric.name" else "unit")
            mc, names = _string_codes(col, empty_is_missing=dim == "metric.unit")
        return (mc[rows] if len(batch) else np.zeros(0, np.int64)), names
    return None


def dimension_codes(batch: Batch, dim: str) -> tuple[I64, list[Any]]:
    """Per-item codes (``-1`` missing) and the value of each code for one group-by dimension."""
    n = len(batch)
    field = _signal_field(batch, dim)
    if field is not None:
        return field
    if dim == "scope.name":
        scope = _item_scopes(batch)
        scodes, svals = _string_codes(batch.scopes.column("name"), empty_is_missing=False)
        return scodes[scope] if n else np.zeros(0, np.int64), svals
    resource_rows = batch.item_resource_index() if n else np.zeros(0, dtype=np.int64)
    n_res = batch.resources.num_rows
    if dim.startswith("resource."):
        rc, rv = _attribute_codes(batch.table("resource_attributes"), n_res, dim.removeprefix("resource."))
        return (rc[resource_rows] if n else rc[:0]), rv
    sc, sv = _attribute_codes(batch.table(_ITEM_ATTRIBUTES[type(batch)]), n, dim)
    rc, rv = _attribute_codes(batch.table("resource_attributes"), n_res, dim)
    if not rv:
        return sc, sv
    from_res = rc[resource_rows] if n else rc[:0]
    out = np.where(sc >= 0, sc, np.where(from_res >= 0, from_res + len(sv), -1))
    return out, sv + rv


def metric_values(batch: MetricBatch) -> F64:
    """Each data point's number value as float64 (``nan`` where unset or not a number point)."""
    pts = batch.points
    kind = _int_column(pts, "value_kind", NumberKind.NONE)
    dbl = pts.column("value_double").combine_chunks().fill_null(np.nan).to_numpy(zero_copy_only=False)
    ints = pts.column("value_int").combine_chunks().fill_null(0).to_numpy(zero_copy_only=False)
    out: F64 = np.where(
        kind == NumberKind.INT, ints.astype(np.float64), np.where(kind == NumberKind.DOUBLE, dbl, np.nan)
    )
    return out


def numeric_column(batch: Batch, source: str) -> F64:
    """Per-item float values of a custom aggregation's source (``nan`` where missing/non-numeric).

    ``source``: spans: ``duration``, ``status.code``, ``span.kind``; metric points: ``value``;
    any signal: a numeric dimension (``severity_number``, an attribute key, ``resource.<key>``).
    """
    n = len(batch)
    if isinstance(batch, SpanBatch):
        if source == "duration":
            return batch.durations_ns().astype(np.float64)
        if source in ("status.code", "span.kind"):
            col = "status_code" if source == "status.code" else "kind"
            return _int_column(batch.spans, col, -1).astype(np.float64)
    if isinstance(batch, MetricBatch) and source == "value":
        return metric_values(batch)
    codes, values = dimension_codes(batch, source)
    vals = np.array(
        [float(v) if isinstance(v, int | float) and not isinstance(v, bool) else np.nan for v in values] + [np.nan]
    )
    return vals[np.where(codes >= 0, codes, len(values))] if n else np.zeros(0)


def _tagged(value: Any) -> tuple[str, Any]:
    # True == 1 == 1.0 in Python; a key must keep them apart.
    return (type(value).__name__, value)


class KeyTable:
    """Global key ids: a dense int per distinct key tuple, in first-seen order (stable over time).

    Known keys are found without Python per key: each dimension's values get small global
    ids, a key packs its dimensions' ids into one int64, and packed keys are looked up with
    a binary search; only keys never seen before take a Python step.
    """

    def __init__(self, dims: Sequence[str]) -> None:
        self.dims = tuple(dims)
        self._ids: dict[tuple[tuple[str, Any], ...], int] = {}
        self.keys: list[tuple[Any, ...]] = []
        # per dimension: tagged value -> id (0 = missing), and the values by id
        self._dim_ids: list[dict[tuple[str, Any], int]] = [{} for _ in self.dims]
        self._dim_values: list[list[Any]] = [[None] for _ in self.dims]
        self._bits = 63 // max(len(self.dims), 1)
        self._packed = np.zeros(0, dtype=np.int64)  # sorted packed keys
        self._packed_ids = np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.keys)

    def id_of(self, key: tuple[Any, ...]) -> int:
        tagged = tuple(_tagged(v) for v in key)
        got = self._ids.get(tagged)
        if got is None:
            got = len(self.keys)
            self._ids[tagged] = got
            self.keys.append(tuple(key))
        return got

    def ids_of(self, keys: Sequence[tuple[Any, ...]]) -> I64:
        return np.fromiter((self.id_of(k) for k in keys), dtype=np.int64, count=len(keys))

    def as_dict(self, key_id: int) -> dict[str, Any]:
        return dict(zip(self.dims, self.keys[key_id], strict=True))

    def _dim_lut(self, d: int, values: list[Any]) -> I64:
        """Global value id of each local value code (index 0 = missing)."""
        ids, vals = self._dim_ids[d], self._dim_values[d]
        lut = np.zeros(len(values) + 1, dtype=np.int64)
        for i, v in enumerate(values):
            t = _tagged(v)
            g = ids.get(t)
            if g is None:
                g = ids[t] = len(vals)
                vals.append(v)
            lut[i + 1] = g
        return lut

    def ids_of_codes(self, comps: Sequence[I64], values: Sequence[list[Any]]) -> I64:
        """Global ids of the keys whose dimension ``d`` has local code ``comps[d]`` (-1 missing)."""
        k = comps[0].size if comps else 0
        gids = [self._dim_lut(d, values[d])[c + 1] for d, c in enumerate(comps)]
        if any(len(v) >= (1 << self._bits) for v in self._dim_values):
            keys = [tuple(self._dim_values[d][int(g[i])] for d, g in enumerate(gids)) for i in range(k)]
            return self.ids_of(keys)
        packed = np.zeros(k, dtype=np.int64)
        for d, g in enumerate(gids):
            packed |= g << (self._bits * d)
        pos = np.minimum(np.searchsorted(self._packed, packed), max(self._packed.size - 1, 0))
        found = (self._packed[pos] == packed) if self._packed.size else np.zeros(k, dtype=np.bool_)
        out = np.empty(k, dtype=np.int64)
        out[found] = self._packed_ids[pos[found]]
        new = np.flatnonzero(~found)
        if new.size:
            keys = [tuple(self._dim_values[d][int(g[i])] for d, g in enumerate(gids)) for i in new]
            new_ids = self.ids_of(keys)
            out[new] = new_ids
            allp = np.concatenate([self._packed, packed[new]])
            alli = np.concatenate([self._packed_ids, new_ids])
            order = np.argsort(allp, kind="stable")
            self._packed, self._packed_ids = allp[order], alli[order]
        return out


def _densify(code: I64, size: int) -> tuple[I64, I64]:
    """Dense re-coding of ``code`` in ``[0, size)``: (new codes, the distinct old codes ascending)."""
    if size <= _DENSE_LIMIT:
        present = np.zeros(size, dtype=np.bool_)
        present[code] = True
        uniq = np.flatnonzero(present)
        remap = np.cumsum(present, dtype=np.int64) - 1
        return remap[code], uniq.astype(np.int64)
    uniq, inv = np.unique(code, return_inverse=True)
    return inv.astype(np.int64), uniq.astype(np.int64)


def batch_keys(batch: Batch, dims: Sequence[str], table: KeyTable, rows: I64 | None = None) -> tuple[I64, I64]:
    """``(local code per item, global key id per local code)`` for ``dims``; registers new keys.

    ``rows``: only these items (codes are then per entry of ``rows``).
    """
    n = len(batch) if rows is None else rows.size
    if not dims:
        return np.zeros(n, dtype=np.int64), table.ids_of([()])
    parts = [dimension_codes(batch, d) for d in dims]
    if rows is not None:
        parts = [(c[rows], values) for c, values in parts]
    comps: list[I64] = []  # per dimension: the code of each local key
    code = np.zeros(n, dtype=np.int64)
    k = 1
    for c, values in parts:
        width = len(values) + 1
        code, uniq = _densify(code * width + (c + 1), k * width)
        comps = [cc[uniq // width] for cc in comps] + [uniq % width - 1]
        k = uniq.size
    return code, table.ids_of_codes(comps, [values for _, values in parts])
