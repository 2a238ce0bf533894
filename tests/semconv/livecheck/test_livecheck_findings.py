"""Every finding id of Weaver's live-check on a small hand-built registry: id, level, message, context."""

# ruff: noqa: E501 (expected findings are kept one per line, as Weaver prints them)

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from knhk_telemetry.model.edge import (
    HistogramDataPoint,
    InstrumentationScope,
    LogEntry,
    Metric,
    NumberDataPoint,
    Resource,
    Span,
    SummaryDataPoint,
    logs_to_batch,
    metrics_to_batch,
    spans_to_batch,
)
from knhk_telemetry.model.schema import MetricType, SpanKind
from knhk_telemetry.semconv.livecheck import BatchFindings, Finding

Check = Callable[..., BatchFindings]
Listed = Callable[[BatchFindings], list[tuple[str, int, Finding]]]


def _span(
    attrs: dict[str, Any], *, name: str = "GET /x", kind: SpanKind = SpanKind.SERVER, resource: Resource | None = None
) -> Span:
    return Span(b"\x01" * 16, b"\x02" * 8, name, 1, 2, kind=kind, attributes=attrs, resource=resource or Resource())


def _attr_findings(check: Check, findings_of: Listed, key: str, value: Any) -> list[dict[str, Any]]:
    bf = check(spans_to_batch([_span({key: value}, kind=SpanKind.INTERNAL)]))
    return [f.to_dict("GET /x") for t, _, f in findings_of(bf) if t == "span_attributes"]


def _d(  # noqa: PLR0917 (mirrors a finding's fields in order)
    fid: str,
    level: str,
    message: str,
    context: dict[str, Any] | None,
    signal_type: str | None = "span",
    signal_name: str | None = "GET /x",
) -> dict[str, Any]:
    return {
        "id": fid,
        "level": level,
        "message": message,
        "context": context,
        "signal_type": signal_type,
        "signal_name": signal_name,
    }


def test_known_attribute_gives_nothing(check: Check, findings_of: Listed) -> None:
    assert _attr_findings(check, findings_of, "http.route", "/x") == []


def test_missing_attribute_and_namespace_and_format(check: Check, findings_of: Listed) -> None:
    assert _attr_findings(check, findings_of, "Foo", 1) == [
        _d(
            "missing_attribute",
            "violation",
            "Attribute 'Foo' does not exist in the registry.",
            {"attribute_key": "Foo"},
        ),
        _d(
            "missing_namespace",
            "improvement",
            "Attribute key 'Foo' must include a namespace (e.g. '{namespace}.{attribute_key}')",
            {"attribute_key": "Foo"},
        ),
        _d(
            "invalid_format",
            "violation",
            "Attribute key 'Foo' does not match name formatting rules.",
            {"attribute_key": "Foo"},
        ),
    ]


def test_template_attribute(check: Check, findings_of: Listed) -> None:
    assert _attr_findings(check, findings_of, "http.request.header.x-id", ["a"]) == [
        _d(
            "template_attribute",
            "information",
            "Attribute 'http.request.header.x-id' is a template",
            {"attribute_key": "http.request.header.x-id", "template_name": "http.request.header"},
        )
    ]


def test_deprecated_renamed_and_not_stable(check: Check, findings_of: Listed) -> None:
    assert _attr_findings(check, findings_of, "http.method", "GET") == [
        _d(
            "deprecated",
            "violation",
            "Attribute 'http.method' is deprecated; reason = 'renamed', note = 'Replaced by `http.request.method`.'.",
            {
                "attribute_key": "http.method",
                "deprecation_reason": "renamed",
                "deprecation_note": "Replaced by `http.request.method`.",
                "renamed_to": "http.request.method",
            },
        ),
        _d(
            "not_stable",
            "improvement",
            "Attribute 'http.method' is not stable; stability = development.",
            {"attribute_key": "http.method", "stability": "development"},
        ),
    ]


