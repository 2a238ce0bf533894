"""Level overrides and filters (Weaver's finding_level_overrides / finding_filters)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from knhk_telemetry.errors import ConfigError
from knhk_telemetry.model.edge import Resource, Span, spans_to_batch
from knhk_telemetry.model.schema import SpanKind
from knhk_telemetry.semconv.livecheck import BatchFindings, Finding, FindingFilter, FindingModifier, LevelOverride

Check = Callable[..., BatchFindings]
Listed = Callable[[BatchFindings], list[tuple[str, int, Finding]]]


def _batch(name: str = "GET /x", **attrs: Any) -> Any:
    span = Span(
        b"\x01" * 16,
        b"\x02" * 8,
        name,
        1,
        2,
        kind=SpanKind.INTERNAL,
        attributes=attrs,
        resource=Resource(attributes={"zz": 1}),
    )
    return spans_to_batch([span])


def _got(check: Check, listed: Listed, modifier: FindingModifier, **attrs: Any) -> list[tuple[str, str, str]]:
    bf = check(_batch(**attrs), modifier=modifier)
    return [(t, f.id, f.level) for t, _, f in listed(bf)]


def test_override_raises_enum_variant_to_violation(check: Check, findings_of: Listed) -> None:
    mod = FindingModifier([LevelOverride("violation", ids=("undefined_enum_variant",))])
    assert _got(check, findings_of, mod, **{"http.request.method": "BREW"}) == [
        ("resource_attributes", "missing_attribute", "violation"),
        ("resource_attributes", "missing_namespace", "improvement"),
        ("span_attributes", "undefined_enum_variant", "violation"),
    ]


def test_override_scoped_by_signal_type_and_sample_names(check: Check, findings_of: Listed) -> None:
    mod = FindingModifier(
        [LevelOverride("information", ids=("missing_attribute",), signal_type="span", sample_names=("app.*",))]
    )
    got = _got(check, findings_of, mod, **{"app.x": 1, "other.x": 1})
    assert [g for g in got if g[1] == "missing_attribute"] == [
        ("resource_attributes", "missing_attribute", "violation"),  # resource: other signal type
        ("span_attributes", "missing_attribute", "information"),  # app.x
        ("span_attributes", "missing_attribute", "violation"),  # other.x: not in sample_names
    ]


def test_first_matching_override_wins_and_filters_see_new_level(check: Check, findings_of: Listed) -> None:
    mod = FindingModifier(
        [LevelOverride("information", ids=("missing_attribute",)), LevelOverride("improvement")],
        [FindingFilter(min_level="improvement")],
    )
    assert _got(check, findings_of, mod, **{"app.x": 1}) == [
        ("resource_attributes", "missing_namespace", "improvement")
    ]


def test_filters_exclude_ids_and_samples(check: Check, findings_of: Listed) -> None:
    mod = FindingModifier(
        filters=[
            FindingFilter(exclude=("missing_namespace",)),
            FindingFilter(exclude_samples=("app.*",), signal_type="span"),
        ]
    )
    assert _got(check, findings_of, mod, **{"app.x": 1, "b.x": 1}) == [
        ("resource_attributes", "missing_attribute", "violation"),
        ("span_attributes", "missing_attribute", "violation"),
    ]


def test_span_findings_filtered_by_span_name(check: Check, findings_of: Listed) -> None:
    mod = FindingModifier(
        filters=[FindingFilter(exclude=("recommended_attribute_not_present",), sample_names=("GET *",))]
    )
    attrs: dict[str, Any] = {"http.request.method": "GET"}
    kinds = []
    for name in ("GET /x", "POST /x"):
        span = Span(b"\x01" * 16, b"\x02" * 8, name, 1, 2, kind=SpanKind.SERVER, attributes=attrs)
        bf = check(spans_to_batch([span]), modifier=mod)
        kinds.append(next(f.id for t, _, f in findings_of(bf) if t == "spans"))
    assert kinds == ["opt_in_attribute_not_present", "recommended_attribute_not_present"]


def test_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(
        "finding_level_overrides:\n  - ids: [undefined_enum_variant]\n    level: violation\n    signal_type: span\n"
        "finding_filters:\n  - exclude: [not_stable]\n    min_level: improvement\n    sample_names: ['http.*']\n"
    )
    mod = FindingModifier.from_yaml(path)
    assert mod.overrides == (LevelOverride("violation", ids=("undefined_enum_variant",), signal_type="span"),)
    assert mod.filters == (FindingFilter(exclude=("not_stable",), min_level="improvement", sample_names=("http.*",)),)
    assert mod.sample_scoped


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"finding_filters": [{"exclude": "x", "bogus": 1}]}, "finding_filters[0]: unknown key(s) ['bogus']"),
        ({"finding_level_overrides": [{"ids": ["x"]}]}, "finding_level_overrides[0].level: is required"),
        ({"finding_level_overrides": [{"level": "fatal"}]}, "finding_level_overrides[0].level: must be one of"),
        ({"finding_filters": [{"signal_type": "trace"}]}, "finding_filters[0].signal_type: must be one of"),
        ({"finding_filters": {"exclude": []}}, "finding_filters: must be a list"),
        ({"nope": []}, "unknown key(s) ['nope']"),
    ],
)
def test_bad_config_names_the_key(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        FindingModifier.from_mapping(data)
    assert message in str(err.value)


def test_bad_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("finding_filters: [\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: invalid YAML"):
        FindingModifier.from_yaml(path)
