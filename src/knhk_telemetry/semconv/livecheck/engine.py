"""The vectorised live checker: Weaver's findings for whole batches, per distinct key, not per span.

How a batch is checked (``check_spans``; metrics and logs alike):

1. Each attribute table is viewed as numpy arrays: the parent ``row``, the dictionary index of
   the ``key`` and the *sample type* of the value (string, int, ..., ``string[]`` for arrays).
2. The distinct ``(key, sample type)`` pairs are found with one ``bincount`` (keys are
   dictionary-encoded, so a pair is a small integer); the rules run once per distinct pair (and
   are cached across batches in a bounded LRU keyed by signal type, key and type). Enum values
   are checked once per distinct ``(key, value)``; ``unexpected_attribute`` once per distinct
   ``(key, definition)``.
3. The per-pair finding lists are gathered back to attribute rows with numpy index arithmetic.
4. A signal's attribute *set* is summarised by a 64-bit signature (the wrapping sum of the key
   hashes over its rows, from one cumulative sum), so required/recommended attribute checks,
   span-definition matching and entity checks run once per distinct (definition, key set,
   resource key set), again cached.

Span definitions are matched in this order (Weaver itself only starts to match spans, by the
``otel.span.type`` attribute): the ``otel.span.type`` string value (a span group id such as
``span.http.client`` or the type ``http.client``); a literal ``span_name`` of a span group equal
to the span name; else :meth:`RegistryIndex.match_span_definition` over the span's key set.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from opentelemetry.proto.common.v1 import common_pb2

from knhk_telemetry.model.batch import Batch, LogBatch, MetricBatch, SpanBatch
from knhk_telemetry.model.schema import MetricType, ValueType
from knhk_telemetry.semconv.livecheck.findings import BatchFindings, Codes, Finding
from knhk_telemetry.semconv.livecheck.modifier import FindingFilter, FindingModifier, LevelOverride
from knhk_telemetry.semconv.livecheck.rules import SPAN_TYPE_ATTRIBUTE, AttributeVerdict, RegistryIndex
from knhk_telemetry.semconv.model import Attribute, Group, Registry

__all__ = ["LiveChecker"]

_MASK64 = (1 << 64) - 1
# ValueType -> sample type index (rules.STYPE_NAMES); arrays are inferred from their elements
_STYPE_LUT = np.array([0, 1, 2, 3, 4, 0, 0, 0], dtype=np.int8)
_ARRAY_STYPE = {"string": 5, "boolean": 6, "int": 7, "double": 8}


class _LRU:
    """A bounded mapping that forgets the least recently used entry."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._d: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        d = self._d
        try:
            d.move_to_end(key)
            return d[key]
        except KeyError:
            value = make()
            d[key] = value
            if len(d) > self.maxsize:
                d.popitem(last=False)
            return value

    def __len__(self) -> int:
        return len(self._d)


