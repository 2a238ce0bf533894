"""Makes ``tests/otlp/strategies.py`` importable as ``otlp_strategies``.

A unique module name keeps it apart from other test folders' helpers (tests have no
packages). Tests elsewhere can load it the same way::

    spec = importlib.util.spec_from_file_location("otlp_strategies", Path("tests/otlp/strategies.py"))
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest


def _load_strategies() -> ModuleType:
    name = "otlp_strategies"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("strategies.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_load_strategies()


@pytest.fixture(scope="session")
def otlp_strategies() -> ModuleType:
    """The strategies module, for tests that draw with ``data.draw``."""
    return _load_strategies()
