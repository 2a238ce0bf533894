"""One conformance suite over every registered component: the lifecycle rules of
ARCHITECTURE.md hold for each built-in type and each signal it supports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from knhk_telemetry.component import REGISTRY, ComponentConfig, CreateSettings, Factory
from knhk_telemetry.errors import ConfigError
from knhk_telemetry.model.batch import BATCH_TYPES, Batch

#: the least a type needs beyond its defaults (paths point into the test's tmp dir)
REQUIRED: dict[str, dict[str, Any]] = {
    "parquet": {"path": "{tmp}/pq"},
    "file": {"path": "{tmp}/out.jsonl"},
    "otlpjsonfile": {"include": ["{tmp}/in/*.jsonl"]},
    "cep": {"rules": [{"id": "r", "pattern": "count_threshold", "params": {"match": {}, "count": 2, "within": 60}}]},
    "otlp": {"protocols": {"grpc": {"endpoint": "127.0.0.1:0"}, "http": {"endpoint": "127.0.0.1:0"}}},
}

FACTORIES = sorted(REGISTRY.all(), key=lambda f: (f.kind, f.type))


def _fill(value: Any, tmp: Path) -> Any:
    if isinstance(value, str):
        return value.format(tmp=tmp)
    if isinstance(value, dict):
        return {k: _fill(v, tmp) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, tmp) for v in value]
    return value


def _config(factory: Factory, tmp: Path) -> ComponentConfig:
    raw = _fill(REQUIRED.get(factory.type, {}), tmp)
    cfg = factory.config_class(**raw)
    cfg.validate_config(f"{factory.kind}s.{factory.type}")
    return cfg


def test_every_builtin_is_registered() -> None:
    assert {(f.kind, f.type) for f in FACTORIES} >= {
        ("receiver", "otlpjsonfile"),
        ("processor", "batch"),
        ("exporter", "nop"),
        ("exporter", "debug"),
        ("exporter", "file"),
        ("exporter", "parquet"),
    }


@pytest.mark.parametrize("factory", FACTORIES, ids=lambda f: f"{f.kind}/{f.type}")
def test_defaults_are_frozen_and_refuse_unknown_keys(factory: Factory) -> None:
    if factory.type not in REQUIRED:
        cfg = factory.default_config()
        with pytest.raises((TypeError, ValueError)):
            cfg.nope = 1  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="nope"):
        factory.config_class(nope=1)


@pytest.mark.parametrize("factory", FACTORIES, ids=lambda f: f"{f.kind}/{f.type}")
def test_lifecycle_for_every_signal(factory: Factory, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    assert factory.signals(), "a factory must support at least one signal"
    received: list[Batch] = []
    for signal in factory.signals():
        settings = CreateSettings(f"{factory.type}/conformance", signal, lambda b: received.append(b) or len(b))
        cfg = _config(factory, tmp_path)
        # shutdown without start is safe
        factory.create(signal, settings, cfg).shutdown()
        component = factory.create(signal, settings, cfg)
        component.start()
        component.start()  # idempotent
        if factory.kind in ("exporter", "connector"):
            component.consume(BATCH_TYPES[signal].empty())  # an empty batch is fine
        if factory.kind == "processor":
            process = component.process  # type: ignore[attr-defined]
            out = process(BATCH_TYPES[signal].empty())
            assert out is None or len(out) == 0
        component.shutdown()
        component.shutdown()  # idempotent
        for sample in component.self_metrics():
            name, typ, _help, labels, value = sample
            assert name.startswith("knhk_telemetry_"), name
            assert typ in ("counter", "gauge", "summary", "histogram")
            assert isinstance(labels, dict)
            assert isinstance(value, float | int)
    assert all(len(b) == 0 for b in received)


def test_unsupported_signal_is_a_config_error() -> None:
    from knhk_telemetry.component import Component

    only_traces = Factory(
        type="traces_only",
        kind="exporter",
        config_class=ComponentConfig,
        creators={"traces": lambda settings, cfg: Component(settings.component_id)},
    )
    with pytest.raises(
        ConfigError, match="exporter type 'traces_only' does not support logs \\(it supports: traces\\)"
    ):
        only_traces.create("logs", CreateSettings("x", "logs"), ComponentConfig())
