"""The report: Weaver's statistics, exact for a small input; bounded samples and seen-sets."""

# ruff: noqa: E501 (expected findings are kept one per line, as Weaver prints them)

from __future__ import annotations

import json

from knhk_telemetry.model.edge import InstrumentationScope, Resource, Span, SpanEvent, spans_to_batch
from knhk_telemetry.model.schema import SpanKind
from knhk_telemetry.semconv.livecheck import LiveChecker, LiveCheckReport
from knhk_telemetry.semconv.model import Registry


def _batch() -> object:
    res = Resource(attributes={"service.name": "svc", "zz": 1})
    scope = InstrumentationScope("lib", "1.0")
    a = Span(
        b"\x01" * 16, b"\x02" * 8, "a", 1, 2, kind=SpanKind.INTERNAL,
        attributes={"http.route": "/r", "foo": True}, events=[SpanEvent("ev", attributes={"http.route": "/e"})],
        resource=res, scope=scope,
    )  # fmt: skip
    b = Span(b"\x01" * 16, b"\x03" * 8, "b", 1, 2, kind=SpanKind.INTERNAL, resource=res, scope=scope)
    return spans_to_batch([a, b])


def _report(registry: Registry, **kw: int) -> LiveCheckReport:
    checker = LiveChecker(registry)
    report = LiveCheckReport(checker.index, **kw)
    batch = _batch()
    report.add(batch, checker.check(batch))  # type: ignore[arg-type]
    return report


def test_statistics_exact(registry: Registry) -> None:
    s = _report(registry).statistics()
    assert {k: v for k, v in s.items() if not k.startswith("seen_registry")} == {
        "total_entities": 10,
        "total_entities_by_type": {
            "attribute": 5,
            "instrumentation_scope": 1,
            "resource": 1,
            "span": 2,
            "span_event": 1,
        },
        "total_advisories": 4,
        "advice_level_counts": {"improvement": 2, "violation": 2},
        "highest_advice_level_counts": {"violation": 2},
        "no_advice_count": 8,
        "advice_type_counts": {"missing_attribute": 2, "missing_namespace": 2},
        "advice_message_counts": {
            "Attribute 'foo' does not exist in the registry.": 1,
            "Attribute 'zz' does not exist in the registry.": 1,
            "Attribute key 'foo' must include a namespace (e.g. '{namespace}.{attribute_key}')": 1,
            "Attribute key 'zz' must include a namespace (e.g. '{namespace}.{attribute_key}')": 1,
        },
        "seen_non_registry_attributes": {"foo": 1, "zz": 1},
        "seen_non_registry_metrics": {},
        "seen_non_registry_events": {},
        "registry_coverage": 2 / 17,
        "seen_overflow": {
            "non_registry_attributes": 0,
            "non_registry_metrics": 0,
            "non_registry_events": 0,
            "advice_messages": 0,
        },
        "undecodable_inputs": 0,
        "input_errors": [],
    }
    assert {k: v for k, v in s["seen_registry_attributes"].items() if v} == {"http.route": 2, "service.name": 1}
    assert len(s["seen_registry_attributes"]) == 14  # deprecated attributes are not registry entries here (as Weaver)
    assert s["seen_registry_metrics"] == {"test.count": 0, "test.duration": 0}
    assert s["seen_registry_events"] == {"test.started": 0}


def test_samples_have_weavers_shape(registry: Registry) -> None:
    samples = _report(registry).samples
    assert [next(iter(s)) for s in samples] == ["resource", "instrumentation_scope", "span", "span"]
    span = samples[2]["span"]
    assert span["name"] == "a"
    assert span["kind"] == "internal"
    assert span["status"] == {"code": "unset", "message": ""}
    assert span["live_check_result"] == {"all_advice": [], "highest_advice_level": None}
    assert span["attributes"][1] == {
        "name": "foo",
        "value": True,
        "type": "boolean",
        "live_check_result": {
            "all_advice": [
                {"id": "missing_attribute", "level": "violation", "message": "Attribute 'foo' does not exist in the registry.",
                 "context": {"attribute_key": "foo"}, "signal_type": "span", "signal_name": "a"},
                {"id": "missing_namespace", "level": "improvement",
                 "message": "Attribute key 'foo' must include a namespace (e.g. '{namespace}.{attribute_key}')",
                 "context": {"attribute_key": "foo"}, "signal_type": "span", "signal_name": "a"},
            ],
            "highest_advice_level": "violation",
        },
    }  # fmt: skip
    assert span["span_events"][0]["name"] == "ev"
    res_attr = samples[0]["resource"]["attributes"][1]
    assert res_attr["live_check_result"]["all_advice"][0]["signal_type"] == "resource"
    assert res_attr["live_check_result"]["all_advice"][0]["signal_name"] is None
    json.dumps(samples)  # serialisable


def test_bounds(registry: Registry) -> None:
    report = _report(registry, max_samples=3, max_seen=1)
    assert [next(iter(s)) for s in report.samples] == ["resource", "instrumentation_scope", "span"]
    s = report.statistics()
    assert s["seen_non_registry_attributes"] == {"zz": 1}
    assert s["seen_overflow"]["non_registry_attributes"] == 1
    assert s["seen_overflow"]["advice_messages"] == 3
    assert s["total_advisories"] == 4  # counts stay exact


def test_fail_levels_and_text(registry: Registry) -> None:
    report = _report(registry)
    assert report.highest_level == "violation"
    assert [report.fails(x) for x in ("violation", "improvement", "information", "none")] == [True, True, True, False]
    text = report.to_text()
    assert "span a [violation]" in text
    assert "        - [violation] Attribute 'foo' does not exist in the registry." in text
    assert "  - total seen: 11.76%" in text
    empty = LiveCheckReport(LiveChecker(registry).index)
    assert not empty.fails("information")
    assert empty.to_dict()["statistics"]["total_entities"] == 0
