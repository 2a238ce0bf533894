"""The compiled decoder's kernel cache (see ``knhk_telemetry._numba``) and its decorators.

The fingerprint covers every kernel module of ``otlp/fast`` (:data:`KERNEL_MODULES`): a helper
jitted in one module is compiled into the kernels of another, so a change in any of them must
invalidate all. The pure-Python modules (``__init__``, ``_arrow``, ``_batch``) are left out:
they are not compiled, and editing them should not cost a recompile.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

from knhk_telemetry._numba import KernelCache

F = TypeVar("F", bound=Callable[..., Any])

#: numba integer arguments (numba has no annotations of its own)
Int: TypeAlias = Any

#: the modules whose source (code or constants) is compiled into the kernels
KERNEL_MODULES = ("_common.py", "_jit.py", "_logs.py", "_metrics.py", "_schema.py", "_traces.py", "_wire.py")

#: fixed at import: the kernels of this package are compiled for exactly these sources
CACHE = KernelCache("otlp-fast", (Path(__file__).resolve().parent / name for name in KERNEL_MODULES))
CACHE_DIR: Path = CACHE.directory


def jit(fn: F) -> F:
    """``numba.njit(cache=True, nogil=True)`` with the cache in :data:`CACHE_DIR`."""
    return CACHE.njit()(fn)


def jit_inline(fn: F) -> F:
    """:func:`jit` for small hot helpers, inlined into their callers by numba.

    A numba call passes every array argument as its whole struct (pointer, shape, strides,
    ...); for a helper run per attribute that costs more than the helper's own work."""
    return CACHE.njit(inline="always")(fn)