def test_deprecated_obsoleted_default_note(check: Check, findings_of: Listed) -> None:
    got = _attr_findings(check, findings_of, "test.old", "x")
    assert got[0]["message"] == "Attribute 'test.old' is deprecated; reason = 'obsoleted', note = 'Obsoleted.'."
    assert got[0]["context"] == {
        "attribute_key": "test.old",
        "deprecation_reason": "obsoleted",
        "deprecation_note": "Obsoleted.",
    }


def test_type_mismatch_and_int_for_double(check: Check, findings_of: Listed) -> None:
    assert _attr_findings(check, findings_of, "server.port", "80") == [
        _d(
            "type_mismatch",
            "violation",
            "Attribute 'server.port' has type 'string'. Type should be 'int'.",
            {"attribute_key": "server.port", "attribute_type": "string", "expected": "int"},
        )
    ]
    assert _attr_findings(check, findings_of, "test.ratio", 3) == []  # an int is accepted for a double
    assert [f["id"] for f in _attr_findings(check, findings_of, "test.ratio", "3")] == ["type_mismatch"]
    assert _attr_findings(check, findings_of, "test.tags", ["a", "b"]) == []
    assert _attr_findings(check, findings_of, "test.tags", [1, 2])[0]["message"] == (
        "Attribute 'test.tags' has type 'int[]'. Type should be 'string[]'."
    )


def test_enum_type_mismatch(check: Check, findings_of: Listed) -> None:
    assert _attr_findings(check, findings_of, "http.request.method", 1.5) == [
        _d(
            "type_mismatch",
            "violation",
            "Enum attribute 'http.request.method' has type 'double'. Enum value type should be 'string' or 'int'.",
            {"attribute_key": "http.request.method", "attribute_type": "double"},
        )
    ]


def test_undefined_enum_variant_string_and_int(check: Check, findings_of: Listed) -> None:
    assert _attr_findings(check, findings_of, "http.request.method", "GET") == []
    assert _attr_findings(check, findings_of, "http.request.method", "BREW") == [
        _d(
            "undefined_enum_variant",
            "information",
            "Enum attribute 'http.request.method' has value 'BREW' which is not documented.",
            {"attribute_key": "http.request.method", "attribute_value": "BREW"},
        )
    ]
    assert _attr_findings(check, findings_of, "test.level", 2) == []
    assert _attr_findings(check, findings_of, "test.level", 7) == [
        _d(
            "undefined_enum_variant",
            "information",
            "Enum attribute 'test.level' has value '7' which is not documented.",
            {"attribute_key": "test.level", "attribute_value": 7},
        )
    ]


def test_illegal_and_extends_namespace(check: Check, findings_of: Listed) -> None:
    assert _attr_findings(check, findings_of, "http.route.template", "x") == [
        _d(
            "missing_attribute",
            "violation",
            "Attribute 'http.route.template' does not exist in the registry.",
            {"attribute_key": "http.route.template"},
        ),
        _d(
            "illegal_namespace",
            "violation",
            "Namespace 'http.route' collides with existing attribute 'http.route.template'",
            {"attribute_key": "http.route.template", "namespace": "http.route"},
        ),
        _d(
            "extends_namespace",
            "information",
            "Attribute key 'http.route.template' collides with existing namespace 'http'",
            {"attribute_key": "http.route.template", "namespace": "http"},
        ),
    ]
    got = _attr_findings(check, findings_of, "http.request.size", 1)
    assert got[-1]["context"] == {"attribute_key": "http.request.size", "namespace": "http.request"}


