"""The registry: built-ins on first look-up, third-party components through entry points."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from knhk_telemetry import component
from knhk_telemetry.component import Component, ComponentConfig, Factory, Registry


@dataclass
class FakeEntryPoint:
    name: str
    value: str
    target: Any

    def load(self) -> Any:
        return self.target


def _plugin(type_name: str) -> Factory:
    return Factory(type_name, "exporter", ComponentConfig, {"traces": lambda s, c: Component(s.component_id)})


def test_entry_points_add_components_beside_the_builtins(monkeypatch: pytest.MonkeyPatch) -> None:
    seen_groups: list[str] = []

    def entry_points(*, group: str) -> list[FakeEntryPoint]:
        seen_groups.append(group)
        return [FakeEntryPoint("kafka", "acme_otel:FACTORY", _plugin("kafka"))]

    monkeypatch.setattr(component, "entry_points", entry_points)
    registry = Registry(builtins=True)
    assert "kafka" in registry.types("exporter")
    assert {"nop", "file", "parquet", "debug"} <= set(registry.types("exporter"))
    assert seen_groups == ["knhk_telemetry.components"]
    factory = registry.get("exporter", "kafka")
    assert factory is not None
    assert factory.signals() == ("traces",)


def test_an_entry_point_that_is_not_a_factory_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(component, "entry_points", lambda *, group: [FakeEntryPoint("broken", "acme:thing", object())])
    with pytest.raises(TypeError, match=r"entry point 'broken' \(acme:thing\) is not a knhk_telemetry Factory"):
        Registry(builtins=True).types("exporter")


def test_a_plugin_cannot_shadow_a_builtin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(component, "entry_points", lambda *, group: [FakeEntryPoint("nop", "x:y", _plugin("nop"))])
    with pytest.raises(ValueError, match="exporter type 'nop' is registered twice"):
        Registry(builtins=True).types("exporter")
