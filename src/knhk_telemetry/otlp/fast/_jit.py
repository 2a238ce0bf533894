"""The compiled decoder's kernel cache (see ``knhk_telemetry._numba``) and its decorators.

The fingerprint covers every module of ``otlp/fast``: a helper jitted in one module is compiled
into the kernels of another, so a change anywhere must invalidate all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

from knhk_telemetry._numba import KernelCache

F = TypeVar("F", bound=Callable[..., Any])

#: numba integer arguments (numba has no annotations of its own)
Int: TypeAlias = Any

#: fixed at import: the kernels of this package are compiled for exactly these sources
CACHE = KernelCache("otlp-fast", Path(__file__).resolve().parent.glob("*.py"))
CACHE_DIR: Path = CACHE.directory


def jit(fn: F) -> F:
    """``numba.njit(cache=True, nogil=True)`` with the cache in :data:`CACHE_DIR`."""
    return CACHE.njit()(fn)


def jit_inline(fn: F) -> F:
    """:func:`jit` for small hot helpers, inlined into their callers by numba.

    A numba call passes every array argument as its whole struct (pointer, shape, strides,
    ...); for a helper run per attribute that costs more than the helper's own work."""
    return CACHE.njit(inline="always")(fn)
