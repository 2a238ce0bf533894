"""Factory of the ``file`` exporter: one shared instance per component id.

The factory is ``shared``: the service creates the exporter for the first signal a pipeline
sends to ``file/<name>`` and attaches the others to it, so all signals and pipelines write
through the one writer and lock per file.
"""

from __future__ import annotations

from typing import Any

from knhk_telemetry.component import Component, CreateSettings, Factory
from knhk_telemetry.exporters.file.config import FileExporterConfig
from knhk_telemetry.exporters.file.exporter import FileExporter


def _create(settings: CreateSettings, config: Any) -> Component:
    assert isinstance(config, FileExporterConfig)
    exporter = FileExporter(settings.component_id, config)
    exporter.attach(settings)
    return exporter


FACTORY = Factory(
    type="file",
    kind="exporter",
    config_class=FileExporterConfig,
    creators={"traces": _create, "metrics": _create, "logs": _create},
    shared=True,
)