def test_span_requirements_by_definition(check: Check, findings_of: Listed) -> None:
    bf = check(spans_to_batch([_span({"http.request.method": "GET"})]))
    assert [f.to_dict("GET /x") for t, _, f in findings_of(bf) if t == "spans"] == [
        _d(
            "recommended_attribute_not_present",
            "improvement",
            "Recommended attribute 'http.route' is not present.",
            {"attribute_key": "http.route"},
        ),
        _d(
            "opt_in_attribute_not_present",
            "information",
            "Opt-in attribute 'server.port' is not present.",
            {"attribute_key": "server.port"},
        ),
        _d(
            "conditionally_required_attribute_not_present",
            "information",
            "Conditionally required attribute 'test.ratio' is not present.",
            {"attribute_key": "test.ratio"},
        ),
        _d(
            "opt_in_attribute_not_present",
            "information",
            "Opt-in attribute 'http.request.header' is not present.",
            {"attribute_key": "http.request.header"},
        ),
    ]
    # a client span is not matched to the server definition by its attributes
    client = check(spans_to_batch([_span({"http.request.method": "GET"}, kind=SpanKind.CLIENT)]))
    assert [f.id for t, _, f in findings_of(client) if t == "spans"] == []


def test_span_type_attribute_required_kind_and_unexpected(check: Check, findings_of: Listed) -> None:
    attrs = {"otel.span.type": "test.server", "http.route": "/x", "http.request.header.a": ["1"], "service.name": "s"}
    bf = check(spans_to_batch([_span(attrs, kind=SpanKind.CLIENT)]))
    spans = [f.to_dict("GET /x") for t, _, f in findings_of(bf) if t == "spans"]
    assert spans[0] == _d(
        "required_attribute_not_present",
        "violation",
        "Required attribute 'http.request.method' is not present.",
        {"attribute_key": "http.request.method"},
    )
    assert spans[-1] == _d(
        "span_kind_mismatch",
        "violation",
        "Span kind should be 'Server', but found 'Client'.",
        {"span_kind": "client", "expected": "server"},
    )
    unexpected = [(i, f.to_dict("GET /x")) for t, i, f in findings_of(bf) if f.id == "unexpected_attribute"]
    assert unexpected == [
        (0, _d(
            "unexpected_attribute",
            "improvement",
            "Attribute 'otel.span.type' is not part of the definition of 'span.test.server'.",
            {"attribute_key": "otel.span.type", "group_id": "span.test.server"},
        )),
        (3, _d(
            "unexpected_attribute",
            "improvement",
            "Attribute 'service.name' is not part of the definition of 'span.test.server'.",
            {"attribute_key": "service.name", "group_id": "span.test.server"},
        )),
    ]  # fmt: skip


def _metric(
    name: str, mtype: MetricType, points: list[Any], unit: str, *, mono: bool = False, resource: Resource | None = None
) -> Metric:
    return Metric(name, mtype, points, unit=unit, is_monotonic=mono, resource=resource or Resource())


def _metric_findings(check: Check, findings_of: Listed, metric: Metric, table: str = "metrics") -> list[dict[str, Any]]:
    bf = check(metrics_to_batch([metric]))
    return [f.to_dict(metric.name) for t, _, f in findings_of(bf) if t == table]


def test_missing_metric_and_invalid_format(check: Check, findings_of: Listed) -> None:
    got = _metric_findings(
        check, findings_of, _metric("Test.Unknown", MetricType.GAUGE, [NumberDataPoint(value=1)], "1")
    )
    assert got == [
        _d("missing_metric", "violation", "Metric does not exist in the registry.", None, "metric", "Test.Unknown"),
        _d(
            "invalid_format",
            "violation",
            "Metric name 'Test.Unknown' does not match name formatting rules.",
            {"metric_name": "Test.Unknown"},
            "metric",
            "Test.Unknown",
        ),
    ]


