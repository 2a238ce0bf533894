"""The ``otlpjsonfile`` receiver: tails files of OTLP/JSON lines into the pipelines.

As the Collector-contrib otlpjsonfilereceiver: every ``poll_interval`` the ``include`` globs
are matched (minus ``exclude``), and each matching file is read on from where the last poll
stopped. Only complete lines are taken; an unfinished last line waits for its newline (at
shutdown it is taken only if it already decodes). Each line is one OTLP/JSON request whose
top-level key names its signal, so one file may mix traces, metrics and logs.

One instance serves every signal of its id (the factory is shared): one reader thread reads
each file once and hands each line's batch to the consumer(s) registered for that line's
signal. Lines of a signal no pipeline takes from this receiver are counted, not decoded.

Files are known by (device, inode) and kept open, so a file renamed by rotation is read to
its end through the open handle (whether or not its new name still matches) and a new file
at the old path is read from its start; a file that shrinks (truncated) is read again from
its start. A deleted file is let go once drained; one renamed away from the globs after
``KEEP_UNMATCHED_POLLS`` polls. gzip and zstd files (as the ``file`` exporter writes them) are recognised by their
magic bytes and tailed through an incremental decompressor. Offsets live in memory only.

Nothing is dropped silently: lines that do not decode are logged with ``file:line`` and
counted by reason, items refused inside a decoded line are counted by reason, and a batch the
pipeline refuses with ``BackpressureError`` is offered again with a growing pause until it is
taken (after shutdown began, for at most ``DRAIN_TIMEOUT_S``, then counted as dropped).
"""

from __future__ import annotations

import glob
import logging
import os
import stat
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from knhk_telemetry.component import Component, CreateSettings, Signal
from knhk_telemetry.errors import BackpressureError, ConfigError, DecodeError, PipelineClosedError
from knhk_telemetry.exporters.file.lines import (
    CHUNK_SIZE,
    Compression,
    Decompressor,
    LineBuffer,
    detect_signal,
    sniff_compression,
)
from knhk_telemetry.model.batch import Batch
from knhk_telemetry.receivers.otlpjsonfile.config import OtlpJsonFileConfig

log = logging.getLogger(__name__)

Consumer = Callable[[Batch], object]

#: first pause after a BackpressureError, doubled per retry up to BACKOFF_MAX_S
BACKOFF_INITIAL_S = 0.005
BACKOFF_MAX_S = 0.5
#: how long a batch refused with backpressure is still offered once shutdown has begun
DRAIN_TIMEOUT_S = 5.0
#: polls a file that still exists may go unmatched before it is let go: a glob that runs
#: during a rotation's rename can miss a file for a poll, and forgetting it then would read it
#: again from the start when it is seen under its new name
KEEP_UNMATCHED_POLLS = 5
#: refused lines logged per file; later ones are only counted
LOGGED_REFUSALS_PER_FILE = 10

_PREFIX = "knhk_telemetry_receiver_"
_NO_KEY = "no resourceSpans, resourceMetrics or resourceLogs key"


@dataclass(slots=True, eq=False)
class _TrackedFile:
    """Read state of one file (one inode)."""

    key: tuple[int, int]
    path: str
    fh: BinaryIO
    lines: LineBuffer
    offset: int = 0  # raw bytes read
    lineno: int = 0  # complete lines seen (of the uncompressed text)
    kind: Compression | None = None  # None until the first bytes tell
    head: bytes = b""  # bytes read before the kind was known
    decompressor: Decompressor | None = None
    broken: bool = False  # a corrupt compressed stream: nothing more is read from it
    generation: int = 0  # last poll that matched it
    logged: int = 0  # refusals logged so far
    warned_no_pipeline: set[str] = field(default_factory=set)


