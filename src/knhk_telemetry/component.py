"""The component contract, as in the OpenTelemetry Collector.

A component is three things side by side:

- a **config**: a frozen pydantic model (``ComponentConfig``) whose unknown keys and wrong
  types are errors; ``validate_config()`` adds cross-field rules, raising ``ConfigError``;
- a **factory** (:class:`Factory`) registered under a snake_case type name with its kind,
  config class and one ``create`` callable per signal it supports;
- the **component**: ``start()`` (returns fast), ``shutdown()`` (idempotent, safe without
  start, flushes: nothing accepted is lost) and ``consume_spans/metrics/logs(batch)`` for the
  signals it handles.

Third-party packages add factories through the ``knhk_telemetry.components`` entry point
group (each entry point names a :class:`Factory`).
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from knhk_telemetry.errors import ConfigError
from knhk_telemetry.model.batch import Batch, LogBatch, MetricBatch, SpanBatch

Signal = Literal["traces", "metrics", "logs"]
Kind = Literal["receiver", "processor", "exporter", "connector"]
SIGNALS: tuple[Signal, ...] = ("traces", "metrics", "logs")
ENTRY_POINT_GROUP = "knhk_telemetry.components"


class ComponentConfig(BaseModel):
    """Base of every component config: frozen, keyword-only, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, validate_default=True)

    def validate_config(self, path: str) -> None:
        """Cross-field checks; raise ``ConfigError(path=...)``. Field types are checked already."""


class Component:
    """Lifecycle shared by every component; subclasses override what they need."""

    #: whether consume_* changes the batch it is given (the graph copies at a fan-out only then)
    MUTATES: ClassVar[bool] = False

    def __init__(self, component_id: str) -> None:
        self.component_id = component_id
        self._lock = threading.Lock()
        self._started = False
        self._shut_down = False

    def start(self) -> None:
        with self._lock:
            if self._started or self._shut_down:
                return
            self._started = True
        self._start()

    def shutdown(self) -> None:
        with self._lock:
            if self._shut_down:
                return
            self._shut_down = True
        self._shutdown()

    def _start(self) -> None:
        """Begin work (override); return fast, run long work in a background thread."""

    def _shutdown(self) -> None:
        """Flush and release resources (override); called at most once."""

    def attach(self, settings: CreateSettings) -> None:
        """This (shared) instance also serves ``settings.signal``: the service calls it, instead
        of the factory, for every signal after the first. A receiver registers the signal's
        ``next_consumer``; most exporters need nothing."""

    def consume(self, batch: Batch) -> None:
        """Dispatch a batch to the per-signal method."""
        if isinstance(batch, SpanBatch):
            self.consume_spans(batch)
        elif isinstance(batch, MetricBatch):
            self.consume_metrics(batch)
        elif isinstance(batch, LogBatch):
            self.consume_logs(batch)
        else:
            raise TypeError(f"not a batch: {type(batch).__name__}")

    def consume_spans(self, batch: SpanBatch) -> None:
        raise NotImplementedError(f"{self.component_id} does not handle traces")

    def consume_metrics(self, batch: MetricBatch) -> None:
        raise NotImplementedError(f"{self.component_id} does not handle metrics")

    def consume_logs(self, batch: LogBatch) -> None:
        raise NotImplementedError(f"{self.component_id} does not handle logs")

    def self_metrics(self) -> Iterable[tuple[str, str, str, dict[str, str], float]]:
        """``(name, type, help, labels, value)`` of this component's self-metrics."""
        return ()


@dataclass(frozen=True, slots=True)
class CreateSettings:
    """What a factory gets besides the config: the instance id and the signal it serves."""

    component_id: str
    signal: Signal
    #: receivers push here; processors/connectors emit here (set by the graph)
    next_consumer: Callable[[Batch], object] | None = None


Creator = Callable[[CreateSettings, Any], Component]


@dataclass(frozen=True, slots=True)
class Factory:
    """How to make one type of component (``type`` is the YAML name, e.g. ``parquet``)."""

    type: str
    kind: Kind
    config_class: builtins.type[ComponentConfig]
    creators: dict[Signal, Creator] = field(default_factory=dict)
    #: one instance per id, shared by every pipeline and signal that names it (receivers that
    #: own a port, exporters that own a file), as the Collector's sharedcomponent: the service
    #: creates it once and calls ``Component.attach`` for each further signal
    shared: bool = False
    #: connectors only: the (input signal, output signal) pairs it joins, e.g.
    #: ``(("traces", "metrics"),)``; ``creators`` is keyed by the input signal and the
    #: component emits the output signal through ``CreateSettings.next_consumer``
    connects: tuple[tuple[Signal, Signal], ...] = ()

    def default_config(self) -> ComponentConfig:
        return self.config_class()

    def signals(self) -> tuple[Signal, ...]:
        return tuple(s for s in SIGNALS if s in self.creators)

    def create(self, signal: Signal, settings: CreateSettings, config: ComponentConfig) -> Component:
        try:
            creator = self.creators[signal]
        except KeyError:
            raise ConfigError(
                f"{self.kind} type {self.type!r} does not support {signal} (it supports: {', '.join(self.signals())})",
            ) from None
        return creator(settings, config)


class Registry:
    """Factories by kind and type; built-ins register at import, plugins via entry points."""

    def __init__(self, *, builtins: bool = False) -> None:
        """``builtins=True``: the shipped components are registered on first look-up."""
        self._factories: dict[tuple[Kind, str], Factory] = {}
        self._plugins_loaded = not builtins

    def register(self, factory: Factory) -> Factory:
        key = (factory.kind, factory.type)
        existing = self._factories.get(key)
        if existing is not None and existing is not factory:
            raise ValueError(f"{factory.kind} type {factory.type!r} is registered twice")
        self._factories[key] = factory
        return factory

    def get(self, kind: Kind, type_name: str) -> Factory | None:
        self._load_plugins()
        return self._factories.get((kind, type_name))

    def types(self, kind: Kind) -> list[str]:
        self._load_plugins()
        return sorted(t for k, t in self._factories if k == kind)

    def all(self) -> list[Factory]:
        self._load_plugins()
        return list(self._factories.values())

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        from knhk_telemetry.builtin import register_builtins

        register_builtins(self)
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            factory = ep.load()
            if not isinstance(factory, Factory):
                raise TypeError(f"entry point {ep.name!r} ({ep.value}) is not a knhk_telemetry Factory")
            self.register(factory)


#: The process-wide registry that configs resolve component types in.
REGISTRY = Registry(builtins=True)