def _chunk(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        return col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    return col


def _np(col: pa.ChunkedArray | pa.Array) -> np.ndarray[Any, Any]:
    return np.asarray(_chunk(col).to_numpy(zero_copy_only=False))


def _bits(buf: pa.Buffer, offset: int, n: int) -> np.ndarray[Any, Any]:
    """``n`` bits from ``offset`` of an Arrow bitmap, unpacking only the bytes that hold them."""
    first = offset // 8
    raw = np.frombuffer(buf, np.uint8, count=(offset + n + 7) // 8 - first, offset=first)
    shift = offset - first * 8
    return np.unpackbits(raw, bitorder="little")[shift : shift + n]


def _ints(col: pa.ChunkedArray | pa.Array, fill: int = 0) -> np.ndarray[Any, Any]:
    """An integer (or boolean) column as int64 with nulls replaced by ``fill``, read from the
    Arrow buffers (``fill_null`` and ``to_numpy`` with nulls are 10x slower on small arrays)."""
    arr = _chunk(col)
    n = len(arr)
    if n == 0:
        return np.zeros(0, np.int64)
    if pa.types.is_boolean(arr.type):
        values = _bits(arr.buffers()[1], arr.offset, n).astype(np.int64)
    else:
        dtype = np.dtype(arr.type.to_pandas_dtype())
        values = np.frombuffer(arr.buffers()[1], dtype=dtype, count=n, offset=arr.offset * dtype.itemsize).astype(
            np.int64
        )
    if arr.null_count:
        values[_bits(arr.buffers()[0], arr.offset, n) == 0] = fill
    return values


def _dict_array(col: pa.ChunkedArray | pa.Array) -> pa.DictionaryArray:
    arr = _chunk(col)
    if not pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_encode()
    return arr


def _indices(arr: pa.DictionaryArray, fill: int = -1) -> np.ndarray[Any, Any]:
    return _ints(arr.indices, fill)


def _unique(
    values: np.ndarray[Any, Any], bound: int
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Distinct values, the inverse and the counts; a bincount when the values are small."""
    if bound <= max(8 * len(values), 1 << 12):
        counts = np.bincount(values, minlength=bound)
        uniq = np.flatnonzero(counts)
        lut = np.zeros(bound, dtype=np.int64)
        lut[uniq] = np.arange(len(uniq))
        return uniq, lut[values], counts[uniq]
    uniq, inv, counts = np.unique(values, return_inverse=True, return_counts=True)
    return uniq, inv, counts


def _gather(
    per_unique: Sequence[Sequence[int]], inv: np.ndarray[Any, Any], rows: np.ndarray[Any, Any] | None = None
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(row, code) pairs: every row gets the codes of its distinct value ``inv[row]``.

    ``rows`` renames the rows (default: positions); the pairs come out in row order."""
    lens = np.fromiter((len(c) for c in per_unique), dtype=np.int64, count=len(per_unique))
    if not lens.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int32)
    flat = np.fromiter((c for cs in per_unique for c in cs), dtype=np.int32, count=int(lens.sum()))
    uoff = np.zeros(len(lens), dtype=np.int64)
    np.cumsum(lens[:-1], out=uoff[1:])
    per_row = lens[inv]
    sel = np.flatnonzero(per_row)
    k = per_row[sel]
    if bool((k == 1).all()):
        out_rows, codes = sel, flat[uoff[inv[sel]]]
    else:
        out_rows = np.repeat(sel, k)
        first = np.repeat(uoff[inv[sel]], k)
        within = np.arange(len(out_rows)) - np.repeat(np.cumsum(k) - k, k)
        codes = flat[first + within]
    if rows is not None:
        out_rows = rows[out_rows]
    return out_rows.astype(np.int64, copy=False), codes


def _merge(n: int, parts: Iterable[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]]) -> Codes:
    """CSR codes from (row, code) parts, each in row order; within a row, part order is kept."""
    nonempty = [(r, c) for r, c in parts if len(r)]
    if not nonempty:
        return Codes.empty(n)
    if len(nonempty) == 1:
        rows, codes = nonempty[0]
    else:
        rows = np.concatenate([r for r, _ in nonempty])
        codes = np.concatenate([c for _, c in nonempty])
        order = np.argsort(rows, kind="stable")
        rows, codes = rows[order], codes[order]
    return Codes.from_pairs(n, rows, codes)


def _segment_bounds(rows: np.ndarray[Any, Any], n: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    counts = np.bincount(rows, minlength=n) if len(rows) else np.zeros(n, np.int64)
    ends = np.cumsum(counts)
    return ends - counts, ends


def _array_stype(data: bytes) -> int:  # noqa: PLR0911 (one return per element type)
    """Weaver's type inference for an array value (0 for empty, mixed or nested arrays)."""
    try:
        arr = common_pb2.ArrayValue.FromString(data)
    except Exception:
        return 0
    kinds = [v.WhichOneof("value") for v in arr.values]
    kinds = [k for k in kinds if k in ("string_value", "bool_value", "int_value", "double_value", "array_value")]
    if not kinds:
        return 0
    first = kinds[0]
    if first == "bool_value" and all(k == "bool_value" for k in kinds):
        return _ARRAY_STYPE["boolean"]
    if first == "int_value" and all(k == "int_value" for k in kinds):
        return _ARRAY_STYPE["int"]
    if first in ("int_value", "double_value") and all(k in ("int_value", "double_value") for k in kinds):
        return _ARRAY_STYPE["double"]
    if first == "string_value" and all(k == "string_value" for k in kinds):
        return _ARRAY_STYPE["string"]
    return 0


@dataclass(slots=True)
class _View:
    """An attribute table as numpy arrays, with per-parent key-set signatures."""

    n_parent: int
    table: pa.Table
    rows: np.ndarray[Any, Any]
    kidx: np.ndarray[Any, Any]
    n_dict: int
    names: dict[int, str]
    stype: np.ndarray[Any, Any]
    starts: np.ndarray[Any, Any]
    ends: np.ndarray[Any, Any]
    sig: np.ndarray[Any, Any]

    def __len__(self) -> int:
        return len(self.rows)

    def keys_of(self, parent: int) -> frozenset[str]:
        names = self.names
        return frozenset(names[int(k)] for k in self.kidx[self.starts[parent] : self.ends[parent]])

    def key_index(self, key: str) -> int | None:
        for i, name in self.names.items():
            if name == key:
                return i
        return None


class _Local:
    """The distinct findings of one batch, numbered in first-seen order."""

    __slots__ = ("codes", "findings")

    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.codes: dict[Finding, int] = {}

    def code(self, f: Finding) -> int:
        c = self.codes.get(f)
        if c is None:
            c = self.codes[f] = len(self.findings)
            self.findings.append(f)
        return c

    def of(self, fs: Iterable[Finding]) -> list[int]:
        return [self.code(f) for f in fs]


class LiveChecker:
    """Checks batches against a resolved registry with Weaver's live-check rules.

    ``overrides``/``filters`` (or a ready ``modifier``) change levels and drop findings as Weaver's
    ``finding_level_overrides``/``finding_filters`` do; ``cache_size`` bounds the verdict cache
    (entries keyed by signal type + key + value type, enum value, metric, event or span shape).
    Not thread-safe: use one checker per thread or a lock (the caches are shared state).
    """

    def __init__(
        self,
        registry: Registry,
        *,
        overrides: Sequence[LevelOverride] = (),
        filters: Sequence[FindingFilter] = (),
        modifier: FindingModifier | None = None,
        cache_size: int = 65536,
    ) -> None:
        self.registry = registry
        self.index = RegistryIndex(registry)
        self.modifier = modifier if modifier is not None else FindingModifier(overrides, filters)
        self._cache = _LRU(cache_size)
        self._groups: list[Group] = []
        self._group_ids: dict[str, int] = {}
        self._dicts: OrderedDict[tuple[int, ...], tuple[pa.Array, dict[int, str], np.ndarray[Any, Any]]] = OrderedDict()

    # -- helpers ------------------------------------------------------------------------------
    def _mod(self, fs: Iterable[Finding]) -> tuple[Finding, ...]:
        m = self.modifier
        if not m:
            return tuple(fs)
        return tuple(g for f in fs if (g := m.apply(f)) is not None)

    def _gid(self, group: Group | None) -> int:
        if group is None:
            return -1
        i = self._group_ids.get(group.id)
        if i is None:
            i = self._group_ids[group.id] = len(self._groups)
            self._groups.append(group)
        return i

    @property
    def cache_entries(self) -> int:
        """Entries in the verdict cache (bounded by ``cache_size``)."""
        return len(self._cache)

    def check(self, batch: Batch) -> BatchFindings:
        """Dispatch on the batch type."""
        if isinstance(batch, SpanBatch):
            return self.check_spans(batch)
        if isinstance(batch, MetricBatch):
            return self.check_metrics(batch)
        if isinstance(batch, LogBatch):
            return self.check_logs(batch)
        raise TypeError(f"not a batch: {type(batch).__name__}")

    # -- attribute tables --------------------------------------------------------------------
    def _view(self, table: pa.Table, n_parent: int) -> _View:
        n = table.num_rows
        if n == 0:
            z = np.zeros(0, np.int64)
            zp = np.zeros(n_parent, np.int64)
            return _View(n_parent, table, z, z, 0, {}, np.zeros(0, np.int8), zp, zp, np.zeros(n_parent, np.uint64))
        rows = _ints(table.column("row"))
        keys = _dict_array(table.column("key"))
        kidx = _indices(keys, 0)
        n_dict = len(keys.dictionary)
        names, hashes = self._key_dictionary(keys.dictionary, kidx)
        vt = _ints(table.column("type"))
        stype = _STYPE_LUT[np.clip(vt, 0, 7)]
        arrays = vt == ValueType.ARRAY
        if arrays.any():
            pos = np.flatnonzero(arrays)
            data = table.column("bytes").take(pa.array(pos))
            distinct = pc.unique(data)
            types = np.array([_array_stype(b) for b in distinct.to_pylist()], dtype=np.int8)
            stype = stype.copy()
            stype[pos] = types[_np(pc.index_in(data, value_set=distinct)).astype(np.int64)]
        starts, ends = _segment_bounds(rows, n_parent)
        cs = np.zeros(n + 1, dtype=np.uint64)
        np.cumsum(hashes[kidx], out=cs[1:])
        sig = cs[ends] - cs[starts]
        return _View(n_parent, table, rows, kidx, n_dict, names, stype, starts, ends, sig)

    def _key_dictionary(
        self, dictionary: pa.Array, kidx: np.ndarray[Any, Any]
    ) -> tuple[dict[int, str], np.ndarray[Any, Any]]:
        """Names and hashes of the keys of a dictionary; small dictionaries are cached by buffer
        (the slices of one batch share their dictionary), large ones read for the used keys only."""
        n_dict = len(dictionary)
        if n_dict <= 4096:
            bufs = dictionary.buffers()
            ident = (n_dict, dictionary.offset, *(b.address if b is not None else 0 for b in bufs))
            hit = self._dicts.get(ident)
            if hit is None:
                names_list = dictionary.to_pylist()
                hashes = np.array([hash(k) & _MASK64 for k in names_list], dtype=np.uint64)
                # the array is kept so that its buffers (the cache key) cannot be reused meanwhile
                hit = (dictionary, dict(enumerate(names_list)), hashes)
                self._dicts[ident] = hit
                if len(self._dicts) > 64:
                    self._dicts.popitem(last=False)
            return hit[1], hit[2]
        used = np.unique(kidx)
        names = dict(zip(used.tolist(), dictionary.take(pa.array(used)).to_pylist(), strict=True))
        hashes = np.zeros(n_dict, dtype=np.uint64)
        hashes[used] = np.array([hash(k) & _MASK64 for k in names.values()], dtype=np.uint64)
        return names, hashes

    def _verdict(self, key: str, stype: int, st: str | None) -> AttributeVerdict:
        def make() -> AttributeVerdict:
            v = self.index.attribute_verdict(key, stype, st)
            return AttributeVerdict(self._mod(v.pre), self._mod(v.post), v.enum, v.seen_name, v.in_registry, v.defined)

        return self._cache.get(("a", st, key, stype), make)  # type: ignore[no-any-return]

    def _attr_codes(
        self,
        view: _View,
        st: str | None,
        local: _Local,
        seen: dict[str, int],
        parent_group: np.ndarray[Any, Any] | None = None,
    ) -> Codes:
        """Codes of every attribute row of ``view``; ``parent_group`` (per parent row, -1 none)
        enables ``unexpected_attribute``."""
        n = len(view)
        if n == 0:
            return Codes.empty(0)
        pair = view.kidx * 16 + view.stype
        upair, inv, counts = _unique(pair, view.n_dict * 16)
        verdicts = [self._verdict(view.names[int(p) >> 4], int(p) & 15, st) for p in upair.tolist()]
        for v, c in zip(verdicts, counts.tolist(), strict=True):
            seen[v.seen_name] = seen.get(v.seen_name, 0) + c
        parts = [_gather([local.of(v.pre) for v in verdicts], inv)]
        enum_pairs = np.array([v.enum is not None for v in verdicts], dtype=bool)
        if enum_pairs.any():
            parts.append(self._enum_codes(view, st, local, verdicts, enum_pairs[inv], upair, inv))
        parts.append(_gather([local.of(v.post) for v in verdicts], inv))
        if parent_group is not None and len(self._groups):
            defined = np.array([v.defined for v in verdicts], dtype=bool)
            parts.append(self._unexpected_codes(view, st, local, parent_group, defined[inv]))
        return _merge(n, parts)

    def _enum_codes(  # noqa: PLR0917 (private helper with one caller)
        self,
        view: _View,
        st: str | None,
        local: _Local,
        verdicts: list[AttributeVerdict],
        mask: np.ndarray[Any, Any],
        upair: np.ndarray[Any, Any],
        inv: np.ndarray[Any, Any],
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        out_rows: list[np.ndarray[Any, Any]] = []
        out_codes: list[np.ndarray[Any, Any]] = []
        for column, stype in (("str", 1), ("int", 3)):
            sel = np.flatnonzero(mask & (view.stype == stype))
            if not len(sel):
                continue
            values = _dict_array(view.table.column(column))
            vidx = _indices(values, 0)[sel]
            nv = len(values.dictionary)
            combo = view.kidx[sel] * nv + vidx
            ucombo, cinv, _ = _unique(combo, view.n_dict * nv)
            ukeys = (ucombo // nv).tolist()
            uvidx = (ucombo % nv).tolist()
            if nv <= 4096:
                value_names = self._key_dictionary(values.dictionary, vidx)[0]
                uvals = [value_names[i] for i in uvidx]
            else:
                uvals = values.dictionary.take(pa.array(uvidx)).to_pylist()
            attr_of = {int(p) >> 4: verdicts[i].enum for i, p in enumerate(upair.tolist()) if (int(p) & 15) == stype}
            per: list[list[int]] = []
            for k, val in zip(ukeys, uvals, strict=True):
                attr = attr_of.get(k)
                if attr is None:
                    per.append([])
                    continue
                f = self._enum(attr, view.names[k], val, st)
                per.append([local.code(f)] if f is not None else [])
            r, c = _gather(per, cinv, sel)
            out_rows.append(r)
            out_codes.append(c)
        if not out_rows:
            return np.zeros(0, np.int64), np.zeros(0, np.int32)
        rows = np.concatenate(out_rows)
        codes = np.concatenate(out_codes)
        order = np.argsort(rows, kind="stable")
        return rows[order], codes[order]

    def _enum(self, attr: Attribute, key: str, value: str | int, st: str | None) -> Finding | None:
        def make() -> Finding | None:
            f = self.index.enum_finding(attr, key, value, st)
            got = self._mod([f]) if f is not None else ()
            return got[0] if got else None

        return self._cache.get(("e", st, key, type(value).__name__, value), make)  # type: ignore[no-any-return]

    def _unexpected_codes(
        self,
        view: _View,
        st: str | None,
        local: _Local,
        parent_group: np.ndarray[Any, Any],
        defined: np.ndarray[Any, Any],
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        g_row = parent_group[view.rows]
        sel = np.flatnonzero((g_row >= 0) & defined)
        if not len(sel):
            return np.zeros(0, np.int64), np.zeros(0, np.int32)
        n_groups = len(self._groups)
        combo = view.kidx[sel] * n_groups + g_row[sel]
        ucombo, cinv, _ = _unique(combo, view.n_dict * n_groups)
        per: list[list[int]] = []
        for c in ucombo.tolist():
            key, gid = view.names[c // n_groups], c % n_groups
            group = self._groups[gid]

            def make(group: Group = group, key: str = key) -> tuple[Finding, ...]:
                f = self.index.unexpected_finding(group, key, st)
                return self._mod([f]) if f is not None else ()

            per.append(local.of(self._cache.get(("u", st, group.id, key), make)))
        return _gather(per, cinv, sel)

    # -- per-signal shapes --------------------------------------------------------------------
    def _shape_codes(  # noqa: PLR0917 (private helper; positions read like the data flow)
        self,
        tag: str,
        local: _Local,
        group: np.ndarray[Any, Any],
        view: _View,
        res_sig: np.ndarray[Any, Any],
        evaluate: Callable[[Group, int], list[Finding]],
        extra: np.ndarray[Any, Any] | None = None,
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Codes per signal row from its definition, key set and resource key set, computed once
        per distinct (definition, key set, resource key set, ``extra``)."""
        sel = np.flatnonzero(group >= 0)
        if not len(sel):
            return np.zeros(0, np.int64), np.zeros(0, np.int32)
        g = group[sel].astype(np.uint64)
        combo = view.sig[sel] * np.uint64(0x9E3779B97F4A7C15) + res_sig[sel] * np.uint64(0xC2B2AE3D27D4EB4F)
        combo = combo + (g + np.uint64(1)) * np.uint64(0x165667B19E3779F9)
        if extra is not None:
            combo = combo + (extra[sel].astype(np.uint64) + np.uint64(1)) * np.uint64(0x27D4EB2F165667C5)
        _, first, cinv = np.unique(combo, return_index=True, return_inverse=True)
        per: list[list[int]] = []
        for f in first.tolist():
            row = int(sel[f])
            gid = int(group[row])
            ex = int(extra[row]) if extra is not None else 0
            key = (tag, gid, int(view.sig[row]), int(res_sig[row]), ex)

            def make(row: int = row, gid: int = gid) -> tuple[Finding, ...]:
                return self._mod(evaluate(self._groups[gid], row))

            per.append(local.of(self._cache.get(key, make)))
        return _gather(per, cinv.reshape(-1), sel)

    @staticmethod
    def _resource_sig(res_view: _View, res_of: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        if res_view.n_parent == 0:
            return np.zeros(len(res_of), np.uint64)
        return np.asarray(res_view.sig[res_of])

    def _base(self, batch: Batch, local: _Local, seen: dict[str, int]) -> tuple[_View, Codes, Codes, Codes]:
        """Resource and scope attributes (resources and scopes themselves get no advice)."""
        n_res, n_scope = batch.resources.num_rows, batch.scopes.num_rows
        res_view = self._view(batch.table("resource_attributes"), n_res)
        res_codes = self._attr_codes(res_view, "resource", local, seen)
        scope_view = self._view(batch.table("scope_attributes"), n_scope)
        scope_codes = self._attr_codes(scope_view, None, local, seen)
        return res_view, res_codes, scope_codes, Codes.empty(n_res)

    # -- spans --------------------------------------------------------------------------------
    def check_spans(self, batch: SpanBatch) -> BatchFindings:
        """Findings of a span batch (resources, scopes, spans, events, links and their attributes)."""
        local = _Local()
        seen: dict[str, int] = {}
        res_view, res_codes, scope_codes, res_own = self._base(batch, local, seen)
        spans = batch.spans
        n = spans.num_rows
        view = self._view(batch.table("span_attributes"), n)
        kind = _ints(spans.column("kind")) if n else np.zeros(0, np.int64)
        names = _dict_array(spans.column("name")) if n else None
        name_idx = _indices(names, -1) if names is not None else np.zeros(0, np.int64)
        group = self._span_groups(view, kind, names, name_idx)
        res_of = batch.item_resource_index() if n else np.zeros(0, np.int64)
        res_sig = self._resource_sig(res_view, res_of)
        index = self.index
        scoped = bool(self.modifier) and self.modifier.sample_scoped
        name_list: list[Any] = names.dictionary.to_pylist() if (scoped and names is not None) else []

        def evaluate(g: Group, row: int) -> list[Finding]:
            sample = name_list[name_idx[row]] if scoped and name_idx[row] >= 0 else None
            keys = view.keys_of(row)
            out = index.requirement_findings(g, keys, "span", sample_name=sample)
            kf = index.span_kind_finding(g, int(kind[row]), sample_name=sample)
            if kf is not None:
                out.append(kf)
            rkeys = res_view.keys_of(int(res_of[row])) if res_view.n_parent else frozenset()
            out.extend(index.entity_findings(g, rkeys, "span", sample_name=sample))
            return out

        extra = kind * (1 << 32) + (name_idx + 1 if scoped else 0)
        span_codes = _merge(n, [self._shape_codes("span", local, group, view, res_sig, evaluate, extra)])
        attr_codes = self._attr_codes(view, "span", local, seen, group)
        events, links = batch.table("events"), batch.table("links")
        ev_view = self._view(batch.table("event_attributes"), events.num_rows)
        ev_codes = self._attr_codes(ev_view, "span", local, seen)
        ln_view = self._view(batch.table("link_attributes"), links.num_rows)
        ln_codes = self._attr_codes(ln_view, "span", local, seen)
        ev_span = _ints(events.column("span")) if events.num_rows else np.zeros(0, np.int64)
        ln_span = _ints(links.column("span")) if links.num_rows else np.zeros(0, np.int64)
        items = _merge(
            n,
            [
                (span_codes.row_ids(), span_codes.codes),
                (view.rows[attr_codes.row_ids()], attr_codes.codes),
                (ev_span[ev_view.rows[ev_codes.row_ids()]], ev_codes.codes),
                (ln_span[ln_view.rows[ln_codes.row_ids()]], ln_codes.codes),
            ],
        )
        tables = {
            "resources": res_own,
            "resource_attributes": res_codes,
            "scopes": Codes.empty(batch.scopes.num_rows),
            "scope_attributes": scope_codes,
            "spans": span_codes,
            "span_attributes": attr_codes,
            "events": Codes.empty(events.num_rows),
            "event_attributes": ev_codes,
            "links": Codes.empty(links.num_rows),
            "link_attributes": ln_codes,
        }
        return self._finish("traces", local, tables, items, seen, {}, {})

    def _span_groups(
        self, view: _View, kind: np.ndarray[Any, Any], names: pa.DictionaryArray | None, name_idx: np.ndarray[Any, Any]
    ) -> np.ndarray[Any, Any]:
        n = view.n_parent
        group = np.full(n, -1, dtype=np.int64)
        index = self.index
        if n == 0 or not index.span_groups:
            return group
        # 1. otel.span.type
        t = view.key_index(SPAN_TYPE_ATTRIBUTE)
        if t is not None:
            sel = np.flatnonzero((view.kidx == t) & (view.stype == 1))
            if len(sel):
                values = _dict_array(view.table.column("str"))
                vidx = _indices(values, 0)[sel]
                uv, vinv, _ = _unique(vidx, len(values.dictionary))
                vals = values.dictionary.take(pa.array(uv)).to_pylist()
                gids = np.array([self._gid(index.span_by_type.get(v)) for v in vals], dtype=np.int64)
                group[view.rows[sel]] = gids[vinv]
        # 2. a literal span name
        if index.span_by_name and names is not None:
            todo = group < 0
            un, ninv, _ = _unique(np.where(name_idx >= 0, name_idx, 0), len(names.dictionary) or 1)
            vals = names.dictionary.take(pa.array(un)).to_pylist() if len(names.dictionary) else []
            gids = np.array([self._gid(index.span_by_name.get(v)) for v in vals] or [-1], dtype=np.int64)
            by_name = np.where(name_idx >= 0, gids[ninv], -1)
            group = np.where(todo, by_name, group)
        # 3. the definition (key set and kind)
        sel = np.flatnonzero(group < 0)
        if len(sel):
            combo = view.sig[sel] + kind[sel].astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
            _, first, cinv = np.unique(combo, return_index=True, return_inverse=True)
            matched: list[int] = []
            for f in first.tolist():
                row = int(sel[f])
                key = ("m", int(view.sig[row]), int(kind[row]))

                def make(row: int = row) -> int:
                    return self._gid(index.match_span_definition(int(kind[row]), view.keys_of(row)))

                matched.append(self._cache.get(key, make))
            group[sel] = np.array(matched, dtype=np.int64)[cinv.reshape(-1)]
        return group

    # -- metrics ------------------------------------------------------------------------------
    def check_metrics(self, batch: MetricBatch) -> BatchFindings:
        """Findings of a metric batch (metrics, data points, exemplars and their attributes)."""
        local = _Local()
        seen: dict[str, int] = {}
        res_view, res_codes, scope_codes, res_own = self._base(batch, local, seen)
        metrics, points = batch.metrics, batch.points
        nm, n = metrics.num_rows, points.num_rows
        index = self.index
        seen_metrics: dict[str, int] = {}
        metric_group = np.full(nm, -1, dtype=np.int64)
        metric_parts: list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] = []
        if nm:
            names = _dict_array(metrics.column("name"))
            units = _dict_array(pc.fill_null(metrics.column("unit"), ""))
            nidx = _indices(names, -1)
            uidx = _indices(units, 0)
            mtype = _ints(metrics.column("type"))
            mono = _ints(metrics.column("is_monotonic"))
            combo = ((nidx + 1) * (len(units.dictionary) + 1) + uidx) * 64 + mtype * 2 + mono
            _, first, cinv = np.unique(combo, return_index=True, return_inverse=True)
            cinv = cinv.reshape(-1)
            name_list = names.dictionary.to_pylist()
            unit_list = units.dictionary.to_pylist()
            per: list[list[int]] = []
            gids: list[int] = []
            for f in first.tolist():
                name = name_list[nidx[f]] if nidx[f] >= 0 else ""
                unit = unit_list[uidx[f]] if len(unit_list) else ""
                instrument, unsupported = _instrument(int(mtype[f]), bool(mono[f]))
                key = ("M", name, unit, instrument, unsupported)

                def make(
                    name: str = name, unit: str = unit, ins: str | None = instrument, uns: str | None = unsupported
                ) -> tuple[tuple[Finding, ...], int]:
                    fs, g = index.metric_findings(name, ins, uns, unit)
                    return self._mod(fs), self._gid(g)

                fs, gid = self._cache.get(key, make)
                per.append(local.of(fs))
                gids.append(gid)
            metric_group = np.array(gids, dtype=np.int64)[cinv]
            metric_parts.append(_gather(per, cinv))
            counts = np.bincount(nidx[nidx >= 0], minlength=len(name_list))
            for i in np.flatnonzero(counts).tolist():
                seen_metrics[name_list[i]] = seen_metrics.get(name_list[i], 0) + int(counts[i])
            # entity associations, on the metric
            m_scope = _ints(metrics.column("scope"))
            m_res = _ints(batch.scopes.column("resource"))[m_scope]
            res_sig = self._resource_sig(res_view, m_res)
            empty_view = self._view(batch.table("metric_metadata").slice(0, 0), nm)

            def evaluate_entity(g: Group, row: int) -> list[Finding]:
                rkeys = res_view.keys_of(int(m_res[row])) if res_view.n_parent else frozenset()
                return index.entity_findings(g, rkeys, "metric", signal_name=g.metric_name, sample_name=g.metric_name)

            has_assoc = np.array([bool(g.entity_associations) for g in self._groups] or [False], dtype=bool)
            eg = np.where((metric_group >= 0) & has_assoc[np.maximum(metric_group, 0)], metric_group, -1)
            metric_parts.append(self._shape_codes("metric", local, eg, empty_view, res_sig, evaluate_entity))
        metric_codes = _merge(nm, metric_parts)
        # data points: required attributes of the metric definition
        view = self._view(batch.table("point_attributes"), n)
        p_metric = _ints(points.column("metric")) if n else np.zeros(0, np.int64)
        p_group = metric_group[p_metric] if n else np.zeros(0, np.int64)
        zero = np.zeros(n, np.uint64)

        def evaluate_point(g: Group, row: int) -> list[Finding]:
            return index.requirement_findings(g, view.keys_of(row), "metric", signal_name=g.metric_name)

        point_codes = _merge(n, [self._shape_codes("point", local, p_group, view, zero, evaluate_point)])
        attr_codes = self._attr_codes(view, "metric", local, seen, p_group)
        exemplars = batch.table("exemplars")
        ex_view = self._view(batch.table("exemplar_attributes"), exemplars.num_rows)
        ex_codes = self._attr_codes(ex_view, "metric", local, seen)
        ex_point = _ints(exemplars.column("point")) if exemplars.num_rows else np.zeros(0, np.int64)
        m_rows, m_codes = _gather_csr(metric_codes, p_metric)
        items = _merge(
            n,
            [
                (m_rows, m_codes),
                (point_codes.row_ids(), point_codes.codes),
                (view.rows[attr_codes.row_ids()], attr_codes.codes),
                (ex_point[ex_view.rows[ex_codes.row_ids()]], ex_codes.codes),
            ],
        )
        tables = {
            "resources": res_own,
            "resource_attributes": res_codes,
            "scopes": Codes.empty(batch.scopes.num_rows),
            "scope_attributes": scope_codes,
            "metrics": metric_codes,
            "points": point_codes,
            "point_attributes": attr_codes,
            "exemplars": Codes.empty(exemplars.num_rows),
            "exemplar_attributes": ex_codes,
        }
        return self._finish("metrics", local, tables, items, seen, seen_metrics, {})

    # -- logs ---------------------------------------------------------------------------------
    def check_logs(self, batch: LogBatch) -> BatchFindings:
        """Findings of a log batch: event names against event groups, and attributes."""
        local = _Local()
        seen: dict[str, int] = {}
        res_view, res_codes, scope_codes, res_own = self._base(batch, local, seen)
        logs = batch.logs
        n = logs.num_rows
        index = self.index
        view = self._view(batch.table("log_attributes"), n)
        group = np.full(n, -1, dtype=np.int64)
        seen_events: dict[str, int] = {}
        parts: list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] = []
        if n:
            names = _dict_array(logs.column("event_name"))
            nidx = _indices(names, -1)
            un, ninv, counts = _unique(nidx + 1, len(names.dictionary) + 1)
            per: list[list[int]] = []
            gids: list[int] = []
            for u, c in zip(un.tolist(), counts.tolist(), strict=True):
                name = names.dictionary[u - 1].as_py() if u > 0 else ""
                if name:
                    seen_events[name] = seen_events.get(name, 0) + c

                def make(name: str = name) -> tuple[tuple[Finding, ...], int]:
                    fs, g = index.event_findings(name)
                    return self._mod(fs), self._gid(g)

                fs, gid = self._cache.get(("E", name), make)
                per.append(local.of(fs))
                gids.append(gid)
            group = np.array(gids, dtype=np.int64)[ninv]
            parts.append(_gather(per, ninv))
            res_of = batch.item_resource_index()
            res_sig = self._resource_sig(res_view, res_of)

            def evaluate(g: Group, row: int) -> list[Finding]:
                out = index.requirement_findings(
                    g, view.keys_of(row), "log", signal_name=g.event_name, sample_name=g.event_name
                )
                rkeys = res_view.keys_of(int(res_of[row])) if res_view.n_parent else frozenset()
                out.extend(index.entity_findings(g, rkeys, "log", signal_name=g.event_name, sample_name=g.event_name))
                return out

            parts.append(self._shape_codes("log", local, group, view, res_sig, evaluate))
        log_codes = _merge(n, parts)
        attr_codes = self._attr_codes(view, "log", local, seen, group)
        items = _merge(n, [(log_codes.row_ids(), log_codes.codes), (view.rows[attr_codes.row_ids()], attr_codes.codes)])
        tables = {
            "resources": res_own,
            "resource_attributes": res_codes,
            "scopes": Codes.empty(batch.scopes.num_rows),
            "scope_attributes": scope_codes,
            "logs": log_codes,
            "log_attributes": attr_codes,
        }
        return self._finish("logs", local, tables, items, seen, {}, seen_events)

    # -- result -------------------------------------------------------------------------------
    @staticmethod
    def _finish(  # noqa: PLR0917 (private helper with three callers)
        signal: str,
        local: _Local,
        tables: dict[str, Codes],
        items: Codes,
        seen: dict[str, int],
        seen_metrics: dict[str, int],
        seen_events: dict[str, int],
    ) -> BatchFindings:
        from knhk_telemetry.semconv.livecheck.findings import ENTITY_TYPES

        counts: dict[str, int] = {}
        attrs = 0
        for name, codes in tables.items():
            if name.endswith("_attributes"):
                attrs += len(codes)
            elif len(codes):
                counts[ENTITY_TYPES[name]] = len(codes)
        if attrs:
            counts["attribute"] = attrs
        return BatchFindings(
            signal,
            tuple(local.findings),
            tables,
            items,
            entity_counts=counts,
            seen_attributes=seen,
            seen_metrics=seen_metrics,
            seen_events=seen_events,
        )


def _gather_csr(codes: Codes, parent_of: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(row, code) pairs giving every row the codes of its parent ``parent_of[row]``."""
    if not codes.total or not len(parent_of):
        return np.zeros(0, np.int64), np.zeros(0, np.int32)
    k = codes.counts()[parent_of]
    sel = np.flatnonzero(k)
    k = k[sel]
    rows = np.repeat(sel, k)
    first = np.repeat(codes.offsets[parent_of[sel]], k)
    within = np.arange(len(rows)) - np.repeat(np.cumsum(k) - k, k)
    return rows.astype(np.int64), codes.codes[first + within]


def _instrument(mtype: int, monotonic: bool) -> tuple[str | None, str | None]:
    """Weaver's instrument for an OTLP metric type: (supported, unsupported name)."""
    if mtype == MetricType.SUM:
        return ("counter" if monotonic else "updowncounter"), None
    if mtype == MetricType.GAUGE:
        return "gauge", None
    if mtype in (MetricType.HISTOGRAM, MetricType.EXPONENTIAL_HISTOGRAM):
        return "histogram", None
    if mtype == MetricType.SUMMARY:
        return None, "Summary"
    return None, "Unspecified"
