"""A mergeable log-bucket quantile sketch whose buckets are OpenTelemetry exponential-histogram buckets.

Why this shape: a DDSketch-style sketch gives quantiles with a *relative* error bound, merges
exactly (bucket counts add), and inserts vectorised from numpy. Choosing the bucket base
``base = 2 ** (2 ** -scale)`` makes every bucket exactly an OpenTelemetry exponential-histogram
bucket, so the same state is emitted as an OTLP ``ExponentialHistogram`` point without
conversion (see :meth:`LogSketch.to_otlp`).

Bucket mapping (OTel data model, "exponential buckets"): bucket ``i`` covers ``(base**i,
base**(i+1)]``, so the index of ``v > 0`` is ``ceil(log_base(v)) - 1``; exact powers of two
fall in the bucket they close (``2**k`` at scale ``s`` has index ``(k << s) - 1``). Indices are
computed from ``np.frexp`` (exact binary exponent) plus ``log2`` of the mantissa, which keeps
the fractional part precise and makes powers of two exact without a special case. Negative
values use the same mapping on ``|v|`` in a separate range; zeros are counted apart
(``zero_threshold`` is 0).

Quantiles: ``quantile(q)`` targets the order statistic of rank ``max(1, ceil(q * n))`` (1-based)
— the definition of ``np.quantile(x, q, method="inverted_cdf")`` — and returns, for the bucket
``(a, b]`` holding that rank, ``2ab / (a + b)``, clamped to ``[min, max]`` (ranks 1 and n return
min and max exactly). For any ``v`` in ``(a, b]`` the relative error ``|est - v| / |v|`` is at
most ``(base - 1) / (base + 1)``:

=====  ==============  ====================
scale  base            relative error bound
=====  ==============  ====================
7      1.0054299011    0.2707 %
5      1.0218971487    1.083 %
3      1.0905077327    4.330 %
=====  ==============  ====================

The bound holds at the sketch's *current* scale: when the index range of one sign exceeds
``max_buckets`` the sketch halves its scale (as OpenTelemetry SDKs do), which squares the base.
The default ``max_buckets=4096`` keeps scale 7 over a 2**32 dynamic range (e.g. 1 µs to 71 min).

>>> import numpy as np
>>> s = LogSketch(scale=7)
>>> s.add(np.arange(1, 1001, dtype=np.float64))
>>> s.count, s.sum, s.min, s.max
(1000, 500500.0, 1.0, 1000.0)
>>> round(s.quantile(0.5), 3)
499.672
>>> s.relative_accuracy < 0.00271
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_MAX_BUCKETS",
    "DEFAULT_SCALE",
    "MAX_SCALE",
    "MIN_SCALE",
    "LogSketch",
    "OtlpExponentialBuckets",
    "bucket_indices",
    "bucket_lower_bounds",
    "bucket_representatives",
    "relative_error_bound",
]

DEFAULT_SCALE = 7
DEFAULT_MAX_BUCKETS = 4096
MAX_SCALE = 20  # OTel's largest useful scale for float64
MIN_SCALE = -10  # OTel's smallest: base 2**1024 covers every finite float64 in two buckets

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


def relative_error_bound(scale: int) -> float:
    """The guaranteed relative error of a quantile estimate at ``scale``: ``(base - 1) / (base + 1)``."""
    base = 2.0 ** (2.0**-scale)
    return float((base - 1.0) / (base + 1.0))


def _check_scale(scale: int) -> int:
    if not isinstance(scale, int | np.integer) or isinstance(scale, bool):
        raise TypeError(f"scale must be an int, got {type(scale).__name__}")
    if not MIN_SCALE <= int(scale) <= MAX_SCALE:
        raise ValueError(f"scale must be in [{MIN_SCALE}, {MAX_SCALE}], got {scale}")
    return int(scale)


def bucket_indices(magnitudes: npt.ArrayLike, scale: int) -> I64:
    """OTel exponential-histogram bucket index of each value ``> 0`` (vectorised).

    ``index = ceil(log_base(v)) - 1`` with ``base = 2 ** 2 ** -scale``; exact powers of two land
    in the bucket whose upper bound they are.
    """
    scale = _check_scale(scale)
    v = np.asarray(magnitudes, dtype=np.float64)
    mant, exp = np.frexp(v)  # v = mant * 2**exp, mant in [0.5, 1)
    e = exp.astype(np.int64) - 1  # v = (2 * mant) * 2**e, 2 * mant in [1, 2)
    if scale <= 0:
        # index at scale 0 is e, minus one for exact powers of two; coarser scales shift right (floor).
        idx0 = e - (mant == 0.5).astype(np.int64)
        shifted: I64 = idx0 >> -scale
        return shifted
    frac = np.log2(mant * 2.0) * float(1 << scale)  # in [0, 2**scale)
    sub = np.ceil(frac).astype(np.int64) - 1  # -1 exactly when v is a power of two
    out: I64 = (e << scale) + sub
    return out


def bucket_lower_bounds(indices: npt.ArrayLike, scale: int) -> F64:
    """``base ** index``: the exclusive lower bound of each bucket (the upper bound is index + 1's)."""
    scale = _check_scale(scale)
    idx = np.asarray(indices, dtype=np.int64)
    if scale <= 0:
        return np.ldexp(1.0, (idx << -scale).astype(np.int32))
    whole = idx >> scale  # floor division by 2**scale
    part = idx - (whole << scale)
    out: F64 = np.ldexp(np.exp2(part / float(1 << scale)), whole.astype(np.int32))
    return out


def bucket_representatives(indices: npt.ArrayLike, scale: int) -> F64:
    """The estimate ``2ab / (a + b)`` for bucket ``(a, b]``: it minimises the worst relative error."""
    lo = bucket_lower_bounds(indices, scale)
    base = 2.0 ** (2.0**-scale)
    # 2ab/(a+b) with b = a*base  ->  a * 2*base/(1+base)
    out: F64 = lo * (2.0 * base / (1.0 + base))
    return out


@dataclass(frozen=True, slots=True)
class OtlpExponentialBuckets:
    """The fields of an OTLP ``ExponentialHistogramDataPoint`` that a sketch defines."""

    scale: int
    zero_count: int
    positive_offset: int
    positive_bucket_counts: list[int]
    negative_offset: int
    negative_bucket_counts: list[int]
    count: int
    sum: float
    min: float | None
    max: float | None


class _Range:
    """Dense counts over a contiguous index range ``[offset, offset + len(counts))`` that grows."""

    __slots__ = ("counts", "offset")

    def __init__(self) -> None:
        self.offset = 0
        self.counts: I64 = np.zeros(0, dtype=np.int64)

    def copy(self) -> _Range:
        r = _Range()
        r.offset = self.offset
        r.counts = self.counts.copy()
        return r

    @property
    def empty(self) -> bool:
        return self.counts.size == 0

    def bounds(self) -> tuple[int, int]:
        """Smallest and largest index with a nonzero count (the array is kept trimmed)."""
        return self.offset, self.offset + self.counts.size - 1

    def downscale(self, by: int) -> None:
        if by <= 0 or self.empty:
            return
        idx = np.arange(self.offset, self.offset + self.counts.size, dtype=np.int64) >> by
        new_off = int(idx[0])
        out = np.zeros(int(idx[-1]) - new_off + 1, dtype=np.int64)
        np.add.at(out, idx - new_off, self.counts)
        self.offset, self.counts = new_off, out

    def add_counts(self, offset: int, counts: I64) -> None:
        """Add ``counts`` (at ``offset``) into this range, growing it; the caller checks the size."""
        if counts.size == 0:
            return
        if self.empty:
            self.offset, self.counts = offset, counts.astype(np.int64, copy=True)
            self._trim()
            return
        lo = min(self.offset, offset)
        hi = max(self.offset + self.counts.size, offset + counts.size)
        if lo != self.offset or hi != self.offset + self.counts.size:
            grown = np.zeros(hi - lo, dtype=np.int64)
            grown[self.offset - lo : self.offset - lo + self.counts.size] = self.counts
            self.offset, self.counts = lo, grown
        self.counts[offset - self.offset : offset - self.offset + counts.size] += counts
        self._trim()

    def _trim(self) -> None:
        nz = np.flatnonzero(self.counts)
        if nz.size == 0:
            self.offset, self.counts = 0, np.zeros(0, dtype=np.int64)
        elif nz[0] != 0 or nz[-1] != self.counts.size - 1:
            self.offset += int(nz[0])
            self.counts = self.counts[nz[0] : nz[-1] + 1].copy()


def _needed_downscale(lo: int, hi: int, max_buckets: int, scale: int) -> int:
    """Smallest shift ``d`` with ``(hi >> d) - (lo >> d) + 1 <= max_buckets`` (not below MIN_SCALE)."""
    d = 0
    while (hi >> d) - (lo >> d) + 1 > max_buckets and scale - d > MIN_SCALE:
        d += 1
    return d


class LogSketch:
    """Mergeable quantile sketch over OpenTelemetry exponential-histogram buckets.

    ``scale`` is the starting (finest) scale; ``max_buckets`` caps the index range of each sign,
    as ``max_size`` does in OpenTelemetry SDKs: exceeding it halves the scale (repeatedly if
    needed). Values must be finite. See the module docstring for the error bound.
    """

    __slots__ = ("_count", "_max", "_min", "_neg", "_pos", "_sum", "_zero", "max_buckets", "scale")

    def __init__(self, scale: int = DEFAULT_SCALE, max_buckets: int = DEFAULT_MAX_BUCKETS) -> None:
        self.scale = _check_scale(scale)
        if max_buckets < 2:
            raise ValueError(f"max_buckets must be >= 2, got {max_buckets}")
        self.max_buckets = int(max_buckets)
        self._pos = _Range()
        self._neg = _Range()
        self._zero = 0
        self._count = 0
        self._sum = 0.0
        self._min = math.inf
        self._max = -math.inf

    # ----------------------------------------------------------------- properties
    @property
    def count(self) -> int:
        return self._count

    @property
    def sum(self) -> float:
        return self._sum

    @property
    def min(self) -> float:
        """Smallest value added (``nan`` when empty)."""
        return self._min if self._count else math.nan

    @property
    def max(self) -> float:
        """Largest value added (``nan`` when empty)."""
        return self._max if self._count else math.nan

    @property
    def zero_count(self) -> int:
        return self._zero

    @property
    def relative_accuracy(self) -> float:
        """The relative error bound at the current scale."""
        return relative_error_bound(self.scale)

    def __len__(self) -> int:
        return self._count

    def __repr__(self) -> str:
        return f"LogSketch(scale={self.scale}, count={self._count}, min={self.min}, max={self.max})"

    def copy(self) -> LogSketch:
        s = LogSketch(self.scale, self.max_buckets)
        s._pos, s._neg = self._pos.copy(), self._neg.copy()
        s._zero, s._count, s._sum, s._min, s._max = self._zero, self._count, self._sum, self._min, self._max
        return s

    # ------------------------------------------------------------------ updating
    def _downscale(self, by: int) -> None:
        if by <= 0:
            return
        self._pos.downscale(by)
        self._neg.downscale(by)
        self.scale -= by

    def _fit(self, rng: _Range, lo: int, hi: int) -> int:
        """Downscale so ``rng`` extended by ``[lo, hi]`` fits; returns the shift applied."""
        if not rng.empty:
            a, b = rng.bounds()
            lo, hi = min(lo, a), max(hi, b)
        d = _needed_downscale(lo, hi, self.max_buckets, self.scale)
        self._downscale(d)
        return d

    def _insert(self, rng: _Range, idx: I64) -> None:
        lo, hi = int(idx.min()), int(idx.max())
        d = self._fit(rng, lo, hi)
        if d:
            idx = idx >> d
            lo, hi = lo >> d, hi >> d
        rng.add_counts(lo, np.bincount(idx - lo, minlength=hi - lo + 1).astype(np.int64))

    def add(self, values: npt.ArrayLike) -> None:
        """Add every value of ``values`` (any shape; flattened). Raises ``ValueError`` on nan/inf."""
        v = np.asarray(values, dtype=np.float64).ravel()
        if v.size == 0:
            return
        if not np.isfinite(v).all():
            raise ValueError("values must be finite (got nan or inf)")
        self._count += int(v.size)
        self._sum += float(v.sum())
        self._min = min(self._min, float(v.min()))
        self._max = max(self._max, float(v.max()))
        pos = v[v > 0]
        neg = v[v < 0]
        self._zero += int(v.size - pos.size - neg.size)
        if pos.size:
            self._insert(self._pos, bucket_indices(pos, self.scale))
        if neg.size:
            self._insert(self._neg, bucket_indices(-neg, self.scale))

    def add_one(self, value: float) -> None:
        """Add one value (convenience; use :meth:`add` for arrays)."""
        self.add(np.array([value], dtype=np.float64))

    def merge(self, other: LogSketch) -> None:
        """Add ``other``'s counts into this sketch (exact: the result equals adding both inputs)."""
        if other._count == 0:
            return
        if other.scale < self.scale:
            self._downscale(self.scale - other.scale)
        shift = other.scale - self.scale
        for mine, theirs in ((self._pos, other._pos), (self._neg, other._neg)):
            if theirs.empty:
                continue
            t = theirs.copy()
            t.downscale(shift)
            lo, hi = t.bounds()
            d = self._fit(mine, lo, hi)
            t.downscale(d)
            mine.add_counts(t.offset, t.counts)
        self._zero += other._zero
        self._count += other._count
        self._sum += other._sum
        self._min = min(self._min, other._min)
        self._max = max(self._max, other._max)

    def __iadd__(self, other: LogSketch) -> LogSketch:
        self.merge(other)
        return self

    # ------------------------------------------------------------------ queries
    def quantiles(self, qs: Sequence[float] | npt.ArrayLike) -> F64:
        """Estimates of the rank-``max(1, ceil(q*n))`` order statistics (``nan`` when empty)."""
        q = np.atleast_1d(np.asarray(qs, dtype=np.float64))
        if np.any((q < 0) | (q > 1)) or np.any(np.isnan(q)):
            raise ValueError(f"quantiles must be in [0, 1], got {q.tolist()}")
        if self._count == 0:
            return np.full(q.shape, np.nan)
        rank = np.clip(np.ceil(q * self._count).astype(np.int64), 1, self._count)
        # Ascending order of values: negative buckets from the largest magnitude, zeros, positive.
        neg_counts = self._neg.counts[::-1]
        neg_idx = np.arange(self._neg.offset + self._neg.counts.size - 1, self._neg.offset - 1, -1, dtype=np.int64)
        pos_idx = np.arange(self._pos.offset, self._pos.offset + self._pos.counts.size, dtype=np.int64)
        counts = np.concatenate([neg_counts, np.array([self._zero], dtype=np.int64), self._pos.counts])
        reps = np.concatenate(
            [
                -bucket_representatives(neg_idx, self.scale),
                np.zeros(1),
                bucket_representatives(pos_idx, self.scale),
            ]
        )
        cum = np.cumsum(counts)
        at = np.searchsorted(cum, rank, side="left")
        out: F64 = np.clip(reps[at], self._min, self._max)
        # The extreme ranks are known exactly.
        out[rank == 1] = self._min
        out[rank == self._count] = self._max
        return out

    def quantile(self, q: float) -> float:
        """Estimate of the rank-``max(1, ceil(q*n))`` order statistic (``nan`` when empty)."""
        return float(self.quantiles([q])[0])

    # ------------------------------------------------------------------ export / state
    def to_otlp(self) -> OtlpExponentialBuckets:
        """The OTLP ``ExponentialHistogramDataPoint`` bucket fields (zero_threshold is 0)."""
        return OtlpExponentialBuckets(
            scale=self.scale,
            zero_count=self._zero,
            positive_offset=self._pos.offset,
            positive_bucket_counts=[int(c) for c in self._pos.counts],
            negative_offset=self._neg.offset,
            negative_bucket_counts=[int(c) for c in self._neg.counts],
            count=self._count,
            sum=self._sum,
            min=self._min if self._count else None,
            max=self._max if self._count else None,
        )

    @classmethod
    def from_buckets(
        cls,
        *,
        scale: int,
        positive_offset: int,
        positive_counts: npt.ArrayLike,
        negative_offset: int = 0,
        negative_counts: npt.ArrayLike = (),
        zero_count: int = 0,
        sum: float = 0.0,
        min: float | None = None,
        max: float | None = None,
        max_buckets: int = DEFAULT_MAX_BUCKETS,
    ) -> LogSketch:
        """Rebuild a sketch from bucket counts (e.g. an OTLP point or :meth:`snapshot`).

        ``min``/``max`` default to the bounds of the outermost nonempty buckets when not given.
        """
        s = cls(scale, max_buckets)
        pos = np.asarray(positive_counts, dtype=np.int64)
        neg = np.asarray(negative_counts, dtype=np.int64)
        if (pos < 0).any() or (neg < 0).any() or zero_count < 0:
            raise ValueError("bucket counts must be >= 0")
        for rng, off, counts in ((s._pos, positive_offset, pos), (s._neg, negative_offset, neg)):
            if counts.size:
                nz = np.flatnonzero(counts)
                if nz.size:
                    d = s._fit(rng, int(off + nz[0]), int(off + nz[-1]))
                    tmp = _Range()
                    tmp.add_counts(int(off), counts)
                    tmp.downscale(d)
                    rng.add_counts(tmp.offset, tmp.counts)
        s._zero = int(zero_count)
        s._count = int(pos.sum() + neg.sum() + zero_count)
        s._sum = float(sum)
        if s._count:
            s._min = float(min) if min is not None else s._edge(lowest=True)
            s._max = float(max) if max is not None else s._edge(lowest=False)
        return s

    def _edge(self, *, lowest: bool) -> float:
        """Outermost bucket bound in one direction (used when min/max are unknown)."""
        if lowest:
            if not self._neg.empty:
                return -float(bucket_lower_bounds([self._neg.bounds()[1] + 1], self.scale)[0])
            if self._zero:
                return 0.0
            return float(bucket_lower_bounds([self._pos.bounds()[0]], self.scale)[0])
        if not self._pos.empty:
            return float(bucket_lower_bounds([self._pos.bounds()[1] + 1], self.scale)[0])
        if self._zero:
            return 0.0
        return -float(bucket_lower_bounds([self._neg.bounds()[0]], self.scale)[0])

    def snapshot(self) -> dict[str, Any]:
        """Plain-data state (JSON-friendly) for checkpointing or shipping to another worker."""
        o = self.to_otlp()
        return {
            "scale": o.scale,
            "max_buckets": self.max_buckets,
            "zero_count": o.zero_count,
            "positive_offset": o.positive_offset,
            "positive_counts": o.positive_bucket_counts,
            "negative_offset": o.negative_offset,
            "negative_counts": o.negative_bucket_counts,
            "sum": o.sum,
            "min": o.min,
            "max": o.max,
        }

    @classmethod
    def from_snapshot(cls, state: dict[str, Any]) -> LogSketch:
        """Inverse of :meth:`snapshot`."""
        return cls.from_buckets(
            scale=int(state["scale"]),
            max_buckets=int(state["max_buckets"]),
            zero_count=int(state["zero_count"]),
            positive_offset=int(state["positive_offset"]),
            positive_counts=state["positive_counts"],
            negative_offset=int(state["negative_offset"]),
            negative_counts=state["negative_counts"],
            sum=float(state["sum"]),
            min=state["min"],
            max=state["max"],
        )
