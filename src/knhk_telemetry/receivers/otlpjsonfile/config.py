"""Config of the ``otlpjsonfile`` receiver (as the Collector-contrib otlpjsonfilereceiver)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from knhk_telemetry.component import ComponentConfig
from knhk_telemetry.config import Duration
from knhk_telemetry.errors import ConfigError


class OtlpJsonFileConfig(ComponentConfig):
    """Which files are tailed and how."""

    #: glob patterns of the files to read (``**`` matches directories recursively); files that
    #: appear later are picked up at the next poll
    include: tuple[str, ...] = ()
    #: glob patterns of files not to read, even when ``include`` matches them
    exclude: tuple[str, ...] = ()
    #: where to start in files found at the first poll: ``beginning`` reads what they hold,
    #: ``end`` only what is appended later; files found later are always read from the start
    start_at: Literal["beginning", "end"] = "beginning"
    #: how often the globs are matched again and the files read
    poll_interval: Duration = Field(0.2, ge=0)
    #: a line longer than this many bytes (uncompressed) is refused and skipped; 0: no limit
    max_line_bytes: int = Field(64 * 1024 * 1024, ge=0)

    def validate_config(self, path: str) -> None:
        if not self.include:
            raise ConfigError("needs at least one glob pattern of files to read", path=f"{path}.include")
        for i, pattern in enumerate((*self.include, *self.exclude)):
            if not pattern.strip():
                key = "include" if i < len(self.include) else "exclude"
                raise ConfigError("holds an empty pattern", path=f"{path}.{key}")
        if self.poll_interval <= 0:
            raise ConfigError("must be greater than 0", path=f"{path}.poll_interval")
