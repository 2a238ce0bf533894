"""The shipped OpenTelemetry semconv registry (v1.44.0) loads clean and resolves exactly."""

from __future__ import annotations

from pathlib import Path

from knhk_telemetry.model.schema import ValueType
from knhk_telemetry.semconv.loader import LoadResult, builtin_registry_path, load_registry
from knhk_telemetry.semconv.model import Deprecation, EnumType, RequirementLevel


def _rel(path: str) -> str:
    return path.split("/model/", 1)[1]


def test_loads_with_zero_problems(semconv_result: LoadResult) -> None:
    assert semconv_result.problems == ()
    assert semconv_result.registry.problems == ()


def test_counts(semconv_result: LoadResult) -> None:
    reg = semconv_result.registry
    # Counted independently with yaml.safe_load over the 249 definition files.
    assert len(reg.attributes) == 943
    assert len(reg.templates) == 41
    assert len(reg.metrics) == 541
    assert len(reg.events) == 32
    assert len(reg.entities) == 64
    assert len(reg.span_groups()) == 113  # 66 v1 span groups + 3 v2 spans + 44 span refinements
    assert len(reg.groups) == 1000
    assert sum(1 for g in reg.groups.values() if g.is_refinement) == 56
    assert reg.version == "1.45.0-unreleased"


def test_shipped_copy_is_the_shared_registry() -> None:
    shipped = builtin_registry_path("semconv")
    files = sorted(p.relative_to(shipped).as_posix() for p in shipped.rglob("*.yaml"))
    assert len(files) == 250
    assert "Apache License" in (shipped.parent / "LICENSE").read_text()
    assert "v1.44.0" in (shipped.parent / "VERSION.txt").read_text()


def test_http_request_method_enum(semconv_result: LoadResult) -> None:
    attr = semconv_result.registry.attribute("http.request.method")
    assert attr is not None
    assert isinstance(attr.type, EnumType)
    assert [m.value for m in attr.type.members] == [
        "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE", "QUERY", "_OTHER",
    ]  # fmt: skip
    other = attr.type.members[-1]
    assert (other.id, other.value, other.stability) == ("other", "_OTHER", "stable")
    assert attr.type.members[-2].stability == "development"
    assert attr.is_enum
    assert not attr.is_template
    assert attr.type.value_type == "string"
    assert attr.value_kind is ValueType.STRING
    assert "_OTHER" in attr.enum_values
    assert attr.stability == "stable"
    assert attr.deprecated is None
    assert attr.requirement_level == RequirementLevel("recommended")
    assert attr.source is not None
    assert (_rel(attr.source.file), attr.source.line) == ("http/registry.yaml", 39)
    assert attr.group_id == "registry.http"


def test_deprecations(semconv_result: LoadResult) -> None:
    reg = semconv_result.registry
    renamed = reg.attribute("http.method")
    assert renamed is not None
    assert renamed.deprecated == Deprecation("renamed", "http.request.method", "Replaced by `http.request.method`.")
    assert renamed.source is not None
    assert (_rel(renamed.source.file), renamed.source.line) == ("http/deprecated/registry-deprecated.yaml", 7)
    uncategorized = reg.attribute("messaging.kafka.destination.partition")
    assert uncategorized is not None
    assert uncategorized.deprecated is not None
    assert uncategorized.deprecated.reason == "uncategorized"
    assert uncategorized.deprecated.renamed_to is None
    assert uncategorized.deprecated.note.startswith("Record string representation of the partition ID")
    obsoleted = reg.attribute("db.user")
    assert obsoleted is not None
    assert obsoleted.deprecated is not None
    assert obsoleted.deprecated.reason == "obsoleted"
    reasons = [a.deprecated.reason for a in reg.attributes.values() if a.deprecated is not None]
    assert (reasons.count("renamed"), reasons.count("uncategorized"), reasons.count("obsoleted")) == (98, 87, 22)


def test_template_attribute(semconv_result: LoadResult) -> None:
    reg = semconv_result.registry
    header = reg.attribute("http.request.header")
    assert header is not None
    assert header.type == "template[string[]]"
    assert header.is_template
    assert header.value_kind is ValueType.ARRAY
    assert header.element_kind is ValueType.STRING
    assert reg.template_for("http.request.header.content-type") is header
    assert reg.template_for("http.request.header") is None  # the bare key is not a use of the template
    assert reg.template_for("http.request.headerx.a") is None
    assert reg.attribute("http.request.header.content-type") is None
    assert reg.has_namespace("http.request.header")
    assert reg.has_namespace("http")
    assert not reg.has_namespace("http.request.method")


