"""The ``file`` exporter: batches as OTLP/JSON lines, with size rotation and compression.

Like the OpenTelemetry Collector's file exporter (JSON format): every batch becomes one
``Export*ServiceRequest`` document on its own line, all signals in one file unless a
signal has its own path. Writes from every pipeline that names this exporter go through
one lock per file, so lines never interleave.

Rotation (as lumberjack, which the Collector uses): when the next line would take the file
past ``max_megabytes``, the file is renamed ``<name>-<UTC timestamp>.<ext>`` (for example
``spans-2026-11-27T14-55-00.123.json.gz``; made unique by stepping the milliseconds) and a new
file is started; then backups beyond ``max_backups`` (newest kept) and older than
``max_days`` are deleted.

Compression writes the file as one gzip or zstd *stream* of the JSON lines, not one frame per
record as the Collector's proto format does: any ``zstd -d``/``gzip -d``/``zcat`` or a
streaming reader gets the JSON lines back, and the periodic flush ends a compressed block so
a tailing reader (the ``otlpjsonfile`` receiver) sees complete lines without waiting for the
file to be closed. The stream is finished properly at rotation and shutdown. A compressed
file's size is counted in compressed bytes, so it may pass the limit by what the compressor
still holds (at most one block, ~128 KiB).
"""

from __future__ import annotations

import errno
import gzip
import io
import logging
import os
import re
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePath
from typing import Literal

import zstandard

from knhk_telemetry.component import Component, CreateSettings, Signal
from knhk_telemetry.errors import ExportError, PipelineClosedError
from knhk_telemetry.exporters.file.config import FileExporterConfig, RotationConfig
from knhk_telemetry.model.batch import Batch, LogBatch, MetricBatch, SpanBatch

log = logging.getLogger(__name__)

_COMPRESSED_SUFFIXES = frozenset({".gz", ".gzip", ".zst", ".zstd"})
_STAMP = "%Y-%m-%dT%H-%M-%S"
_STAMP_RE = r"(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3})"
GZIP_LEVEL = 6
ZSTD_LEVEL = 3


def split_name(name: str) -> tuple[str, str]:
    """``(stem, ext)`` where a compression suffix keeps the one before it:
    ``traces.json.gz`` -> ``("traces", ".json.gz")``, ``out`` -> ``("out", "")``."""
    suffixes = PurePath(name).suffixes
    if not suffixes:
        return name, ""
    n = 2 if len(suffixes) >= 2 and suffixes[-1].lower() in _COMPRESSED_SUFFIXES else 1
    ext = "".join(suffixes[-n:])
    return name[: -len(ext)], ext


def backup_name(path: Path, when: datetime) -> Path:
    """``dir/stem-YYYY-MM-DDTHH-MM-SS.mmm.ext`` for ``path`` at ``when``."""
    stem, ext = split_name(path.name)
    stamp = f"{when.strftime(_STAMP)}.{when.microsecond // 1000:03d}"
    return path.with_name(f"{stem}-{stamp}{ext}")


def list_backups(path: Path, *, localtime: bool = False) -> list[tuple[datetime, Path]]:
    """Backups of ``path`` in its directory, newest first, with the time in their names."""
    stem, ext = split_name(path.name)
    pattern = re.compile(re.escape(stem) + "-" + _STAMP_RE + re.escape(ext))
    found: list[tuple[datetime, Path]] = []
    try:
        entries = list(os.scandir(path.parent))
    except FileNotFoundError:
        return []
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if m is None or not entry.is_file():
            continue
        text = m.group(1)
        when = datetime.strptime(text[:19], _STAMP).replace(microsecond=int(text[20:]) * 1000)
        when = when.astimezone() if localtime else when.replace(tzinfo=UTC)
        found.append((when, Path(entry.path)))
    found.sort(key=lambda item: (item[0], item[1].name), reverse=True)
    return found


