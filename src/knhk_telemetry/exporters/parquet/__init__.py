"""The ``parquet`` exporter: partitioned Parquet files for DuckDB, polars and friends.

Example::

    exporters:
      parquet:
        path: /var/lib/telemetry
        partitioning: hour        # <path>/traces/date=2024-01-02/hour=03/part-<uuid>.parquet
        compression: zstd

and then ``duckdb.sql("select service_name, count(*) from read_parquet('/var/lib/telemetry/
traces/**/*.parquet', hive_partitioning=true) group by all")``.
"""

from knhk_telemetry.exporters.parquet.config import ParquetConfig
from knhk_telemetry.exporters.parquet.exporter import ParquetExporter
from knhk_telemetry.exporters.parquet.factory import FACTORY

__all__ = ["FACTORY", "ParquetConfig", "ParquetExporter"]
