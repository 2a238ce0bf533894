"""Settings of the ``parquet`` exporter."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from knhk_telemetry.component import ComponentConfig
from knhk_telemetry.config import Duration
from knhk_telemetry.errors import ConfigError

Partitioning = Literal["hour", "date", "none"]
Compression = Literal["zstd", "snappy", "gzip", "none"]


class ParquetConfig(ComponentConfig):
    """Where and how the ``parquet`` exporter writes.

    Files land in ``<path>/<signal>/date=YYYY-MM-DD/hour=HH/part-<uuid>.parquet`` (hive
    style, UTC, from each item's time: span end, point time, log time), so DuckDB
    (``hive_partitioning=true``) and polars (``hive_partitioning=True``) read the
    partition values as columns.
    """

    #: directory to write into (created if missing); required
    path: str = ""
    #: "hour": <signal>/date=…/hour=…; "date": <signal>/date=…; "none": <signal>/ only
    partitioning: Partitioning = "hour"
    compression: Compression = "zstd"
    #: codec level (zstd 1-22, gzip 1-9); None: the codec's default
    compression_level: int | None = None
    #: rows per Parquet row group; buffered rows are written once a partition has this many
    row_group_size: int = Field(default=65_536, ge=1)
    #: rows after which a file is closed and the next one begun; 0: no limit
    max_rows_per_file: int = Field(default=1_000_000, ge=0)
    #: seconds between background flushes of buffered rows (as a smaller row group); 0: none,
    #: rows are written only when a row group fills and at shutdown
    flush_interval: Duration = Field(default=10.0, ge=0)
    #: seconds after which an open file is closed at the next flush, making it visible to
    #: readers and bounding open files as partitions move on; 0: only at max rows or shutdown
    max_file_age: Duration = Field(default=600.0, ge=0)

    def validate_config(self, path: str) -> None:
        if not self.path:
            raise ConfigError("is required: the directory to write Parquet files into", path=f"{path}.path")
        if self.compression_level is not None and self.compression in ("snappy", "none"):
            raise ConfigError(f"compression {self.compression!r} takes no level", path=f"{path}.compression_level")