def test_metric_stability_unit_instrument_entity(check: Check, findings_of: Listed) -> None:
    res = Resource(attributes={"service.name": "s", "service.version": "1"})
    m = _metric("test.duration", MetricType.SUM, [NumberDataPoint(value=1.0)], "ms", mono=True, resource=res)
    assert _metric_findings(check, findings_of, m) == [
        _d(
            "not_stable",
            "improvement",
            "Metric 'test.duration' is not stable; stability = development.",
            {"metric_name": "test.duration", "stability": "development"},
            "metric",
            "test.duration",
        ),
        _d(
            "unexpected_instrument",
            "violation",
            "Instrument should be 'histogram', but found 'counter'.",
            {"instrument": "counter", "expected": "histogram"},
            "metric",
            "test.duration",
        ),
        _d(
            "unit_mismatch",
            "violation",
            "Unit should be 's', but found 'ms'.",
            {"unit": "ms", "expected": "s"},
            "metric",
            "test.duration",
        ),
        _d(
            "entity_opt_in_attribute_not_present",
            "information",
            "Opt-in attribute 'service.instance.id' for entity 'service' is not present in the resource.",
            {"attribute_key": "service.instance.id", "entity_type": "service"},
            "metric",
            "test.duration",
        ),
        _d(
            "entity_conditionally_required_attribute_not_present",
            "information",
            "Conditionally required attribute 'service.namespace' for entity 'service' is not present in the resource.",
            {"attribute_key": "service.namespace", "entity_type": "service"},
            "metric",
            "test.duration",
        ),
    ]


def test_entity_required_and_recommended(check: Check, findings_of: Listed) -> None:
    m = _metric("test.duration", MetricType.HISTOGRAM, [HistogramDataPoint(count=1)], "s")
    got = [(f["id"], f["level"], f["message"]) for f in _metric_findings(check, findings_of, m)]
    assert got[1:3] == [
        (
            "entity_required_attribute_not_present",
            "violation",
            "Required attribute 'service.name' for entity 'service' is not present in the resource.",
        ),
        (
            "entity_recommended_attribute_not_present",
            "improvement",
            "Recommended attribute 'service.version' for entity 'service' is not present in the resource.",
        ),
    ]


def test_instrument_rules(check: Check, findings_of: Listed) -> None:
    def ids(m: Metric) -> list[str]:
        return [f["id"] for f in _metric_findings(check, findings_of, m)]

    assert ids(_metric("test.count", MetricType.SUM, [NumberDataPoint(value=1)], "1", mono=True)) == []
    assert ids(_metric("test.count", MetricType.SUM, [NumberDataPoint(value=1)], "1")) == ["unexpected_instrument"]
    summary = _metric("test.count", MetricType.SUMMARY, [SummaryDataPoint(count=1, sum=1.0)], "1")
    assert _metric_findings(check, findings_of, summary) == [
        _d(
            "unexpected_instrument",
            "violation",
            "Instrument 'Summary' is not supported",
            {"instrument": "Summary"},
            "metric",
            "test.count",
        ),
    ]
    hist = _metric("test.count", MetricType.EXPONENTIAL_HISTOGRAM, [], "1")
    assert (
        _metric_findings(check, findings_of, hist)[0]["message"]
        == "Instrument should be 'counter', but found 'histogram'."
    )


def test_deprecated_metric(check: Check, findings_of: Listed) -> None:
    got = _metric_findings(check, findings_of, _metric("test.old", MetricType.GAUGE, [], "1"))
    assert got == [
        _d(
            "deprecated",
            "violation",
            "Metric 'test.old' is deprecated; reason = 'renamed', note = 'Replaced by `test.count`.'.",
            {
                "metric_name": "test.old",
                "deprecation_reason": "renamed",
                "deprecation_note": "Replaced by `test.count`.",
                "renamed_to": "test.count",
            },
            "metric",
            "test.old",
        )
    ]


