"""The compiled encoder's kernel cache (see ``knhk_telemetry._numba``).

The fingerprint covers every module of ``otlp/fastenc``: jitted helpers of one module are
compiled into the kernels of another, so a change anywhere must invalidate all of them.
"""

from __future__ import annotations

from pathlib import Path

from knhk_telemetry._numba import KernelCache

#: fixed at import: the kernels of this package are compiled for exactly these sources
CACHE = KernelCache("fastenc", Path(__file__).resolve().parent.glob("*.py"))


def cache_dir() -> Path:
    """The directory of this build's compiled kernels."""
    return CACHE.directory
