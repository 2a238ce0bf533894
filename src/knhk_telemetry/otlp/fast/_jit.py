"""Where the compiled decoder's numba cache lives, and the decorator every kernel uses.

numba's own cache keys a compiled function by its source file's timestamp and size only: it
does not notice a changed constant in another module, nor a changed numba/llvmlite/numpy.
Loading such a stale compilation would silently run old code, so every kernel of this package
caches into a directory named by a fingerprint of the source text of every module of
``otlp/fast`` plus the versions that shape the generated code. A change to any of them picks a
fresh directory (the old one is simply never read again).

The root is ``$KNHK_TELEMETRY_CACHE_DIR`` or ``~/.cache/knhk-telemetry/numba``.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeAlias, TypeVar, cast

import llvmlite  # type: ignore[import-untyped]
import numba
import numpy as np

F = TypeVar("F", bound=Callable[..., Any])
#: an integer inside a kernel: a Python int or a numpy int64 (numba needs explicit casts to
#: keep int64 and uint64 apart, which mypy sees as numpy scalars)
Int: TypeAlias = Any

#: environment variable naming the cache root
CACHE_ENV = "KNHK_TELEMETRY_CACHE_DIR"
_PACKAGE_DIR = Path(__file__).resolve().parent


def package_sources() -> dict[str, bytes]:
    """The source text of every module of this package, by file name."""
    return {p.name: p.read_bytes() for p in sorted(_PACKAGE_DIR.glob("*.py"))}


def runtime_versions() -> dict[str, str]:
    """The versions that change what numba generates or how it loads a cache."""
    return {
        "python": sys.version,
        "cache_tag": str(sys.implementation.cache_tag),
        "numba": numba.__version__,
        "llvmlite": llvmlite.__version__,
        "numpy": np.__version__,
    }


def fingerprint(sources: Mapping[str, bytes], versions: Mapping[str, str]) -> str:
    """A hex digest of ``sources`` and ``versions``; any change gives another digest."""
    h = hashlib.sha256()
    for name in sorted(sources):
        h.update(name.encode() + b"\0" + hashlib.sha256(sources[name]).digest())
    for key in sorted(versions):
        h.update(f"{key}={versions[key]}\0".encode())
    return h.hexdigest()[:20]


def cache_root() -> Path:
    """``$KNHK_TELEMETRY_CACHE_DIR`` or ``~/.cache/knhk-telemetry/numba``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "knhk-telemetry" / "numba"


def cache_dir_for(root: Path, sources: Mapping[str, bytes], versions: Mapping[str, str]) -> Path:
    """The cache directory of one fingerprint under ``root``."""
    return root / f"otlp-fast-{fingerprint(sources, versions)}"


#: fixed at import: the kernels below are compiled for exactly these sources
CACHE_DIR: Path = cache_dir_for(cache_root(), package_sources(), runtime_versions())


def _njit(fn: F, **options: Any) -> F:
    config: Any = numba.config
    previous = config.CACHE_DIR
    config.CACHE_DIR = str(CACHE_DIR)
    try:
        return cast(F, numba.njit(cache=True, nogil=True, **options)(fn))
    finally:
        config.CACHE_DIR = previous


def jit(fn: F) -> F:
    """``numba.njit(cache=True, nogil=True)`` with the cache in :data:`CACHE_DIR`.

    numba picks a function's cache locator when the dispatcher is created (here), from
    ``numba.config.CACHE_DIR``; it is set only for that moment and then restored."""
    return _njit(fn)


def jit_inline(fn: F) -> F:
    """:func:`jit` for small hot helpers, inlined into their callers by numba.

    A numba call passes every array argument as its whole struct (pointer, shape, strides,
    ...); for a helper run per attribute that costs more than the helper's own work."""
    return _njit(fn, inline="always")