class _FileWriter:
    """One output file; every method is called with ``lock`` held."""

    def __init__(self, path: Path, config: FileExporterConfig, owner: str) -> None:
        self.path = path
        self.lock = threading.Lock()
        self._config = config
        self._rotation: RotationConfig | None = config.rotation
        self._owner = owner
        self._raw: io.BufferedWriter | None = None
        self._stream: io.BufferedWriter | gzip.GzipFile | zstandard.ZstdCompressionWriter | None = None
        self._lines = 0  # lines in the current file (a kept, non-empty file counts as 1)
        self._opened_before = False
        self._last_backup: datetime | None = None
        self.bytes_written = 0  # uncompressed bytes of lines, all files
        self.rotations = 0

    # -- lifecycle ------------------------------------------------------------------------
    def open(self) -> None:
        if self._stream is not None:
            return
        try:
            self._open("ab" if self._config.append or self._opened_before else "wb")
            if self._rotation is not None:
                self._prune()
        except OSError as exc:
            self._abandon()
            raise self._error("cannot open", exc) from exc

    def _open(self, mode: Literal["ab", "wb"]) -> None:
        parent = self.path.parent
        if parent.exists() and not parent.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(parent))
        parent.mkdir(parents=True, exist_ok=True)
        raw = open(self.path, mode)  # noqa: SIM115 - lives until close()/rotation
        self._raw = raw
        self._opened_before = True
        self._lines = 1 if raw.tell() > 0 else 0
        compression = self._config.compression
        if compression == "gzip":
            self._stream = gzip.GzipFile(filename=self.path.name, mode="wb", fileobj=raw, compresslevel=GZIP_LEVEL)
        elif compression == "zstd":
            self._stream = zstandard.ZstdCompressor(level=ZSTD_LEVEL).stream_writer(raw, closefd=False)
        else:
            self._stream = raw

    def write(self, data: bytes) -> None:
        """Write ``data`` and a newline, rotating first when the file would grow too large."""
        try:
            if self._stream is None:
                self.open()
            if self._rotation is not None and self._lines:
                assert self._raw is not None
                grow = len(data) + 1 if self._config.compression == "none" else 0
                if self._raw.tell() + grow > self._rotation.max_bytes:
                    self._rotate()
            assert self._stream is not None
            self._stream.write(data)
            self._stream.write(b"\n")
        except OSError as exc:
            self._abandon()
            raise self._error("cannot write", exc) from exc
        self._lines += 1
        self.bytes_written += len(data) + 1

    def flush(self) -> None:
        if self._stream is None:
            return
        try:
            self._stream.flush()
            if self._raw is not None and self._raw is not self._stream:
                self._raw.flush()
        except OSError as exc:
            self._abandon()
            raise self._error("cannot flush", exc) from exc

    def close(self) -> None:
        """Finish the compressed stream, flush and close; the writer may be opened again."""
        try:
            self._finish()
        except OSError as exc:
            self._abandon()
            raise self._error("cannot close", exc) from exc

    def size(self) -> int:
        """Bytes in the current file (compressed bytes handed to the OS so far)."""
        return self._raw.tell() if self._raw is not None else 0

    # -- internals ------------------------------------------------------------------------
    def _finish(self) -> None:
        stream, raw = self._stream, self._raw
        self._stream = self._raw = None
        if stream is not None and stream is not raw:
            stream.close()  # writes the gzip trailer / ends the zstd frame; raw stays open
        if raw is not None:
            raw.close()

    def _abandon(self) -> None:
        """Drop the open file after an error without raising again (the next write reopens)."""
        stream, raw = self._stream, self._raw
        self._stream = self._raw = None
        for f in (stream, raw):
            if f is None:
                continue
            try:
                f.close()
            except (OSError, ValueError):
                log.debug("file exporter %s: closing %s after an error failed too", self._owner, self.path)

    def _rotate(self) -> None:
        assert self._rotation is not None
        self._finish()
        now = datetime.now().astimezone() if self._rotation.localtime else datetime.now(UTC)
        if self._last_backup is not None and now <= self._last_backup:
            now = self._last_backup + timedelta(milliseconds=1)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        target = backup_name(self.path, now)
        while target.exists():
            now += timedelta(milliseconds=1)
            target = backup_name(self.path, now)
        os.rename(self.path, target)
        self._last_backup = now
        self.rotations += 1
        self._open("wb")
        self._prune()

    def _prune(self) -> None:
        rotation = self._rotation
        if rotation is None or not (rotation.max_backups or rotation.max_days):
            return
        backups = list_backups(self.path, localtime=rotation.localtime)
        doomed: list[Path] = []
        if rotation.max_backups:
            doomed.extend(p for _, p in backups[rotation.max_backups :])
        if rotation.max_days:
            cutoff = datetime.now(UTC) - timedelta(days=rotation.max_days)
            doomed.extend(p for when, p in backups[: rotation.max_backups or None] if when < cutoff)
        for p in doomed:
            try:
                p.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("file exporter %s: cannot delete old file %s: %s", self._owner, p, exc)

    def _error(self, what: str, exc: OSError) -> ExportError:
        reason = exc.strerror or str(exc)
        where = exc.filename if isinstance(exc.filename, str) and exc.filename != str(self.path) else None
        detail = f"{reason} ({where})" if where else reason
        return ExportError(f"file exporter {self._owner}: {what} {self.path}: {detail}")


