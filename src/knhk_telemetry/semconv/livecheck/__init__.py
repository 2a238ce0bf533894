"""Weaver-compatible live check: findings for telemetry batches against a semconv registry.

- :class:`LiveChecker` computes Weaver's live-check findings for whole batches, vectorised over
  the distinct keys, values and signal shapes (:mod:`.engine`);
- :class:`BatchFindings` holds them columnar (per-row finding codes, counts, seen names);
- :class:`FindingModifier` applies ``finding_level_overrides`` / ``finding_filters``;
- :class:`LiveCheckReport` accumulates them into Weaver's JSON report (or text).
"""

from knhk_telemetry.semconv.livecheck.engine import LiveChecker
from knhk_telemetry.semconv.livecheck.findings import (
    DEFAULT_LEVELS,
    FINDING_IDS,
    LEVELS,
    BatchFindings,
    Codes,
    Finding,
    Level,
)
from knhk_telemetry.semconv.livecheck.modifier import FindingFilter, FindingModifier, LevelOverride
from knhk_telemetry.semconv.livecheck.report import LiveCheckReport

__all__ = [
    "DEFAULT_LEVELS",
    "FINDING_IDS",
    "LEVELS",
    "BatchFindings",
    "Codes",
    "Finding",
    "FindingFilter",
    "FindingModifier",
    "Level",
    "LevelOverride",
    "LiveCheckReport",
    "LiveChecker",
]
