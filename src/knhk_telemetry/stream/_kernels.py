"""Compiled group-by kernels for the window state (numba), cached like ``otlp.fast``'s kernels.

Why compiled: reducing ``(group, bucket)`` pairs to sparse per-group sketches is a sort per
group; numpy's global sort of 10M int64 takes ~0.8 s here, while a counting sort by group and
small per-group sorts take a fraction of that. The cache directory is named by a fingerprint of
this file's source and the numba/numpy versions, so an edit never loads stale machine code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from knhk_telemetry._numba import KernelCache

CACHE = KernelCache("stream", [Path(__file__).resolve()])
_jit = CACHE.njit()


@_jit
def _reduce_pairs(
    group: npt.NDArray[np.int64], bucket: npt.NDArray[np.int32], count: npt.NDArray[np.int64], n_groups: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.int64]]:  # pragma: no cover - compiled
    n = group.size
    sizes = np.zeros(n_groups + 1, dtype=np.int64)
    for i in range(n):
        sizes[group[i] + 1] += 1
    for g in range(n_groups):
        sizes[g + 1] += sizes[g]
    pos = sizes[:-1].copy()
    sb = np.empty(n, dtype=np.int32)
    sc = np.empty(n, dtype=np.int64)
    for i in range(n):
        g = group[i]
        p = pos[g]
        sb[p] = bucket[i]
        sc[p] = count[i]
        pos[g] = p + 1
    offsets = np.zeros(n_groups + 1, dtype=np.int64)
    ub = np.empty(n, dtype=np.int32)
    uc = np.empty(n, dtype=np.int64)
    m = 0
    for g in range(n_groups):
        lo = sizes[g]
        hi = sizes[g + 1]
        if hi - lo > 1:
            order = np.argsort(sb[lo:hi])
            segb = sb[lo:hi][order]
            segc = sc[lo:hi][order]
        else:
            segb = sb[lo:hi]
            segc = sc[lo:hi]
        for j in range(hi - lo):
            if m > offsets[g] and ub[m - 1] == segb[j]:
                uc[m - 1] += segc[j]
            else:
                ub[m] = segb[j]
                uc[m] = segc[j]
                m += 1
        offsets[g + 1] = m
    return offsets, ub[:m].copy(), uc[:m].copy()


def reduce_pairs(
    group: npt.NDArray[np.int64], bucket: npt.NDArray[np.int32], count: npt.NDArray[np.int64], n_groups: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.int64]]:
    """Sparse per-group bucket counts: CSR ``offsets`` (n_groups + 1) over sorted unique buckets.

    ``group`` values must lie in ``[0, n_groups)``; ``count`` weights each pair.
    """
    return _reduce_pairs(
        np.ascontiguousarray(group, dtype=np.int64),
        np.ascontiguousarray(bucket, dtype=np.int32),
        np.ascontiguousarray(count, dtype=np.int64),
        int(n_groups),
    )


@_jit
def _interval_groups(
    key: npt.NDArray[np.int64], start: npt.NDArray[np.int64], end: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:  # pragma: no cover - compiled
    n = key.size
    out = np.empty(n, dtype=np.int64)
    g = -1
    reach = np.int64(0)
    for i in range(n):
        if i == 0 or key[i] != key[i - 1] or start[i] > reach:
            g += 1
            reach = end[i]
        elif end[i] > reach:
            reach = end[i]
        out[i] = g
    return out


def interval_groups(
    key: npt.NDArray[np.int64], start: npt.NDArray[np.int64], end: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Merge group of each interval ``[start, end)``, given sorted by ``(key, start)``.

    Intervals of one key merge when they overlap *or touch* (``start <= reach``), as Flink's
    ``TimeWindow.intersects`` does for session windows.
    """
    return _interval_groups(
        np.ascontiguousarray(key, dtype=np.int64),
        np.ascontiguousarray(start, dtype=np.int64),
        np.ascontiguousarray(end, dtype=np.int64),
    )


def warmup() -> float:
    """Load (compiling on a cold cache) both kernels; returns the seconds it took."""
    import time

    t0 = time.perf_counter()
    one = np.zeros(1, dtype=np.int64)
    reduce_pairs(one, np.zeros(1, dtype=np.int32), np.ones(1, dtype=np.int64), 1)
    interval_groups(one, one, one + 1)
    return time.perf_counter() - t0
