"""Factory of the ``parquet`` exporter: one shared instance per id serves all three signals."""

from __future__ import annotations

from knhk_telemetry.component import CreateSettings, Factory
from knhk_telemetry.exporters.parquet.config import ParquetConfig
from knhk_telemetry.exporters.parquet.exporter import ParquetExporter


def _create(settings: CreateSettings, config: ParquetConfig) -> ParquetExporter:
    return ParquetExporter(settings.component_id, config)


#: registered in ``REGISTRY`` by whoever wires the built-in components; ``shared`` because
#: one writer per directory keeps files and row groups large and buffers in one place
FACTORY = Factory(
    type="parquet",
    kind="exporter",
    config_class=ParquetConfig,
    creators={"traces": _create, "metrics": _create, "logs": _create},
    shared=True,
)
