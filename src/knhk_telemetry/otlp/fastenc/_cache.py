"""Where numba keeps the compiled encoder: a directory that a stale build can never match.

numba checks only the source file of the function it loads, not the files of the jitted
helpers compiled into it, nor the numba/llvmlite/numpy/Python that built it. So the cache
lives under a directory named by a fingerprint of all of that: every ``.py`` file of this
package plus those versions. Change any of them and the encoder compiles afresh into a new
directory. The root is ``$KNHK_TELEMETRY_CACHE_DIR`` or ``~/.cache/knhk-telemetry/numba``.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import llvmlite  # type: ignore[import-untyped]
import numba
import numpy as np
from numba.core import caching

PACKAGE_DIR = Path(__file__).resolve().parent
ENV_VAR = "KNHK_TELEMETRY_CACHE_DIR"


def cache_root() -> Path:
    """``$KNHK_TELEMETRY_CACHE_DIR`` or ``~/.cache/knhk-telemetry/numba``."""
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else Path.home() / ".cache" / "knhk-telemetry" / "numba"


def fingerprint() -> str:
    """A digest of this package's sources and of the toolchain versions that compile them."""
    h = hashlib.sha256()
    for version in (numba.__version__, llvmlite.__version__, np.__version__, sys.version, platform.machine()):
        h.update(version.encode())
        h.update(b"\0")
    for path in sorted(PACKAGE_DIR.glob("*.py")):
        h.update(path.name.encode())
        h.update(b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()[:20]


def cache_dir() -> Path:
    """The directory of this build's compiled kernels."""
    return cache_root() / f"fastenc-{fingerprint()}"


class _Locator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
    """A numba cache locator that claims the functions of this package only."""

    def __init__(self, py_func: Any, py_file: str) -> None:
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = str(_DIR / Path(py_file).stem)

    def get_cache_path(self) -> str:
        return self._cache_path

    @classmethod
    def from_function(cls, py_func: Any, py_file: str) -> Any:
        if Path(py_file).resolve().parent != PACKAGE_DIR:
            return None
        self = cls(py_func, py_file)
        try:
            self.ensure_cache_path()  # type: ignore[no-untyped-call]
        except OSError:
            # unwritable root: a private directory for this process rather than letting
            # numba fall back to __pycache__, which the fingerprint does not guard
            self._cache_path = tempfile.mkdtemp(prefix="knhk-fastenc-")
        return self


_DIR = cache_dir()


def install() -> None:
    """Put the locator first in numba's list (idempotent); call before any ``@njit(cache=True)``."""
    classes = caching.CacheImpl._locator_classes
    if _Locator not in classes:
        classes.insert(0, _Locator)


install()
