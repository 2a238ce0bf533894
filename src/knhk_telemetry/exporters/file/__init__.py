"""The ``file`` exporter (OTLP/JSON lines, rotation, compression) and the reader of its files."""

from knhk_telemetry.exporters.file.config import FileExporterConfig, RotationConfig
from knhk_telemetry.exporters.file.exporter import FileExporter
from knhk_telemetry.exporters.file.factory import FACTORY
from knhk_telemetry.exporters.file.lines import detect_signal, read_otlp_json_lines

__all__ = [
    "FACTORY",
    "FileExporter",
    "FileExporterConfig",
    "RotationConfig",
    "detect_signal",
    "read_otlp_json_lines",
]
