"""Factory of the ``file`` exporter: one shared instance per component id.

The service calls the creator once per signal that a pipeline sends to ``file/<name>``; every
call returns the same :class:`FileExporter` (while it is alive and its config unchanged), so
all signals and pipelines write through the one writer and lock per file.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from knhk_telemetry.component import Component, CreateSettings, Factory
from knhk_telemetry.exporters.file.config import FileExporterConfig
from knhk_telemetry.exporters.file.exporter import FileExporter

_instances: weakref.WeakValueDictionary[str, FileExporter] = weakref.WeakValueDictionary()
_instances_lock = threading.Lock()


def _create(settings: CreateSettings, config: Any) -> Component:
    assert isinstance(config, FileExporterConfig)
    with _instances_lock:
        exporter = _instances.get(settings.component_id)
        if exporter is None or exporter.is_shut_down or exporter.config != config:
            exporter = FileExporter(settings.component_id, config)
            _instances[settings.component_id] = exporter
        exporter.serve(settings.signal)
        return exporter


FACTORY = Factory(
    type="file",
    kind="exporter",
    config_class=FileExporterConfig,
    creators={"traces": _create, "metrics": _create, "logs": _create},
    shared=True,
)
