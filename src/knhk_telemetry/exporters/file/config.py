"""Config of the ``file`` exporter (the OpenTelemetry Collector's file exporter, JSON format)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from knhk_telemetry.component import ComponentConfig
from knhk_telemetry.config import Duration
from knhk_telemetry.errors import ConfigError

MEGABYTE = 1024 * 1024


class RotationConfig(ComponentConfig):
    """When the current file is moved aside (as ``name-<timestamp>.ext``) and which old ones stay."""

    #: size in MiB (1 MiB = 1,048,576 bytes) a file may reach before a new one is started;
    #: fractions are allowed (0.001 ≈ 1 KiB); compressed files count their compressed bytes
    max_megabytes: float = Field(100.0, gt=0)
    #: days an old file is kept, judged by the timestamp in its name; 0 keeps them regardless of age
    max_days: int = Field(0, ge=0)
    #: old files kept, newest first; 0 keeps all
    max_backups: int = Field(100, ge=0)
    #: timestamps in backup names in local time instead of UTC
    localtime: bool = False

    @property
    def max_bytes(self) -> int:
        return max(1, int(self.max_megabytes * MEGABYTE))


class FileExporterConfig(ComponentConfig):
    """Where and how OTLP/JSON lines are written."""

    #: the file every signal is written to, unless a per-signal path below is set; required
    #: unless all three per-signal paths are set. Missing directories are created.
    path: str = ""
    #: per-signal files; None writes that signal to ``path``
    traces_path: str | None = None
    metrics_path: str | None = None
    logs_path: str | None = None
    #: keep what the file holds at start (true) or truncate it (false), as in the Collector
    append: bool = False
    #: None never rotates
    rotation: RotationConfig | None = None
    #: one OTLP/JSON ``Export*ServiceRequest`` per line; the only format so far
    format: Literal["json"] = "json"
    #: ``gzip``/``zstd``: the file is one compressed stream of the JSON lines (readable by
    #: ``gzip -d``/``zstd -d``); name it ``*.gz``/``*.zst``, the path is used as given
    compression: Literal["none", "gzip", "zstd"] = "none"
    #: how often buffered lines are flushed to the file; 0 flushes after every batch
    flush_interval: Duration = Field(1.0, ge=0)

    def path_for(self, signal: str) -> str:
        """The configured file of a signal ('' when none)."""
        own: str | None = getattr(self, f"{signal}_path", None)
        return own or self.path

    def validate_config(self, path: str) -> None:
        if not self.path and not (self.traces_path and self.metrics_path and self.logs_path):
            raise ConfigError(
                "is required (the file to write OTLP/JSON lines to), unless traces_path, metrics_path "
                "and logs_path are all set",
                path=f"{path}.path",
            )
        for name in ("path", "traces_path", "metrics_path", "logs_path"):
            value: str | None = getattr(self, name)
            if value and value.endswith(("/", "\\")):
                raise ConfigError(f"{value!r} names a directory, not a file", path=f"{path}.{name}")
