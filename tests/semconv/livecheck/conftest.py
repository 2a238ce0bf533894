"""A small hand-built registry with one definition per live-check rule, and batch helpers."""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import pytest

from knhk_telemetry.semconv.livecheck import BatchFindings, Finding
from knhk_telemetry.semconv.model import (
    Attribute,
    AttributeRef,
    Deprecation,
    EnumMember,
    EnumType,
    Group,
    Registry,
    RequirementLevel,
)


def _attr(key: str, t: Any, stability: str | None = "stable", **kw: Any) -> Attribute:
    return Attribute(key, t, stability=stability, **kw)


def _ref(a: Attribute, level: str) -> AttributeRef:
    return AttributeRef(a.key, a, RequirementLevel(level))  # type: ignore[arg-type]


def build_registry() -> Registry:
    method = _attr("http.request.method", EnumType((EnumMember("get", "GET"), EnumMember("post", "POST"))))
    route = _attr("http.route", "string")
    port = _attr("server.port", "int")
    ratio = _attr("test.ratio", "double")
    level = _attr("test.level", EnumType((EnumMember("one", 1), EnumMember("two", 2))))
    header = _attr("http.request.header", "template[string[]]")
    attrs = [
        method,
        route,
        port,
        ratio,
        level,
        header,
        _attr("http.method", "string", "development", deprecated=Deprecation("renamed", "http.request.method")),
        _attr("test.old", "string", deprecated=Deprecation("obsoleted")),
        _attr("test.experimental", "string", "development"),
        _attr("test.tags", "string[]"),
        _attr("otel.span.type", "string"),
        _attr("service.name", "string"),
        _attr("service.version", "string"),
        _attr("service.instance.id", "string"),
        _attr("service.namespace", "string"),
        _attr("host.name", "string"),
    ]
    by_key = {a.key: a for a in attrs}
    span = Group(
        "span.test.server",
        "span",
        span_kind="server",
        attributes=(
            _ref(method, "required"),
            _ref(route, "recommended"),
            _ref(port, "opt_in"),
            _ref(ratio, "conditionally_required"),
            _ref(header, "opt_in"),
        ),
    )
    duration = Group(
        "metric.test.duration",
        "metric",
        stability="development",
        metric_name="test.duration",
        instrument="histogram",
        unit="s",
        attributes=(_ref(method, "required"), _ref(route, "recommended")),
        entity_associations=("service",),
    )
    count = Group(
        "metric.test.count", "metric", stability="stable", metric_name="test.count", instrument="counter", unit="1"
    )
    old = Group(
        "metric.test.old",
        "metric",
        stability="stable",
        metric_name="test.old",
        instrument="gauge",
        unit="1",
        deprecated=Deprecation("renamed", "test.count"),
    )
    started = Group(
        "event.test.started",
        "event",
        stability="development",
        event_name="test.started",
        attributes=(_ref(port, "required"),),
        entity_associations=("service", "host"),
    )
    service = Group(
        "entity.service",
        "entity",
        entity_type="service",
        attributes=(
            _ref(by_key["service.name"], "required"),
            _ref(by_key["service.version"], "recommended"),
            _ref(by_key["service.instance.id"], "opt_in"),
            _ref(by_key["service.namespace"], "conditionally_required"),
        ),
    )
    host = Group("entity.host", "entity", entity_type="host", attributes=(_ref(by_key["host.name"], "required"),))
    groups = {g.id: g for g in (span, duration, count, old, started, service, host)}
    return Registry(
        attributes=MappingProxyType(by_key),
        templates=(header,),
        groups=MappingProxyType(groups),
        metrics=MappingProxyType({"test.duration": duration, "test.count": count, "test.old": old}),
        events=MappingProxyType({"test.started": started}),
        entities=MappingProxyType({"service": service, "host": host}),
    )


@pytest.fixture(scope="session")
def registry() -> Registry:
    return build_registry()


def listed(findings: BatchFindings) -> list[tuple[str, int, Finding]]:
    """Every finding as (table, row, finding), tables in the checker's order."""
    return [
        (name, i, findings.findings[int(c)])
        for name, codes in findings.tables.items()
        for i in range(len(codes))
        for c in codes.row(i)
    ]


@pytest.fixture
def findings_of() -> Callable[[BatchFindings], list[tuple[str, int, Finding]]]:
    return listed


@pytest.fixture
def ids_of() -> Callable[[BatchFindings], list[tuple[str, int, str]]]:
    return lambda f: [(t, i, x.id) for t, i, x in listed(f)]


@pytest.fixture
def check(registry: Registry) -> Callable[..., BatchFindings]:
    """``check(batch, **checker_options)`` against the small registry."""
    from knhk_telemetry.semconv.livecheck import LiveChecker

    return lambda batch, **kw: LiveChecker(registry, **kw).check(batch)