def test_data_point_requirements(check: Check, findings_of: Listed) -> None:
    res = Resource(
        attributes={"service.name": "s", "service.version": "1", "service.instance.id": "i", "service.namespace": "n"}
    )
    points = [
        HistogramDataPoint(count=1, attributes={"http.request.method": "GET", "http.route": "/"}),
        HistogramDataPoint(count=1),
    ]
    m = _metric("test.duration", MetricType.HISTOGRAM, points, "s", resource=res)
    bf = check(metrics_to_batch([m]))
    got = [(i, f.to_dict("test.duration")) for t, i, f in findings_of(bf) if t == "points"]
    assert got == [
        (1, _d("required_attribute_not_present", "violation", "Required attribute 'http.request.method' is not present.", {"attribute_key": "http.request.method"}, "metric", "test.duration")),
        (1, _d("recommended_attribute_not_present", "improvement", "Recommended attribute 'http.route' is not present.", {"attribute_key": "http.route"}, "metric", "test.duration")),
    ]  # fmt: skip
    # the metric's own findings reach every point in the item roll-up
    assert bf.item_ids(0) == ["not_stable"]
    assert bf.item_ids(1) == ["not_stable", "required_attribute_not_present", "recommended_attribute_not_present"]


def _log(name: str, attrs: dict[str, Any], resource: Resource | None = None) -> LogEntry:
    return LogEntry(event_name=name, attributes=attrs, resource=resource or Resource(), scope=InstrumentationScope("s"))


def test_missing_event_and_event_rules(check: Check, findings_of: Listed) -> None:
    bf = check(
        logs_to_batch(
            [
                _log("test.nope", {}),
                _log("", {}),
                _log("test.started", {"server.port": 1}, Resource(attributes={"host.name": "h"})),
            ]
        )
    )
    got = [(i, f.to_dict(None)) for t, i, f in findings_of(bf) if t == "logs"]
    assert got == [
        (0, _d("missing_event", "violation", "Event 'test.nope' does not exist in the registry.", None, "log", "test.nope")),
        (2, _d("not_stable", "improvement", "Event 'test.started' is not stable; stability = development.", {"event_name": "test.started", "stability": "development"}, "log", "test.started")),
    ]  # fmt: skip


def test_entity_association_not_satisfied(check: Check, findings_of: Listed) -> None:
    bf = check(logs_to_batch([_log("test.started", {})]))
    logs = [f.to_dict(None) for t, _, f in findings_of(bf) if t == "logs"]
    assert logs[1] == _d(
        "required_attribute_not_present",
        "violation",
        "Required attribute 'server.port' is not present.",
        {"attribute_key": "server.port"},
        "log",
        "test.started",
    )
    assert logs[2] == _d(
        "entity_association_not_satisfied",
        "violation",
        "None of the associated entities [service, host] were satisfied by the resource.",
        {"entity_type": ["service", "host"]},
        "log",
        "test.started",
    )
    # one satisfied branch of the one_of: only its non-violation findings are kept
    ok = check(logs_to_batch([_log("test.started", {"server.port": 1}, Resource(attributes={"service.name": "s"}))]))
    assert [f.id for t, _, f in findings_of(ok) if t == "logs"] == [
        "not_stable",
        "entity_recommended_attribute_not_present",
        "entity_opt_in_attribute_not_present",
        "entity_conditionally_required_attribute_not_present",
    ]


def test_resource_and_event_attributes_carry_their_signal(check: Check, findings_of: Listed) -> None:
    bf = check(spans_to_batch([_span({}, resource=Resource(attributes={"bad.key": 1}))]))
    res = [f for t, _, f in findings_of(bf) if t == "resource_attributes"]
    assert [(f.id, f.signal_type) for f in res] == [("missing_attribute", "resource")]


def test_every_finding_id_is_covered(check: Check, findings_of: Listed) -> None:
    """The ids the tests above produce are exactly the ids the checker knows."""
    from knhk_telemetry.semconv.livecheck import FINDING_IDS

    assert len(FINDING_IDS) == 25
    assert set(FINDING_IDS) >= {"missing_attribute", "extends_namespace", "span_kind_mismatch", "unexpected_attribute"}
