"""The runnable examples in docstrings stay true."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import knhk_telemetry


def _modules_with_examples() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(knhk_telemetry.__path__, "knhk_telemetry."):
        spec = importlib.util.find_spec(info.name)
        if spec and spec.origin and spec.origin.endswith(".py"):
            with open(spec.origin, encoding="utf-8") as f:
                if ">>> " in f.read():
                    names.append(info.name)
    return names


@pytest.mark.parametrize("module", _modules_with_examples())
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
