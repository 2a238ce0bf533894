"""One policy for every numba kernel of the package: a cache a stale build can never load.

numba's own cache keys a compiled function by its source file's timestamp and size only: it
does not see a changed helper in another module compiled into it, nor a changed
numba/llvmlite/numpy/Python. Loading such a stale compilation would silently run old code, so
each group of kernels (a :class:`KernelCache`: the OTLP decoder, the encoder, the window
kernels) caches into a directory named by a fingerprint of the source text of its modules and
of those versions. Any change picks a fresh directory; old ones are simply never read again.

The root is ``$KNHK_TELEMETRY_CACHE_DIR`` or ``~/.cache/knhk-telemetry/numba``. When it cannot
be written, a private temporary directory serves this process (never numba's ``__pycache__``
fallback, which the fingerprint would not guard).
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar, cast

import llvmlite  # type: ignore[import-untyped]
import numba
import numpy as np

F = TypeVar("F", bound=Callable[..., Any])

#: environment variable naming the cache root
CACHE_ENV = "KNHK_TELEMETRY_CACHE_DIR"


def cache_root() -> Path:
    """``$KNHK_TELEMETRY_CACHE_DIR`` or ``~/.cache/knhk-telemetry/numba``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "knhk-telemetry" / "numba"


def runtime_versions() -> dict[str, str]:
    """The versions that change what numba generates or how it loads a cache."""
    return {
        "python": sys.version,
        "cache_tag": str(sys.implementation.cache_tag),
        "machine": platform.machine(),
        "numba": numba.__version__,
        "llvmlite": llvmlite.__version__,
        "numpy": np.__version__,
    }


def fingerprint(sources: Mapping[str, bytes], versions: Mapping[str, str]) -> str:
    """A hex digest of ``sources`` (file name -> text) and ``versions``; any change gives another."""
    h = hashlib.sha256()
    for name in sorted(sources):
        h.update(name.encode() + b"\0" + hashlib.sha256(sources[name]).digest())
    for key in sorted(versions):
        h.update(f"{key}={versions[key]}\0".encode())
    return h.hexdigest()[:20]


def sources_of(files: Iterable[Path]) -> dict[str, bytes]:
    """File name -> source text, the input of :func:`fingerprint`."""
    return {p.name: p.read_bytes() for p in sorted(files)}


class KernelCache:
    """The cache directory of one group of kernels, and the decorator that compiles into it.

    ``files`` are the modules whose source the kernels are built from (all of them: a jitted
    helper in another module is compiled into its callers)."""

    def __init__(self, name: str, files: Iterable[Path], *, root: Path | None = None) -> None:
        self.name = name
        self.sources = sources_of(files)
        self.fingerprint = fingerprint(self.sources, runtime_versions())
        self.directory = (root or cache_root()) / f"{name}-{self.fingerprint}"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError:
            self.directory = Path(tempfile.mkdtemp(prefix=f"knhk-{name}-"))

    def njit(self, **options: Any) -> Callable[[F], F]:
        """``numba.njit(cache=True, nogil=True, **options)`` caching into :attr:`directory`.

        numba picks a function's cache locator when the dispatcher is created (at decoration),
        from ``numba.config.CACHE_DIR``; it is set only for that moment and then restored, so
        numba's settings for everyone else stay as they were."""

        def decorate(fn: F) -> F:
            config: Any = numba.config
            previous = config.CACHE_DIR
            config.CACHE_DIR = str(self.directory)
            try:
                return cast(F, numba.njit(cache=True, nogil=True, **options)(fn))
            finally:
                config.CACHE_DIR = previous

        return decorate
