"""Per-window aggregates as a columnar, mergeable partial state.

A :class:`Partial` holds the aggregates of many rows at once (a row is a key of a pane, or a
session): count, error count, the sum/min/max of the event value (exact int64 span durations,
or float64 metric values), optionally the last value by event time, custom aggregations over a
numeric column, and the value sketch as ``(row id, bucket, count)`` pairs whose buckets are
OpenTelemetry exponential-histogram buckets at a fixed ``scale`` (see ``sketch.py``). Partials
merge by concatenation; pairs are reduced to sorted sparse per-row sketches lazily (at fire time
or when they grow), so inserting a batch costs a few ``bincount``\\s and no per-event Python.

Bucket numbers are one int32 per value, ordered as the values are: ``0`` is the zero bucket,
OTel bucket ``i`` of a positive value is ``i + 2**30``, of a negative value ``-(i + 2**30)``
(indices are clamped to ``|i| < 2**30``, which only subnormal values at scale 20 reach). So
spans (durations ``> 0``), metric values of either sign and zeros share one reduction.

Quantiles target the rank ``max(1, ceil(q * count))`` order statistic (numpy's
``inverted_cdf``), estimated as ``2ab / (a + b)`` for its bucket ``(a, b]`` and clamped to the
row's exact min/max: relative error at most ``(base - 1) / (base + 1)`` (0.27 % at scale 7).
The window sketches are sparse, so they never downscale: the bound always holds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from knhk_telemetry.stream._kernels import reduce_pairs
from knhk_telemetry.stream.sketch import DEFAULT_SCALE, LogSketch, bucket_indices, bucket_representatives

__all__ = [
    "BUCKET_BIAS",
    "ZERO_BUCKET",
    "Aggregates",
    "AggregationFn",
    "Custom",
    "Partial",
    "bucket_values",
    "duration_buckets",
    "value_buckets",
]

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
F64 = npt.NDArray[np.float64]
AggregationFn: TypeAlias = Literal["sum", "min", "max", "avg", "count"]
_FNS = ("sum", "min", "max", "avg", "count")
#: bucket number of the zero bucket: negative values' buckets sort below it, positive ones above
ZERO_BUCKET = 0
#: offset of the OTel bucket index in a bucket number (see the module docstring)
BUCKET_BIAS = 1 << 30
_NAME_RE_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_.")


@dataclass(frozen=True, slots=True)
class Custom:
    """A named aggregation ``fn`` over ``source`` per window and key.

    ``source`` is ``"duration"``, a span field (``status.code``, ``span.kind``) or an attribute
    key (the span's attribute, else its resource's, as the spanmetrics connector looks them up);
    non-numeric or missing values are skipped (``count`` counts the numeric ones).
    """

    name: str
    source: str
    fn: AggregationFn = "sum"

    def __post_init__(self) -> None:
        if not self.name or not set(self.name.lower()) <= _NAME_RE_CHARS:
            raise ValueError(f"Custom.name must be non-empty [a-z0-9_.], got {self.name!r}")
        if not self.source:
            raise ValueError("Custom.source must be a column or attribute key")
        if self.fn not in _FNS:
            raise ValueError(f"Custom.fn must be one of {', '.join(_FNS)}, got {self.fn!r}")


@dataclass(frozen=True, slots=True)
class Aggregates:
    """What each window result holds besides the fixed count/error/duration aggregates."""

    quantiles: tuple[float, ...] = (0.5, 0.95, 0.99)
    custom: tuple[Custom, ...] = ()
    scale: int = DEFAULT_SCALE  # sketch scale: relative error (2**2**-scale - 1) / (2**2**-scale + 1)

    def __post_init__(self) -> None:
        for q in self.quantiles:
            if not 0.0 <= q <= 1.0:
                raise ValueError(f"Aggregates.quantiles must be in [0, 1], got {q}")
        names = [c.name for c in self.custom]
        if len(set(names)) != len(names):
            raise ValueError(f"Aggregates.custom names must be unique, got {names}")
        if not 0 <= self.scale <= 20:
            raise ValueError(f"Aggregates.scale must be in [0, 20], got {self.scale}")

    def quantile_names(self) -> list[str]:
        """Column names: ``p50_ns``, ``p95_ns``, ``p99_ns``, ``p99.9_ns``..."""
        return [f"p{_fmt_q(q)}_ns" for q in self.quantiles]


def _fmt_q(q: float) -> str:
    return f"{q * 100:.6f}".rstrip("0").rstrip(".")


def _biased(magnitudes: F64, scale: int) -> I64:
    idx = bucket_indices(magnitudes, scale)
    if scale >= 20:
        np.clip(idx, 1 - BUCKET_BIAS, BUCKET_BIAS - 1, out=idx)
    idx += BUCKET_BIAS
    return idx


def value_buckets(values: npt.NDArray[np.int64] | F64, scale: int) -> I32:
    """Bucket number of each finite value, in value order (see the module docstring)."""
    v = np.asarray(values, dtype=np.float64)
    pos = v > 0
    if pos.all():
        return _biased(v, scale).astype(np.int32)
    out = np.zeros(v.size, dtype=np.int32)
    out[pos] = _biased(v[pos], scale)
    neg = v < 0
    if neg.any():
        out[neg] = -_biased(-v[neg], scale)
    return out


def duration_buckets(durations: I64, scale: int) -> I32:
    """Bucket number of each duration (``ZERO_BUCKET`` for 0; negative durations below it)."""
    return value_buckets(durations, scale)


def bucket_values(buckets: npt.NDArray[np.integer[Any]], scale: int) -> F64:
    """The estimate of each bucket number's bucket: ``±2ab/(a+b)`` for ``(a, b]``, 0 for zero."""
    b = np.asarray(buckets, dtype=np.int64)
    mag = np.abs(b) - BUCKET_BIAS
    rep = bucket_representatives(np.where(b == ZERO_BUCKET, 0, mag), scale)
    out: F64 = np.where(b > 0, rep, np.where(b < 0, -rep, 0.0))
    return out