class FileExporter(Component):
    """Writes every batch it consumes as one OTLP/JSON line; see the module docstring."""

    def __init__(self, component_id: str, config: FileExporterConfig) -> None:
        super().__init__(component_id)
        self.config = config
        self._signals: set[Signal] = set()
        self._writers: dict[str, _FileWriter] = {}
        self._writers_lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self._closed = False
        self._counts_lock = threading.Lock()
        self._sent: Counter[Signal] = Counter()
        self._failed: Counter[Signal] = Counter()

    @property
    def is_shut_down(self) -> bool:
        return self._shut_down

    def attach(self, settings: CreateSettings) -> None:
        """A pipeline sends ``settings.signal`` here: its file is opened at start."""
        self.serve(settings.signal)

    def serve(self, signal: Signal) -> None:
        """Declare that a pipeline sends ``signal`` here (its file is opened at start)."""
        self._signals.add(signal)

    def path_of(self, signal: Signal) -> Path:
        """The absolute file ``signal`` is written to."""
        target = self.config.path_for(signal)
        if not target:
            raise ExportError(f"file exporter {self.component_id}: no file for {signal} (set path or {signal}_path)")
        return Path(os.path.abspath(os.path.expanduser(target)))

    # -- lifecycle ------------------------------------------------------------------------
    def _start(self) -> None:
        for signal in sorted(self._signals):
            writer = self._writer(signal)
            with writer.lock:
                writer.open()
        if self.config.flush_interval > 0:
            self._flusher = threading.Thread(
                target=self._flush_loop, name=f"knhk-{self.component_id}-flush", daemon=True
            )
            self._flusher.start()

    def _shutdown(self) -> None:
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join()
        with self._writers_lock:
            # set under the lock that creates writers: a writer made later sees it under its own lock
            self._closed = True
            writers = list(self._writers.values())
        errors: list[ExportError] = []
        for writer in writers:
            with writer.lock:
                try:
                    writer.close()
                except ExportError as exc:
                    errors.append(exc)
        if errors:
            raise errors[0]

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.config.flush_interval):
            with self._writers_lock:
                writers = list(self._writers.values())
            for writer in writers:
                with writer.lock:
                    try:
                        writer.flush()
                    except ExportError as exc:
                        log.error("%s", exc)

    # -- data -----------------------------------------------------------------------------
    def consume_spans(self, batch: SpanBatch) -> None:
        self._export("traces", batch)

    def consume_metrics(self, batch: MetricBatch) -> None:
        self._export("metrics", batch)

    def consume_logs(self, batch: LogBatch) -> None:
        self._export("logs", batch)

    def _export(self, signal: Signal, batch: Batch) -> None:
        n = len(batch)
        if n == 0:
            return
        if self._closed:
            raise PipelineClosedError(f"file exporter {self.component_id} is shut down")
        from knhk_telemetry.otlp.json import encode_json

        try:
            data = encode_json(batch)
        except Exception as exc:
            self._count(self._failed, signal, n)
            raise ExportError(
                f"file exporter {self.component_id}: cannot encode {n} {signal} items as OTLP/JSON: {exc}"
            ) from exc
        writer = self._writer(signal)
        with writer.lock:
            if self._closed:
                raise PipelineClosedError(f"file exporter {self.component_id} is shut down")
            try:
                writer.write(data)
                if self.config.flush_interval == 0:
                    writer.flush()
            except ExportError:
                self._count(self._failed, signal, n)
                raise
        self._count(self._sent, signal, n)

    def _writer(self, signal: Signal) -> _FileWriter:
        path = self.path_of(signal)
        key = str(path)
        with self._writers_lock:
            writer = self._writers.get(key)
            if writer is None:
                writer = self._writers[key] = _FileWriter(path, self.config, self.component_id)
            return writer

    def _count(self, counter: Counter[Signal], signal: Signal, n: int) -> None:
        with self._counts_lock:
            counter[signal] += n

    # -- self-telemetry -------------------------------------------------------------------
    def self_metrics(self) -> list[tuple[str, str, str, dict[str, str], float]]:
        out: list[tuple[str, str, str, dict[str, str], float]] = []
        with self._counts_lock:
            signals = sorted(self._signals | set(self._sent) | set(self._failed))
            sent, failed = dict(self._sent), dict(self._failed)
        for signal in signals:
            labels = {"exporter": self.component_id, "signal": signal}
            out.append(
                (
                    "knhk_telemetry_exporter_sent_items_total",
                    "counter",
                    "Items (spans, data points, log records) written to the file.",
                    labels,
                    float(sent.get(signal, 0)),
                )
            )
            out.append(
                (
                    "knhk_telemetry_exporter_send_failed_items_total",
                    "counter",
                    "Items that could not be encoded or written.",
                    labels,
                    float(failed.get(signal, 0)),
                )
            )
        with self._writers_lock:
            writers = list(self._writers.values())
        for writer in writers:
            labels = {"exporter": self.component_id, "path": str(writer.path)}
            out.append(
                (
                    "knhk_telemetry_exporter_file_written_bytes_total",
                    "counter",
                    "Uncompressed bytes of OTLP/JSON lines written.",
                    labels,
                    float(writer.bytes_written),
                )
            )
            out.append(
                (
                    "knhk_telemetry_exporter_file_rotations_total",
                    "counter",
                    "Times the file was moved aside because it reached max_megabytes.",
                    labels,
                    float(writer.rotations),
                )
            )
        return out