def test_v2_attribute_and_types(semconv_result: LoadResult) -> None:
    reg = semconv_result.registry
    tid = reg.attribute("thread.id")
    assert tid is not None
    assert (tid.type, tid.stability, tid.value_kind, tid.group_id) == ("int", "development", ValueType.INT, None)
    assert tid.source is not None
    assert (_rel(tid.source.file), tid.source.line) == ("thread/registry.yaml", 4)
    assert tid.examples == (42,)
    body = reg.attribute("http.request.body.content")
    assert body is not None
    assert body.type == "any"
    assert body.value_kind is None


def test_metric(semconv_result: LoadResult) -> None:
    reg = semconv_result.registry
    m = reg.metric("http.server.request.duration")
    assert m is not None
    assert (m.id, m.type, m.instrument, m.unit, m.stability) == (
        "metric.http.server.request.duration", "metric", "histogram", "s", "stable",
    )  # fmt: skip
    assert m.source is not None
    assert (_rel(m.source.file), m.source.line) == ("http/metrics.yaml", 41)
    method = m.attribute_ref("http.request.method")
    assert method is not None
    assert method.requirement_level == RequirementLevel("required")
    status = m.attribute_ref("http.response.status_code")
    assert status is not None
    assert status.requirement_level == RequirementLevel(
        "conditionally_required", "If and only if one was received/sent."
    )
    assert m.attribute_keys[:3] == ("http.request.method", "http.response.status_code", "error.type")


def test_v2_metric_and_refinement(semconv_result: LoadResult) -> None:
    reg = semconv_result.registry
    fan = reg.metric("hw.fan.speed")
    assert fan is not None
    assert (fan.instrument, fan.unit, fan.metric_value_type, fan.requirement_level) == (
        "gauge",
        "rpm",
        "int",
        "recommended",
    )
    assert [(r.key, r.requirement_level.level) for r in fan.attributes] == [
        ("hw.id", "required"), ("hw.name", "recommended"), ("hw.parent", "recommended"),
        ("hw.sensor_location", "recommended"),
    ]  # fmt: skip
    refinement = reg.group("metric.hw.fan.status")
    assert refinement is not None
    assert refinement.is_refinement
    assert refinement.extends == "metric.hw.status"
    assert (refinement.metric_name, refinement.instrument, refinement.unit) == ("hw.status", "updowncounter", "1")
    hw_type = refinement.attribute_ref("hw.type")
    assert hw_type is not None
    assert hw_type.note == "MUST be set to `fan`."
    assert hw_type.examples == ("fan",)
    assert hw_type.requirement_level.level == "required"  # inherited from the ref_group
    # The base metric, not the refinement, is what the name looks up.
    base = reg.metric("hw.status")
    assert base is not None
    assert base.id == "metric.hw.status"
    assert not base.is_refinement


def test_span_groups(semconv_result: LoadResult) -> None:
    reg = semconv_result.registry
    client = reg.group("span.http.client")
    assert client is not None
    assert (client.type, client.span_kind, client.stability, client.extends) == (
        "span", "client", "stable", "attributes.http.client",
    )  # fmt: skip
    method = client.attribute_ref("http.request.method")
    assert method is not None
    assert method.requirement_level.level == "required"
    assert method.sampling_relevant
    faas = reg.group("span.faas.server")
    assert faas is not None
    assert faas.span_kind == "server"
    assert faas.span_name is not None
    assert faas.span_name.startswith("Span name SHOULD be set to the function name")
    assert faas.attribute_keys[:2] == ("faas.trigger", "faas.coldstart")


def test_event_and_entity(semconv_result: LoadResult) -> None:
    reg = semconv_result.registry
    ev = reg.event("session.start")
    assert ev is not None
    assert (ev.id, ev.stability, ev.event_name) == ("event.session.start", "development", "session.start")
    assert [(r.key, r.requirement_level.level) for r in ev.attributes] == [
        ("session.id", "required"),
        ("session.previous_id", "conditionally_required"),
    ]
    host = reg.entity("host")
    assert host is not None
    assert (host.id, host.type, host.entity_type) == ("entity.host", "entity", "host")
    assert host.attribute_keys[:3] == ("host.id", "host.name", "host.type")
    gce = reg.entity("gcp.gce.instance_group_manager")
    assert gce is not None
    ref = gce.attribute_ref("gcp.gce.instance_group_manager.name")
    assert ref is not None
    assert ref.effective_role == "identifying"
    with_assoc = [g for g in reg.metrics.values() if g.entity_associations]
    assert with_assoc
    assert all(reg.entity(e) is not None for g in with_assoc for e in g.entity_associations)


def test_loading_a_directory_path_equals_builtin(semconv_result: LoadResult) -> None:
    again = load_registry([Path(builtin_registry_path("semconv"))])
    assert again.problems == ()
    assert set(again.registry.attributes) == set(semconv_result.registry.attributes)
