"""The KNHK project's registry (../shared/knhk-registry): its real problems, each with file:line."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from knhk_telemetry.semconv.loader import LoadResult, load_registry

# Every error, checked against the files: top-level keys Weaver does not know (schema_url,
# resource_attributes, ...), group fields that are not Weaver syntax (metrics:, spans:, log_records:),
# attribute-level ``members:``/``unit:``, the unknown group type ``log_record``, metric groups without
# metric_name/instrument/unit, events without a name, XES-style keys with ':' and one attribute
# defined twice.
EXPECTED_ERRORS = [
    ("knhk-guards.yaml", 139, "missing_field"),
    ("knhk-mape-k.yaml", 192, "missing_field"),
    ("knhk-mape-k.yaml", 202, "missing_field"),
    ("knhk-receipts.yaml", 172, "missing_field"),
    ("knhk-receipts.yaml", 181, "missing_field"),
    ("knhk-workflow-engine.yaml", 59, "invalid_name"),
    ("knhk-workflow-engine.yaml", 65, "invalid_name"),
    ("knhk-workflow-engine.yaml", 71, "invalid_name"),
    ("knhk-workflow-engine.yaml", 77, "invalid_name"),
    ("knhk-workflow-engine.yaml", 419, "duplicate_attribute"),
    ("otel/attributes.yaml", 8, "unknown_field"),
    ("otel/attributes.yaml", 133, "unknown_field"),
    ("otel/attributes.yaml", 184, "unknown_field"),
    ("otel/attributes.yaml", 190, "unknown_field"),
    ("otel/attributes.yaml", 196, "unknown_field"),
    ("otel/attributes.yaml", 250, "unknown_field"),
    ("otel/attributes.yaml", 277, "unknown_field"),
    ("otel/attributes.yaml", 317, "unknown_field"),
    ("otel/attributes.yaml", 398, "unknown_field"),
    ("otel/attributes.yaml", 409, "unknown_field"),
    ("otel/attributes.yaml", 431, "unknown_field"),
    ("otel/attributes.yaml", 446, "unknown_field"),
    ("otel/attributes.yaml", 472, "unknown_field"),
    ("otel/attributes.yaml", 527, "unknown_field"),
    ("otel/attributes.yaml", 536, "unknown_field"),
    ("otel/attributes.yaml", 640, "unknown_field"),
    ("otel/logs.yaml", 8, "unknown_field"),
    ("otel/logs.yaml", 15, "unknown_group_type"),
    ("otel/logs.yaml", 18, "unknown_field"),
    ("otel/logs.yaml", 86, "unknown_group_type"),
    ("otel/logs.yaml", 89, "unknown_field"),
    ("otel/logs.yaml", 118, "unknown_group_type"),
    ("otel/logs.yaml", 121, "unknown_field"),
    ("otel/logs.yaml", 166, "unknown_group_type"),
    ("otel/logs.yaml", 169, "unknown_field"),
    ("otel/logs.yaml", 205, "unknown_group_type"),
    ("otel/logs.yaml", 208, "unknown_field"),
    ("otel/logs.yaml", 241, "unknown_group_type"),
    ("otel/logs.yaml", 244, "unknown_field"),
    ("otel/logs.yaml", 297, "unknown_group_type"),
    ("otel/logs.yaml", 300, "unknown_field"),
    ("otel/metrics.yaml", 8, "unknown_field"),
    ("otel/metrics.yaml", 14, "missing_field"),
    ("otel/metrics.yaml", 14, "missing_field"),
    ("otel/metrics.yaml", 14, "missing_field"),
    ("otel/metrics.yaml", 18, "unknown_field"),
    ("otel/metrics.yaml", 45, "missing_field"),
    ("otel/metrics.yaml", 45, "missing_field"),
    ("otel/metrics.yaml", 45, "missing_field"),
    ("otel/metrics.yaml", 49, "unknown_field"),
    ("otel/metrics.yaml", 95, "missing_field"),
    ("otel/metrics.yaml", 95, "missing_field"),
    ("otel/metrics.yaml", 95, "missing_field"),
    ("otel/metrics.yaml", 99, "unknown_field"),
    ("otel/metrics.yaml", 150, "missing_field"),
    ("otel/metrics.yaml", 150, "missing_field"),
    ("otel/metrics.yaml", 150, "missing_field"),
    ("otel/metrics.yaml", 154, "unknown_field"),
    ("otel/metrics.yaml", 207, "missing_field"),
    ("otel/metrics.yaml", 207, "missing_field"),
    ("otel/metrics.yaml", 207, "missing_field"),
    ("otel/metrics.yaml", 211, "unknown_field"),
    ("otel/metrics.yaml", 244, "missing_field"),
    ("otel/metrics.yaml", 244, "missing_field"),
    ("otel/metrics.yaml", 244, "missing_field"),
    ("otel/metrics.yaml", 248, "unknown_field"),
    ("otel/metrics.yaml", 280, "missing_field"),
    ("otel/metrics.yaml", 280, "missing_field"),
    ("otel/metrics.yaml", 280, "missing_field"),
    ("otel/metrics.yaml", 284, "unknown_field"),
    ("otel/spans.yaml", 8, "unknown_field"),
    ("otel/spans.yaml", 18, "unknown_field"),
    ("otel/spans.yaml", 76, "unknown_field"),
    ("otel/spans.yaml", 135, "unknown_field"),
    ("otel/spans.yaml", 213, "unknown_field"),
    ("otel/spans.yaml", 262, "unknown_field"),
    ("otel/spans.yaml", 316, "unknown_field"),
    ("semconv.yaml", 8, "unknown_field"),
    ("semconv.yaml", 15, "unknown_field"),
    ("semconv.yaml", 45, "unknown_field"),
    ("semconv.yaml", 64, "unknown_field"),
    ("semconv.yaml", 95, "unknown_field"),
    ("semconv.yaml", 125, "unknown_field"),
    ("semconv.yaml", 160, "unknown_field"),
    ("semconv.yaml", 204, "unknown_field"),
    ("semconv.yaml", 234, "unknown_field"),
    ("semconv.yaml", 249, "unknown_field"),
    ("semconv.yaml", 272, "unknown_field"),
    ("semconv.yaml", 292, "unknown_field"),
]


def _rel(result: LoadResult, root: Path) -> list[tuple[str, int, str]]:
    return [(Path(p.file).relative_to(root).as_posix(), p.line, p.code) for p in result.errors]


def test_knhk_errors_exact(knhk_registry_dir: Path) -> None:
    result = load_registry([knhk_registry_dir])
    assert _rel(result, knhk_registry_dir) == EXPECTED_ERRORS


def test_knhk_warnings_by_kind(knhk_registry_dir: Path) -> None:
    result = load_registry([knhk_registry_dir])
    assert Counter(p.code for p in result.warnings) == {
        "missing_stability": 112,
        "missing_examples": 33,
        "prefix_used": 20,
        "missing_attributes": 13,
        "missing_span_kind": 6,
    }


def test_knhk_messages(knhk_registry_dir: Path) -> None:
    result = load_registry([knhk_registry_dir])
    text = [str(p).replace(str(knhk_registry_dir) + "/", "") for p in result.problems]
    assert (
        "knhk-workflow-engine.yaml:419: error: attribute 'knhk.workflow_engine.chosen_branch' is defined "
        "more than once (first defined at knhk-workflow-engine.yaml:304)"
    ) in text
    assert (
        "knhk-guards.yaml:139: error: group 'knhk.guard.event.violation' is an event but has no 'name' and no 'prefix'"
        in text
    )
    assert "otel/logs.yaml:15: error: group 'knhk.logs.proposals': unknown group type 'log_record'" in text
    assert "otel/attributes.yaml:133: error: unknown field 'members' in attribute 'invariant.id'" in text
    assert "semconv.yaml:15: error: unknown field 'resource_attributes' in file (groups format)" in text
    assert "otel/metrics.yaml:14: error: group 'knhk.metrics.hotpath' is a metric but has no 'unit'" in text
    bad_key = next(p for p in result.problems if p.code == "invalid_name")
    assert bad_key.value == "lifecycle:transition"


def test_knhk_still_loads_what_it_can(knhk_registry_dir: Path) -> None:
    reg = load_registry([knhk_registry_dir]).registry
    assert (len(reg.attributes), len(reg.groups), len(reg.metrics), len(reg.span_groups())) == (217, 150, 33, 60)
    assert reg.name == "knhk"
    ticks = reg.attribute("knhk.operation.ticks")
    assert ticks is not None
    assert ticks.type == "int"
    assert ticks.stability == "development"


def test_knhk_on_top_of_semconv(knhk_registry_dir: Path, semconv_result: LoadResult) -> None:
    layered = load_registry(["semconv", knhk_registry_dir])
    alone = load_registry([knhk_registry_dir])
    extra = [p for p in layered.problems if p not in alone.problems]
    assert [(Path(p.file).relative_to(knhk_registry_dir).as_posix(), p.line, p.level, p.code) for p in extra] == [
        ("otel/attributes.yaml", 428, "warning", "attribute_redefined"),
    ]
    assert len(layered.problems) == len(alone.problems) + 1
    reg = layered.registry
    # knhk's error.type (a plain string) shadows semconv's enum: that is what the warning is about.
    error_type = reg.attribute("error.type")
    assert error_type is not None
    assert error_type.type == "string"
    assert reg.attribute("http.request.method") == semconv_result.registry.attribute("http.request.method")
    assert len(reg.metrics) == len(semconv_result.registry.metrics) + 33