def _extremes(dtype: np.dtype[Any]) -> tuple[Any, Any]:
    """Start values of a running (min, max) for ``dtype``."""
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return info.max, info.min
    return np.inf, -np.inf


def _last_of(group: I64, n_groups: int, ts: I64) -> tuple[I64, I64]:
    """Per group: the largest ``ts`` and the position of its last occurrence (-1 for empty groups)."""
    top = np.full(n_groups, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(top, group, ts)
    at = np.full(n_groups, -1, dtype=np.int64)
    hit = np.flatnonzero(ts == top[group])
    np.maximum.at(at, group[hit], hit)
    return top, at


@dataclass(slots=True)
class Partial:
    """Aggregates of rows identified by ``ids`` (sorted, unique); see the module docstring.

    ``dsum``/``dmin``/``dmax`` hold the event value: int64 for span durations (exact), float64
    for metric values. ``last_ts``/``last_val`` (``None`` when not tracked) are the greatest
    event time of a row and the value of its event that arrived last among those at that time.
    """

    ids: I64
    count: I64
    errors: I64
    dsum: npt.NDArray[Any]
    dmin: npt.NDArray[Any]
    dmax: npt.NDArray[Any]
    csum: F64  # (n_custom, rows)
    cmin: F64
    cmax: F64
    cn: I64
    pair_ids: list[I64] = field(default_factory=list)
    pair_buckets: list[I32] = field(default_factory=list)
    pair_counts: list[I64] = field(default_factory=list)
    reduced: bool = False  # pairs are one chunk, sorted by (id, bucket), unique
    last_ts: I64 | None = None
    last_val: npt.NDArray[Any] | None = None

    @property
    def rows(self) -> int:
        return int(self.ids.size)

    @property
    def n_pairs(self) -> int:
        return sum(int(a.size) for a in self.pair_ids)

    @classmethod
    def empty(cls, n_custom: int, dtype: npt.DTypeLike = np.int64, *, track_last: bool = False) -> Partial:
        z = np.zeros(0, dtype=np.int64)
        zv = np.zeros(0, dtype=dtype)
        zf = np.zeros((n_custom, 0))
        p = cls(z, z, z, zv, zv, zv, zf, zf.copy(), zf.copy(), np.zeros((n_custom, 0), dtype=np.int64))
        if track_last:
            p.last_ts, p.last_val = z, zv
        return p

    def _rows_at(self, sel: npt.NDArray[Any] | slice) -> Partial:
        """A partial with this one's per-row arrays indexed by ``sel`` (sketch pairs not copied)."""
        out = Partial(
            self.ids[sel],
            self.count[sel],
            self.errors[sel],
            self.dsum[sel],
            self.dmin[sel],
            self.dmax[sel],
            self.csum[:, sel],
            self.cmin[:, sel],
            self.cmax[:, sel],
            self.cn[:, sel],
        )
        if self.last_ts is not None and self.last_val is not None:
            out.last_ts, out.last_val = self.last_ts[sel], self.last_val[sel]
        return out

    @classmethod
    def from_codes(
        cls,
        *,
        code: I64,
        n_codes: int,
        code_ids: I64,
        durations: npt.NDArray[Any] | None,
        errors: npt.NDArray[np.bool_] | None,
        buckets: I32 | None,
        custom: F64,
        times: I64 | None = None,
    ) -> Partial:
        """Aggregate events by ``code`` (dense in ``[0, n_codes)``); row ids are ``code_ids[code]``.

        ``durations`` are the event values (``None``: no value, the sums stay 0), ``errors``
        ``None`` counts none, ``buckets`` ``None`` keeps no sketch, ``times`` (event times)
        tracks the last value.
        """
        count = np.bincount(code, minlength=n_codes).astype(np.int64)
        used = np.flatnonzero(count)
        if errors is None:
            err = np.zeros(n_codes, dtype=np.int64)
        else:
            err = np.bincount(code, weights=errors, minlength=n_codes).astype(np.int64)
        if durations is None:
            dsum = dmin = dmax = np.zeros(n_codes, dtype=np.int64)
        else:
            hi, lo = _extremes(durations.dtype)
            dsum = np.zeros(n_codes, dtype=durations.dtype)
            np.add.at(dsum, code, durations)
            dmin = np.full(n_codes, hi, dtype=durations.dtype)
            np.minimum.at(dmin, code, durations)
            dmax = np.full(n_codes, lo, dtype=durations.dtype)
            np.maximum.at(dmax, code, durations)
        nc = custom.shape[0]
        csum = np.zeros((nc, used.size))
        cmin = np.zeros((nc, used.size))
        cmax = np.zeros((nc, used.size))
        cn = np.zeros((nc, used.size), dtype=np.int64)
        for i in range(nc):
            v = custom[i]
            ok = ~np.isnan(v)
            csum[i] = np.bincount(code, weights=np.where(ok, v, 0.0), minlength=n_codes)[used]
            cn[i] = np.bincount(code, weights=ok, minlength=n_codes).astype(np.int64)[used]
            mn = np.full(n_codes, np.inf)
            np.minimum.at(mn, code, np.where(ok, v, np.inf))
            mx = np.full(n_codes, -np.inf)
            np.maximum.at(mx, code, np.where(ok, v, -np.inf))
            cmin[i], cmax[i] = mn[used], mx[used]
        ids = code_ids[used]
        order = np.argsort(ids, kind="stable")
        p = cls(
            ids[order],
            count[used][order],
            err[used][order],
            dsum[used][order],
            dmin[used][order],
            dmax[used][order],
            csum[:, order],
            cmin[:, order],
            cmax[:, order],
            cn[:, order],
        )
        if times is not None:
            top, at = _last_of(code, n_codes, times)
            vals = durations if durations is not None else np.zeros(code.size, dtype=np.int64)
            p.last_ts = top[used][order]
            p.last_val = vals[at[used][order]]
        if buckets is not None:
            p.pair_ids = [code_ids[code]]
            p.pair_buckets = [buckets]
            p.pair_counts = [np.ones(code.size, dtype=np.int64)]
        return p

    # ------------------------------------------------------------------ combining
    @staticmethod
    def merge(parts: Sequence[Partial], n_custom: int) -> Partial:
        """One partial with the rows of all ``parts``; rows with equal ids combine.

        Last values: the greatest time wins, and among equal times the later part.
        """
        parts = [p for p in parts if p.rows]
        if not parts:
            return Partial.empty(n_custom)
        if len(parts) == 1 and not _unsorted_or_dups(parts[0].ids):
            return parts[0]
        ids = np.concatenate([p.ids for p in parts])
        uniq, inv = np.unique(ids, return_inverse=True)
        k = uniq.size
        vdtype = parts[0].dsum.dtype
        hi, lo = _extremes(vdtype)
        count = np.bincount(inv, weights=np.concatenate([p.count for p in parts]), minlength=k).astype(np.int64)
        errors = np.bincount(inv, weights=np.concatenate([p.errors for p in parts]), minlength=k).astype(np.int64)
        dsum = np.zeros(k, dtype=vdtype)
        np.add.at(dsum, inv, np.concatenate([p.dsum for p in parts]))
        dmin = np.full(k, hi, dtype=vdtype)
        np.minimum.at(dmin, inv, np.concatenate([p.dmin for p in parts]))
        dmax = np.full(k, lo, dtype=vdtype)
        np.maximum.at(dmax, inv, np.concatenate([p.dmax for p in parts]))
        csum = np.zeros((n_custom, k))
        cmin = np.full((n_custom, k), np.inf)
        cmax = np.full((n_custom, k), -np.inf)
        cn = np.zeros((n_custom, k), dtype=np.int64)
        for i in range(n_custom):
            np.add.at(csum[i], inv, np.concatenate([p.csum[i] for p in parts]))
            np.minimum.at(cmin[i], inv, np.concatenate([p.cmin[i] for p in parts]))
            np.maximum.at(cmax[i], inv, np.concatenate([p.cmax[i] for p in parts]))
            np.add.at(cn[i], inv, np.concatenate([p.cn[i] for p in parts]))
        out = Partial(uniq, count, errors, dsum, dmin, dmax, csum, cmin, cmax, cn)
        if all(p.last_ts is not None for p in parts):
            lts = np.concatenate([p.last_ts for p in parts if p.last_ts is not None])
            lval = np.concatenate([p.last_val for p in parts if p.last_val is not None])
            top, at = _last_of(inv, k, lts)
            out.last_ts, out.last_val = top, lval[at]
        for p in parts:
            out.pair_ids.extend(p.pair_ids)
            out.pair_buckets.extend(p.pair_buckets)
            out.pair_counts.extend(p.pair_counts)
        return out

    def select(self, keep: npt.NDArray[np.bool_]) -> Partial:
        """The rows where ``keep`` is true (and their sketch pairs)."""
        out = self._rows_at(keep)
        if keep.all():
            out.pair_ids, out.pair_buckets, out.pair_counts = (
                list(self.pair_ids),
                list(self.pair_buckets),
                list(self.pair_counts),
            )
            out.reduced = self.reduced
            return out
        for pid, pb, pc in zip(self.pair_ids, self.pair_buckets, self.pair_counts, strict=True):
            m = np.isin(pid, out.ids)
            out.pair_ids.append(pid[m])
            out.pair_buckets.append(pb[m])
            out.pair_counts.append(pc[m])
        return out

    def relabel(self, new_ids: I64, n_custom: int) -> Partial:
        """Give row ``i`` the id ``new_ids[i]``; rows that end up with equal ids combine."""
        rows = self._rows_at(slice(None))
        rows.ids = new_ids.astype(np.int64)
        for pid, pb, pc in zip(self.pair_ids, self.pair_buckets, self.pair_counts, strict=True):
            rows.pair_ids.append(new_ids[_rows_of(self.ids, pid)].astype(np.int64))
            rows.pair_buckets.append(pb)
            rows.pair_counts.append(pc)
        return Partial.merge([rows], n_custom)

    # ------------------------------------------------------------------ sketches
    def reduce(self) -> tuple[I64, I32, I64]:
        """Sparse sketches: CSR ``offsets`` per row over sorted unique ``buckets`` with ``counts``."""
        if not self.pair_ids:
            return np.zeros(self.rows + 1, dtype=np.int64), np.zeros(0, np.int32), np.zeros(0, np.int64)
        pid = np.concatenate(self.pair_ids)
        row = _rows_of(self.ids, pid)
        offsets, ub, uc = reduce_pairs(
            row, np.concatenate(self.pair_buckets), np.concatenate(self.pair_counts), self.rows
        )
        self.pair_ids = [np.repeat(self.ids, np.diff(offsets))]
        self.pair_buckets = [ub]
        self.pair_counts = [uc]
        self.reduced = True
        return offsets, ub, uc

    def compact_if_large(self) -> None:
        """Reduce the sketch pairs once there are several unreduced chunks (bounds memory)."""
        if len(self.pair_ids) > 16:
            self.reduce()

    def quantiles(self, qs: Sequence[float], scale: int) -> F64:
        """``(rows, len(qs))`` estimates; see the module docstring for the rank and the bound."""
        offsets, ub, uc = self.reduce()
        out = np.empty((self.rows, len(qs)))
        if self.rows == 0:
            return out
        cum = np.cumsum(uc)
        before = np.concatenate([[0], cum])[offsets[:-1]]
        lo = self.dmin.astype(np.float64)
        hi = self.dmax.astype(np.float64)
        for j, q in enumerate(qs):
            rank = np.clip(np.ceil(q * self.count).astype(np.int64), 1, self.count)
            b = ub[np.searchsorted(cum, before + rank, side="left")]
            est = np.clip(bucket_values(b, scale), lo, hi)
            est = np.where(rank == 1, lo, est)
            out[:, j] = np.where(rank == self.count, hi, est)
        return out

    def sketch(self, row: int, scale: int) -> LogSketch:
        """Row ``row``'s values as a :class:`LogSketch` (e.g. for an OTLP exponential histogram)."""
        offsets, ub, uc = self.reduce()
        b = ub[offsets[row] : offsets[row + 1]].astype(np.int64)
        c = uc[offsets[row] : offsets[row + 1]]
        zero = int(c[b == ZERO_BUCKET].sum())

        def dense(sel: npt.NDArray[np.bool_], idx: I64) -> tuple[int, I64]:
            i, n = idx[sel], c[sel]
            if i.size == 0:
                return 0, np.zeros(0, dtype=np.int64)
            lo = int(i.min())
            out = np.zeros(int(i.max()) - lo + 1, dtype=np.int64)
            np.add.at(out, i - lo, n)
            return lo, out

        pos_off, pos = dense(b > 0, b - BUCKET_BIAS)
        neg_off, neg = dense(b < 0, -b - BUCKET_BIAS)
        return LogSketch.from_buckets(
            scale=scale,
            positive_offset=pos_off,
            positive_counts=pos,
            negative_offset=neg_off,
            negative_counts=neg,
            zero_count=zero,
            sum=float(self.dsum[row]),
            min=float(self.dmin[row]),
            max=float(self.dmax[row]),
            max_buckets=max(pos.size, neg.size, 2),
        )


def _rows_of(ids: I64, wanted: I64) -> I64:
    """Row of each id of ``wanted`` in the sorted ``ids`` (a dense table when ids are compact)."""
    if ids.size and 0 <= int(ids[-1]) - int(ids[0]) < 4 * ids.size + (1 << 16):
        lut = np.zeros(int(ids[-1]) - int(ids[0]) + 1, dtype=np.int64)
        lut[ids - ids[0]] = np.arange(ids.size, dtype=np.int64)
        out: I64 = lut[wanted - ids[0]]
        return out
    return np.searchsorted(ids, wanted).astype(np.int64)


def _unsorted_or_dups(ids: I64) -> bool:
    return bool(ids.size > 1 and np.any(ids[1:] <= ids[:-1]))


def custom_values(p: Partial, i: int, fn: AggregationFn) -> list[float | int | None]:
    """Output values of custom aggregation ``i`` per row (``None`` where no numeric value was seen)."""
    n = p.cn[i]
    if fn == "count":
        return [int(x) for x in n]
    if fn == "sum":
        vals = p.csum[i]
    elif fn == "min":
        vals = p.cmin[i]
    elif fn == "max":
        vals = p.cmax[i]
    else:
        vals = np.divide(p.csum[i], n, out=np.zeros_like(p.csum[i]), where=n > 0)
    return [float(v) if c > 0 and math.isfinite(v) else None for v, c in zip(vals, n, strict=True)]
