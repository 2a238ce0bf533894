"""Loads the compiled decoder once per session (compiling it only when the cache is empty)."""

from __future__ import annotations

import pytest

from knhk_telemetry.otlp import fast


@pytest.fixture(scope="session", autouse=True)
def _warm_fast_decoder() -> None:
    fast.warmup()
