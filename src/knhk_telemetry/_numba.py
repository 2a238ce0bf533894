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

A cold cache is filled by :func:`compile_in_workers`: each group of kernels compiles in its own
interpreter, as many at once as there are CPUs. numba compiles one function at a time while
holding the GIL, so this takes less wall time, and a serving process (``run`` warming up in the
background) keeps its GIL for requests; it then only loads the cache. A directory whose
kernels were all loaded once is marked complete (:meth:`KernelCache.mark_complete`), so a warm
start never spawns anything.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar, cast

import llvmlite  # type: ignore[import-untyped]
import numba
import numpy as np

F = TypeVar("F", bound=Callable[..., Any])

#: environment variable naming the cache root
CACHE_ENV = "KNHK_TELEMETRY_CACHE_DIR"
#: the file that marks a cache directory whose kernels have all been compiled and loaded
COMPLETE = "complete"

log = logging.getLogger("knhk_telemetry.kernels")


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
        #: True when the root cannot be written and this process caches privately: another
        #: process (a compile worker) could not fill this cache
        self.private = False
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError:
            self.directory = Path(tempfile.mkdtemp(prefix=f"knhk-{name}-"))
            self.private = True

    @property
    def complete(self) -> bool:
        """Whether every kernel of this group was loaded from (or compiled into) this directory."""
        return (self.directory / COMPLETE).exists()

    def mark_complete(self) -> None:
        """Record that every kernel is in the cache (call after loading them all)."""
        try:
            (self.directory / COMPLETE).write_text(self.fingerprint + "\n")
        except OSError:  # a read-only cache only costs the next start a check
            log.debug("cannot mark %s complete", self.directory)

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


def compile_in_workers(jobs: Sequence[str], *, workers: int | None = None, timeout: float = 1800.0) -> dict[str, float]:
    """Run each job, a Python statement that compiles some kernels into their caches, in a fresh
    interpreter, ``workers`` (default: the CPUs) at a time; returns the seconds each took.

    A job that fails is logged and skipped: whoever loads the kernels afterwards compiles what
    is missing in-process, so a failure costs time, never correctness. Two jobs that compile the
    same helper both write it (numba replaces cache files atomically)."""

    def run(job: str) -> tuple[str, float]:
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(
                [sys.executable, "-c", job], capture_output=True, text=True, timeout=timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("kernel compilation %r failed: %s", job, exc)
        else:
            if proc.returncode != 0:
                log.warning("kernel compilation %r exited %d: %s", job, proc.returncode, proc.stderr.strip()[-2000:])
        seconds = time.perf_counter() - t0
        log.info("kernel compilation %r took %.1f s", job, seconds)
        return job, seconds

    n = max(1, min(len(jobs), workers or os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="knhk-compile") as pool:
        return dict(pool.map(run, jobs))
