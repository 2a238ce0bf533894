"""Shared fixtures for registry tests: the shipped semconv registry is loaded once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from knhk_telemetry.semconv.loader import LoadResult, load_registry

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"


@pytest.fixture(scope="session")
def semconv_result() -> LoadResult:
    """The shipped OpenTelemetry semconv registry (v1.44.0), loaded once."""
    return load_registry(["semconv"])


@pytest.fixture(scope="session")
def knhk_registry_dir() -> Path:
    """The KNHK project's own registry under ../shared (a real, imperfect registry)."""
    path = SHARED / "knhk-registry"
    if not path.is_dir():
        pytest.skip("../shared/knhk-registry is not available")
    return path.resolve()
