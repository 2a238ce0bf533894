"""The ``parquet`` exporter: spans, data points and log records as partitioned Parquet files.

Each batch is flattened (one row per item, :mod:`.flatten`) and split by partition
(signal, then UTC date/hour of each item's time). Rows are buffered per partition and
written as row groups of ``row_group_size`` into ``part-<uuid>.parquet.tmp``; a file is
renamed to ``.parquet`` when it holds ``max_rows_per_file`` rows, when it is older than
``max_file_age`` at a background flush, or at shutdown. Readers globbing ``*.parquet``
therefore only ever see complete files, and ``shutdown()`` writes everything accepted.

One instance serves every pipeline that names it (the factory is ``shared``): the
pipelines' worker threads and the background flusher meet at one lock. Flattening runs
outside it; only buffering and file I/O are serialised.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from knhk_telemetry.component import SIGNALS, Component, Signal
from knhk_telemetry.errors import ExportError, PipelineClosedError
from knhk_telemetry.exporters.parquet.config import ParquetConfig
from knhk_telemetry.exporters.parquet.flatten import ROW_SCHEMAS, flatten, item_times
from knhk_telemetry.model.batch import Batch, LogBatch, MetricBatch, SpanBatch

logger = logging.getLogger("knhk_telemetry.exporters.parquet")

_NS_PER_S = 1_000_000_000
_PARTITION_SECONDS = {"hour": 3600, "date": 86_400}


@dataclass(slots=True)
class _Partition:
    """Rows waiting for one partition directory and the file open in it."""

    signal: Signal
    directory: Path
    pending: list[pa.Table] = field(default_factory=list)
    pending_rows: int = 0
    writer: pq.ParquetWriter | None = None
    tmp: Path | None = None
    final: Path | None = None
    file_rows: int = 0
    opened_at: float = 0.0

    def take_pending(self, n: int) -> pa.Table:
        """Remove and return the first ``n`` pending rows."""
        table = self.pending[0] if len(self.pending) == 1 else pa.concat_tables(self.pending)
        rest = table.slice(n)
        self.pending = [rest] if rest.num_rows else []
        self.pending_rows -= n
        return table.slice(0, n)

    def put_back(self, rows: pa.Table) -> None:
        self.pending.insert(0, rows)
        self.pending_rows += rows.num_rows


@dataclass(slots=True)
class _Counts:
    """Self-metric counters of one signal."""

    written_rows: int = 0
    files: int = 0
    bytes: int = 0
    lost_rows: int = 0


class ParquetExporter(Component):
    """Writes every signal it is given under ``config.path``; see the module docstring."""

    def __init__(
        self, component_id: str, config: ParquetConfig, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(component_id)
        config.validate_config(f"exporters.{component_id}")
        self.config = config
        self.root = Path(config.path)
        self._clock = clock
        self._state = threading.Lock()  # partitions, counters, _closed
        self._partitions: dict[Path, _Partition] = {}
        self._counts: dict[Signal, _Counts] = {s: _Counts() for s in SIGNALS}
        self._write_errors = 0
        self._closed = False
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def _start(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExportError(f"parquet exporter {self.component_id}: cannot create {self.root}: {exc}") from exc
        if self.config.flush_interval > 0:
            self._flusher = threading.Thread(
                target=self._flush_loop, name=f"knhk-parquet-{self.component_id}", daemon=True
            )
            self._flusher.start()

    def _shutdown(self) -> None:
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join()
        with self._state:
            self._closed = True
            self._flush_locked(close_files=True)

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.config.flush_interval):
            try:
                self.tick()
            except ExportError as exc:  # counted in _write/_close; retried at the next tick
                logger.warning("%s", exc)

    # -- consuming ----------------------------------------------------------------------------
    def consume_spans(self, batch: SpanBatch) -> None:
        self._accept("traces", batch)

    def consume_metrics(self, batch: MetricBatch) -> None:
        self._accept("metrics", batch)

    def consume_logs(self, batch: LogBatch) -> None:
        self._accept("logs", batch)

    def _accept(self, signal: Signal, batch: Batch) -> None:
        """Buffer the batch's rows; write the row groups that filled up.

        A write error raises :class:`ExportError` after the rows are buffered: they are kept
        and retried at the next flush, so the caller must not send the batch again.
        """
        if self._closed:
            raise PipelineClosedError(f"parquet exporter {self.component_id} is shut down")
        if len(batch) == 0:
            return
        rows = flatten(batch)
        parts = self._split(signal, rows, item_times(rows, signal))
        with self._state:
            if self._closed:
                raise PipelineClosedError(f"parquet exporter {self.component_id} is shut down")
            errors: list[ExportError] = []
            for directory, table in parts:
                part = self._partitions.get(directory)
                if part is None:
                    part = self._partitions[directory] = _Partition(signal, directory)
                part.pending.append(table)
                part.pending_rows += table.num_rows
                try:
                    self._drain(part, force=False)
                except ExportError as exc:
                    errors.append(exc)
        if errors:
            raise errors[0]

    def _split(self, signal: Signal, rows: pa.Table, times: np.ndarray[Any, Any]) -> list[tuple[Path, pa.Table]]:
        """Rows grouped by partition directory (one vectorised sort; a loop per partition)."""
        base = self.root / signal
        seconds = _PARTITION_SECONDS.get(self.config.partitioning)
        if seconds is None:
            return [(base, rows)]
        buckets = times // (seconds * _NS_PER_S)
        keys, inverse = np.unique(buckets, return_inverse=True)
        if len(keys) == 1:
            return [(self._directory(base, int(keys[0]), seconds), rows)]
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(keys) + 1))
        ordered = rows.take(pa.array(order))
        return [
            (self._directory(base, int(key), seconds), ordered.slice(int(lo), int(hi - lo)))
            for key, lo, hi in zip(keys, bounds[:-1], bounds[1:], strict=True)
        ]

    @staticmethod
    def _directory(base: Path, bucket: int, seconds: int) -> Path:
        moment = datetime.fromtimestamp(bucket * seconds, UTC)
        directory = base / f"date={moment:%Y-%m-%d}"
        return directory / f"hour={moment:%H}" if seconds == 3600 else directory

    # -- flushing -----------------------------------------------------------------------------
    def flush(self, *, close_files: bool = False) -> None:
        """Write every buffered row now; with ``close_files`` also complete every open file.

        Raises the first :class:`ExportError` met after trying every partition.
        """
        with self._state:
            self._flush_locked(close_files=close_files)

    def tick(self) -> None:
        """What the background flusher does every ``flush_interval``: write buffered rows and
        complete the files older than ``max_file_age``."""
        with self._state:
            self._flush_locked(close_files=False, max_age=self.config.max_file_age or None)

    def _flush_locked(self, *, close_files: bool, max_age: float | None = None) -> None:
        errors: list[ExportError] = []
        now = self._clock()
        for part in list(self._partitions.values()):
            try:
                self._drain(part, force=True)
                too_old = max_age is not None and now - part.opened_at >= max_age
                if part.writer is not None and (close_files or too_old):
                    self._close(part)
            except ExportError as exc:
                errors.append(exc)
            if part.writer is None and not part.pending_rows:
                del self._partitions[part.directory]
        if errors:
            raise errors[0]

    def _drain(self, part: _Partition, *, force: bool) -> None:
        """Write full row groups (all pending rows if ``force``); close files that are full."""
        max_rows = self.config.max_rows_per_file
        while part.pending_rows:
            capacity = max_rows - part.file_rows if max_rows else part.pending_rows
            group = min(self.config.row_group_size, capacity)
            if part.pending_rows < group and not force:
                return
            self._write(part, part.take_pending(min(group, part.pending_rows)))
            if max_rows and part.file_rows >= max_rows:
                self._close(part)

    def _write(self, part: _Partition, rows: pa.Table) -> None:
        try:
            if part.writer is None:
                part.directory.mkdir(parents=True, exist_ok=True)
                name = f"part-{uuid.uuid4().hex}.parquet"
                part.final = part.directory / name
                part.tmp = part.directory / f"{name}.tmp"
                part.writer = pq.ParquetWriter(
                    str(part.tmp),
                    ROW_SCHEMAS[part.signal],
                    compression=self.config.compression,
                    compression_level=self.config.compression_level,
                )
                part.opened_at = self._clock()
            part.writer.write_table(rows, row_group_size=rows.num_rows)
        except (OSError, pa.ArrowException) as exc:
            target = part.tmp or part.directory
            part.put_back(rows)
            self._write_errors += 1
            self._abandon(part)
            raise ExportError(f"parquet exporter {self.component_id}: cannot write {target}: {exc}") from exc
        part.file_rows += rows.num_rows
        self._counts[part.signal].written_rows += rows.num_rows

    def _close(self, part: _Partition) -> None:
        """Complete the open file: footer, then rename ``.tmp`` away (atomic for readers)."""
        assert part.writer is not None
        assert part.tmp is not None
        assert part.final is not None
        writer, tmp, final, rows = part.writer, part.tmp, part.final, part.file_rows
        self._reset(part)
        try:
            writer.close()
            os.replace(tmp, final)
            size = final.stat().st_size
        except (OSError, pa.ArrowException) as exc:
            self._write_errors += 1
            self._counts[part.signal].lost_rows += rows
            with suppress(OSError):
                tmp.unlink()
            raise ExportError(f"parquet exporter {self.component_id}: cannot complete {final}: {exc}") from exc
        counts = self._counts[part.signal]
        counts.files += 1
        counts.bytes += size

    def _abandon(self, part: _Partition) -> None:
        """After a failed write: keep what the open file holds if it can still be completed."""
        if part.writer is None:
            return
        try:
            self._close(part)
        except ExportError as exc:
            logger.warning("%s", exc)

    @staticmethod
    def _reset(part: _Partition) -> None:
        part.writer = part.tmp = part.final = None
        part.file_rows = 0

    # -- self-metrics -------------------------------------------------------------------------
    def self_metrics(self) -> Iterable[tuple[str, str, str, dict[str, str], float]]:
        with self._state:
            counts = {s: _Counts(c.written_rows, c.files, c.bytes, c.lost_rows) for s, c in self._counts.items()}
            pending = dict.fromkeys(SIGNALS, 0)
            for part in self._partitions.values():
                pending[part.signal] += part.pending_rows
            open_files = sum(part.writer is not None for part in self._partitions.values())
            errors = self._write_errors
        exporter = {"exporter": self.component_id}
        for signal in SIGNALS:
            labels = {**exporter, "signal": signal}
            c = counts[signal]
            yield (
                "knhk_telemetry_exporter_sent_items_total", "counter",
                "Rows (spans, data points, log records) written to Parquet files.", labels, float(c.written_rows),
            )  # fmt: skip
            yield (
                "knhk_telemetry_exporter_buffered_items", "gauge",
                "Rows accepted and not yet written.", labels, float(pending[signal]),
            )  # fmt: skip
            yield (
                "knhk_telemetry_exporter_files_total", "counter",
                "Parquet files completed (renamed from .tmp).", labels, float(c.files),
            )  # fmt: skip
            yield (
                "knhk_telemetry_exporter_written_bytes_total", "counter",
                "Bytes of the completed Parquet files.", labels, float(c.bytes),
            )  # fmt: skip
            yield (
                "knhk_telemetry_exporter_send_failed_items_total", "counter",
                "Rows lost because the file holding them could not be completed.", labels, float(c.lost_rows),
            )  # fmt: skip
        yield "knhk_telemetry_exporter_open_files", "gauge", "Parquet files being written.", exporter, float(open_files)
        yield "knhk_telemetry_exporter_write_errors_total", "counter", "Failed writes.", exporter, float(errors)