class OtlpJsonFileReceiver(Component):
    """Tails OTLP/JSON lines files and pushes each line's batch to its signal's consumers."""

    def __init__(self, component_id: str, config: OtlpJsonFileConfig) -> None:
        super().__init__(component_id)
        self.config = config
        self._consumers: dict[Signal, list[Consumer]] = {}
        self._consumers_lock = threading.Lock()
        self._files: dict[tuple[int, int], _TrackedFile] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._drain_deadline = 0.0
        self._first_poll = True
        self._generation = 0
        self._warned_paths: set[str] = set()
        self._counts_lock = threading.Lock()
        self._accepted: Counter[Signal] = Counter()
        self._refused_items: Counter[tuple[str, str]] = Counter()
        self._refused_lines: Counter[tuple[str, str]] = Counter()
        self._dropped: Counter[tuple[str, str]] = Counter()
        self._retries: Counter[str] = Counter()
        self._read_bytes = 0
        self._file_errors = 0

    @property
    def is_shut_down(self) -> bool:
        return self._shut_down

    def attach(self, settings: CreateSettings) -> None:
        """Serve ``settings.signal`` too, handing its lines to ``settings.next_consumer``."""
        if settings.next_consumer is None:
            raise ConfigError(f"receiver {self.component_id} needs a next consumer for {settings.signal}")
        self.register(settings.signal, settings.next_consumer)

    def register(self, signal: Signal, consumer: Consumer) -> None:
        """Send lines of ``signal`` to ``consumer`` too (each consumer once per signal)."""
        with self._consumers_lock:
            consumers = self._consumers.setdefault(signal, [])
            if not any(c is consumer for c in consumers):
                consumers.append(consumer)

    def signals(self) -> tuple[Signal, ...]:
        """The signals that have a consumer."""
        with self._consumers_lock:
            return tuple(s for s, c in self._consumers.items() if c)

    # -- lifecycle ------------------------------------------------------------------------
    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"knhk-{self.component_id}", daemon=True)
        self._thread.start()

    def _shutdown(self) -> None:
        self._drain_deadline = time.monotonic() + DRAIN_TIMEOUT_S
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._poll_safely()
                self._stop.wait(self.config.poll_interval)
            self._poll_safely()  # what was written up to shutdown
            self._take_unfinished_lines()
        finally:
            for tf in list(self._files.values()):
                self._close(tf)

    # -- polling --------------------------------------------------------------------------
    def _poll_safely(self) -> None:
        try:
            self._poll()
        except Exception:  # the reader thread must survive anything one poll runs into
            log.exception("otlpjsonfile receiver %s: poll failed", self.component_id)

    def _match(self) -> list[str]:
        found: set[str] = set()
        for pattern in self.config.include:
            found.update(glob.glob(os.path.expanduser(pattern), recursive=True))
        for pattern in self.config.exclude:
            found.difference_update(glob.glob(os.path.expanduser(pattern), recursive=True))
        return sorted(found)

    def _poll(self) -> None:
        self._generation += 1
        generation = self._generation
        at_end = self._first_poll and self.config.start_at == "end"
        for path in self._match():
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                self._file_error(path, exc)
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            tf = self._files.get((st.st_dev, st.st_ino)) or self._open(path, at_end=at_end)
            if tf is None:
                continue
            tf.path = path
            tf.generation = generation
            self._read(tf)
        self._first_poll = False
        for tf in list(self._files.values()):
            if tf.generation != generation:
                # deleted, or renamed away from the globs (or caught mid-rename by the glob):
                # read what it got before that through the open handle
                self._read(tf)
                if self._deleted(tf) or generation - tf.generation >= KEEP_UNMATCHED_POLLS:
                    self._close(tf)

    def _deleted(self, tf: _TrackedFile) -> bool:
        try:
            return os.fstat(tf.fh.fileno()).st_nlink == 0
        except OSError:
            return True

    def _open(self, path: str, *, at_end: bool) -> _TrackedFile | None:
        try:
            fh: BinaryIO = open(path, "rb")  # noqa: SIM115 - kept open across polls, closed by _close
            st = os.fstat(fh.fileno())
        except OSError as exc:
            self._file_error(path, exc)
            return None
        key = (st.st_dev, st.st_ino)
        known = self._files.get(key)
        if known is not None:  # replaced between stat and open: the inode is what counts
            fh.close()
            return known
        tf = _TrackedFile(key=key, path=path, fh=fh, lines=LineBuffer(self.config.max_line_bytes))
        self._files[key] = tf
        self._warned_paths.discard(path)
        if at_end:
            self._read(tf, skip=True)
            log.debug("otlpjsonfile receiver %s: %s starts at line %d", self.component_id, path, tf.lineno + 1)
        return tf

    def _close(self, tf: _TrackedFile) -> None:
        self._files.pop(tf.key, None)
        try:
            tf.fh.close()
        except OSError:
            log.debug("otlpjsonfile receiver %s: closing %s failed", self.component_id, tf.path)

    def _file_error(self, path: str, exc: OSError) -> None:
        with self._counts_lock:
            self._file_errors += 1
        if path not in self._warned_paths:
            self._warned_paths.add(path)
            log.warning("otlpjsonfile receiver %s: cannot read %s: %s", self.component_id, path, exc.strerror or exc)

    # -- reading --------------------------------------------------------------------------
    def _read(self, tf: _TrackedFile, *, skip: bool = False) -> None:
        """Read what ``tf`` holds beyond its offset; ``skip`` counts complete lines without taking them."""
        if tf.broken:
            return
        try:
            size = os.fstat(tf.fh.fileno()).st_size
            if size < tf.offset:
                log.warning(
                    "otlpjsonfile receiver %s: %s shrank from %d to %d bytes (truncated?): reading it from the start",
                    self.component_id,
                    tf.path,
                    tf.offset,
                    size,
                )
                tf.fh.seek(0)
                tf.offset = tf.lineno = 0
                tf.kind, tf.head, tf.decompressor = None, b"", None
                tf.lines.reset()
            while chunk := tf.fh.read(CHUNK_SIZE):
                tf.offset += len(chunk)
                data = self._uncompressed(tf, chunk)
                if data is not None:
                    for line in tf.lines.push(data):
                        tf.lineno += 1
                        if not skip:
                            self._take(tf, tf.lineno, line)
                with self._counts_lock:  # counted once taken, so the count says how far reading got
                    self._read_bytes += len(chunk)
                if data is None:
                    return
        except OSError as exc:
            self._file_error(tf.path, exc)

    def _uncompressed(self, tf: _TrackedFile, chunk: bytes) -> bytes | None:
        """The text ``chunk`` adds (b'' while the kind is unknown); None once the stream is corrupt."""
        if tf.kind is None:
            tf.head += chunk
            kind = sniff_compression(tf.head)
            if kind is None:
                return b""
            tf.kind = kind
            tf.decompressor = Decompressor(kind) if kind != "none" else None
            chunk, tf.head = tf.head, b""
        if tf.decompressor is None:
            return chunk
        try:
            return tf.decompressor.feed(chunk)
        except DecodeError as exc:
            tf.broken = True
            self._refuse_line(tf, tf.lineno + 1, "", "corrupt_stream", f"{exc}; the rest of the file is skipped")
            return None

    def _take_unfinished_lines(self) -> None:
        """At shutdown: an unfinished last line is taken if it is already a whole request."""
        for tf in list(self._files.values()):
            rest = tf.lines.rest
            if rest.strip() and not tf.broken:
                self._take(tf, tf.lineno + 1, rest, unfinished=True)

    def _take(self, tf: _TrackedFile, lineno: int, line: bytes | None, *, unfinished: bool = False) -> None:
        """Decode one line and deliver its batch to the consumers of its signal."""
        if line is None:  # TOO_LONG
            limit = self.config.max_line_bytes
            self._refuse_line(tf, lineno, "", "line_too_long", f"longer than max_line_bytes ({limit})")
            return
        text = line.strip()
        if not text:
            return
        signal = detect_signal(text)
        if signal is None:
            if unfinished:
                self._left_unfinished(tf, lineno, len(text))
            else:
                self._refuse_line(tf, lineno, "", "unknown_signal", f"not an OTLP/JSON request ({_NO_KEY})")
            return
        consumers = self._consumers_for(signal)
        if not consumers:
            self._no_pipeline(tf, signal)
            return
        batch = self._decode(tf, lineno, signal, text, unfinished=unfinished)
        if batch is not None and len(batch):
            for consumer in consumers:
                self._deliver(signal, consumer, batch)

    def _decode(self, tf: _TrackedFile, lineno: int, signal: Signal, text: bytes, *, unfinished: bool) -> Batch | None:
        """The line's batch, its refused items counted; None (refusal counted) when it does not decode."""
        from knhk_telemetry.otlp.json import decode_json

        try:
            decoded = decode_json(signal, text)
        except DecodeError as exc:
            if unfinished:
                self._left_unfinished(tf, lineno, len(text))
            else:
                self._refuse_line(tf, lineno, signal, "decode_error", str(exc))
            return None
        if decoded.rejected:
            with self._counts_lock:
                for reason, n in decoded.rejected.counts.items():
                    self._refused_items[signal, reason] += n
            self._log_refusal(tf, f"{tf.path}:{lineno}: {decoded.rejected.summary()}")
        batch: Batch = decoded.batch
        return batch

    def _no_pipeline(self, tf: _TrackedFile, signal: Signal) -> None:
        self._count(self._refused_lines, (signal, "no_pipeline"))
        if signal not in tf.warned_no_pipeline:
            tf.warned_no_pipeline.add(signal)
            log.warning(
                "otlpjsonfile receiver %s: %s holds %s, which no pipeline takes from this receiver: "
                "those lines are counted and skipped",
                self.component_id,
                tf.path,
                signal,
            )

    def _consumers_for(self, signal: Signal) -> list[Consumer]:
        with self._consumers_lock:
            return list(self._consumers.get(signal, ()))

    def _deliver(self, signal: Signal, consumer: Consumer, batch: Batch) -> None:
        """Hand ``batch`` to ``consumer``, offering it again while the pipeline pushes back."""
        delay = BACKOFF_INITIAL_S
        n = len(batch)
        while True:
            try:
                consumer(batch)
            except BackpressureError:
                self._count(self._retries, signal)
                if self._stop.is_set():
                    if time.monotonic() >= self._drain_deadline:
                        self._count(self._dropped, (signal, "shutdown"), n)
                        log.error(
                            "otlpjsonfile receiver %s: dropped %d %s items: the pipeline still refused them "
                            "%.0f s after shutdown began",
                            self.component_id,
                            n,
                            signal,
                            DRAIN_TIMEOUT_S,
                        )
                        return
                    time.sleep(delay)
                else:
                    self._stop.wait(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
                continue
            except PipelineClosedError as exc:
                self._count(self._dropped, (signal, "pipeline_closed"), n)
                log.error("otlpjsonfile receiver %s: dropped %d %s items: %s", self.component_id, n, signal, exc)
                return
            except Exception:  # a failing consumer must not stop the reader thread
                self._count(self._dropped, (signal, "consumer_error"), n)
                log.exception("otlpjsonfile receiver %s: dropped %d %s items", self.component_id, n, signal)
                return
            self._count(self._accepted, signal, n)
            return

    # -- counting -------------------------------------------------------------------------
    def _count(self, counter: Counter[Any], key: Any, n: int = 1) -> None:
        with self._counts_lock:
            counter[key] += n

    def _refuse_line(self, tf: _TrackedFile, lineno: int, signal: str, reason: str, message: str) -> None:
        self._count(self._refused_lines, (signal, reason))
        self._log_refusal(tf, f"{tf.path}:{lineno}: {reason}: {message}")

    def _log_refusal(self, tf: _TrackedFile, message: str) -> None:
        tf.logged += 1
        if tf.logged <= LOGGED_REFUSALS_PER_FILE:
            log.warning("otlpjsonfile receiver %s: %s", self.component_id, message)
            if tf.logged == LOGGED_REFUSALS_PER_FILE:
                log.warning(
                    "otlpjsonfile receiver %s: further refusals in %s are counted, not logged",
                    self.component_id,
                    tf.path,
                )

    def _left_unfinished(self, tf: _TrackedFile, lineno: int, n_bytes: int) -> None:
        log.info(
            "otlpjsonfile receiver %s: %s:%d: left an unfinished line of %d bytes (no newline yet) at shutdown",
            self.component_id,
            tf.path,
            lineno,
            n_bytes,
        )

    def self_metrics(self) -> list[tuple[str, str, str, dict[str, str], float]]:
        rid = self.component_id
        with self._counts_lock:
            accepted = dict(self._accepted)
            refused_items = dict(self._refused_items)
            refused_lines = dict(self._refused_lines)
            dropped = dict(self._dropped)
            retries = dict(self._retries)
            read_bytes, file_errors = self._read_bytes, self._file_errors
        out: list[tuple[str, str, str, dict[str, str], float]] = []
        for signal in sorted(set(self.signals()) | set(accepted)):
            out.append(
                (
                    _PREFIX + "accepted_items_total",
                    "counter",
                    "Items (spans, data points, log records) pushed into the pipeline.",
                    {"receiver": rid, "signal": signal},
                    float(accepted.get(signal, 0)),
                )
            )
        for (sig, reason), n in sorted(refused_items.items()):
            out.append(
                (
                    _PREFIX + "refused_items_total",
                    "counter",
                    "Items refused inside lines that decoded (malformed ids), by reason.",
                    {"receiver": rid, "signal": sig, "reason": reason},
                    float(n),
                )
            )
        for (sig, reason), n in sorted(refused_lines.items()):
            out.append(
                (
                    _PREFIX + "refused_lines_total",
                    "counter",
                    "Lines not taken: decode_error, unknown_signal, line_too_long, corrupt_stream, no_pipeline.",
                    {"receiver": rid, "signal": sig, "reason": reason},
                    float(n),
                )
            )
        for (sig, reason), n in sorted(dropped.items()):
            out.append(
                (
                    _PREFIX + "dropped_items_total",
                    "counter",
                    "Decoded items the pipeline did not take (shutdown, pipeline_closed, consumer_error).",
                    {"receiver": rid, "signal": sig, "reason": reason},
                    float(n),
                )
            )
        for sig, n in sorted(retries.items()):
            out.append(
                (
                    _PREFIX + "backpressure_retries_total",
                    "counter",
                    "Times a batch was offered again after the pipeline pushed back.",
                    {"receiver": rid, "signal": sig},
                    float(n),
                )
            )
        labels = {"receiver": rid}
        out.append(
            (
                _PREFIX + "read_bytes_total",
                "counter",
                "Bytes read from files (as stored) and their lines taken.",
                labels,
                float(read_bytes),
            )
        )
        out.append(
            (
                _PREFIX + "file_errors_total",
                "counter",
                "Files that could not be opened or read.",
                labels,
                float(file_errors),
            )
        )
        out.append((_PREFIX + "open_files", "gauge", "Files being tailed.", labels, float(len(self._files))))
        return out
