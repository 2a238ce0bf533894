"""The components that ship with knhk-telemetry, registered in the global registry.

Imported lazily by :data:`knhk_telemetry.component.REGISTRY` on first look-up, so importing
the package stays cheap and a plugin can never shadow a built-in type by import order.
"""

from __future__ import annotations

from importlib import import_module

from knhk_telemetry.component import Factory, Registry

#: module paths, each with a module-level ``FACTORY``
BUILTIN_MODULES = (
    "knhk_telemetry.receivers.otlp.factory",
    "knhk_telemetry.receivers.otlpjsonfile.factory",
    "knhk_telemetry.processors.batch",
    "knhk_telemetry.processors.semconv",
    "knhk_telemetry.exporters.nop",
    "knhk_telemetry.exporters.debug",
    "knhk_telemetry.exporters.file.factory",
    "knhk_telemetry.exporters.parquet.factory",
    "knhk_telemetry.connectors.spanmetrics.factory",
    "knhk_telemetry.connectors.cep.factory",
)


def builtin_factories() -> list[Factory]:
    return [import_module(name).FACTORY for name in BUILTIN_MODULES]


def register_builtins(registry: Registry) -> None:
    for factory in builtin_factories():
        registry.register(factory)
