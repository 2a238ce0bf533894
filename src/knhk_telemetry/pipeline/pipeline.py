"""``TelemetryPipeline``: bounded queue -> batcher -> processors -> exporters, on one worker thread.

Producers (the Python API, receivers) call ``record_batch`` and friends from any thread; a
single worker thread drains the queue, merges small batches per signal until ``batch_size``
items or ``flush_interval`` seconds, runs the processors and hands the result to every
exporter. ``shutdown()`` stops accepting, drains everything accepted through the exporters
and shuts them down: nothing accepted is lost on a clean stop.

Items built one at a time (``record_span``) are collected in a small edge buffer and turned
into one columnar batch per ``batch_size`` items (or per flush tick), so the per-item cost is
a list append plus validation, and everything after the buffer is columnar.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import pyarrow as pa

from knhk_telemetry.component import Component
from knhk_telemetry.errors import BackpressureError, ConfigError, MemoryLimitError, PipelineClosedError
from knhk_telemetry.model.batch import Batch, LogBatch, MetricBatch, SpanBatch
from knhk_telemetry.model.rejections import END_BEFORE_START, INVALID_SPAN_ID, INVALID_TRACE_ID, Rejections
from knhk_telemetry.pipeline.memory import MemoryLimiter
from knhk_telemetry.pipeline.queue import (
    BACKPRESSURE_STRATEGIES,
    AdaptiveSampler,
    Backpressure,
    BoundedQueue,
    Entry,
)
from knhk_telemetry.pipeline.stats import PipelineStats, StatsSnapshot

log = logging.getLogger("knhk_telemetry.pipeline")

Processor = Callable[[Batch], Batch | None]
MEMORY_LIMIT = "memory_limit"


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineSettings:
    """Knobs of one pipeline."""

    batch_size: int = 8192  # items that trigger a flush
    max_batch_size: int = 0  # items per exported batch at most; 0 = no limit
    flush_interval: float = 0.2  # seconds a partial batch waits at most
    channel_capacity: int = 100_000  # items queued or in flight at most
    backpressure: Backpressure = "block"
    block_timeout: float = 5.0  # seconds a blocked producer waits before BackpressureError
    edge_buffer: int = 1024  # items collected by record_span/metric/log before one batch is built

    def validate(self) -> None:
        checks = [
            ("batch_size", self.batch_size > 0, "must be > 0 items"),
            (
                "max_batch_size",
                self.max_batch_size == 0 or self.max_batch_size >= self.batch_size,
                "must be 0 (no limit) or >= batch_size",
            ),
            ("flush_interval", self.flush_interval > 0, "must be > 0 seconds"),
            ("channel_capacity", self.channel_capacity > 0, "must be > 0 items"),
            ("block_timeout", self.block_timeout >= 0, "must be >= 0 seconds"),
            ("edge_buffer", self.edge_buffer > 0, "must be > 0 items"),
        ]
        for name, ok, what in checks:
            if not ok:
                raise ConfigError(f"{what}, got {getattr(self, name)!r}", path=name)
        if self.backpressure not in BACKPRESSURE_STRATEGIES:
            raise ConfigError(
                f"unknown strategy {self.backpressure!r}; one of {', '.join(BACKPRESSURE_STRATEGIES)}",
                path="backpressure",
            )


def _all_zero(ids: pa.ChunkedArray) -> np.ndarray[Any, Any]:
    """Per fixed-size id, whether every byte is zero (the OTLP "invalid id"), vectorised.

    Ids are compared as 64-bit words (the id widths are 8 and 16 bytes): the whole refusal
    check then takes 0.57x the time it took with a per-byte ``any`` (``bench/pipeline.py``)."""
    arr = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    width = arr.type.byte_width
    raw = np.frombuffer(arr.buffers()[1], dtype=np.uint8)[arr.offset * width : (arr.offset + len(arr)) * width]
    if width % 8 == 0:
        words = raw.view(np.uint64).reshape(-1, width // 8)
        zero = words[:, 0] == 0
        for j in range(1, width // 8):
            zero &= words[:, j] == 0
    else:
        zero = ~raw.reshape(-1, width).any(axis=1)
    if arr.null_count:
        zero &= np.asarray(arr.is_valid().to_numpy(zero_copy_only=False))
    return np.asarray(zero)


def _numbers(col: pa.ChunkedArray) -> np.ndarray[Any, Any]:
    return np.asarray(col.chunk(0).to_numpy(zero_copy_only=False) if col.num_chunks == 1 else col.to_numpy())


def refuse_invalid_spans(batch: Batch) -> tuple[Batch, Rejections]:
    """Refuse spans that no backend can use: an all-zero trace or span id (invalid in OTLP),
    or an end time before the start time. One vectorised pass over the span columns; the
    first offending span of each reason is named in the message."""
    rejected = Rejections()
    if not isinstance(batch, SpanBatch) or len(batch) == 0:
        return batch, rejected
    spans = batch.spans
    start = _numbers(spans.column("start_time_unix_nano"))
    end = _numbers(spans.column("end_time_unix_nano"))
    checks: tuple[tuple[str, np.ndarray[Any, Any], Callable[[int], str]], ...] = (
        (INVALID_TRACE_ID, _all_zero(spans.column("trace_id")), lambda i: "trace_id is all zeroes"),
        (INVALID_SPAN_ID, _all_zero(spans.column("span_id")), lambda i: "span_id is all zeroes"),
        (
            END_BEFORE_START,
            end < start,
            lambda i: f"end_time_unix_nano {int(end[i])} is before start_time_unix_nano {int(start[i])}",
        ),
    )
    if not any(broken.any() for _, broken, _ in checks):
        return batch, rejected  # the usual case
    bad = np.zeros(len(batch), dtype=bool)
    for reason, broken, describe in checks:
        new = broken & ~bad  # one reason per span: the first rule it breaks
        n = int(new.sum())
        if n:
            first = int(np.flatnonzero(new)[0])
            rejected.add(reason, f"span {spans.column('name')[first].as_py()!r} (row {first}): {describe(first)}", n)
            bad |= new
    batch = batch.filter(~bad)
    return batch, rejected


class _EdgeBuffer:
    """Items recorded one at a time, turned into a batch in bulk."""

    def __init__(self, to_batch: Callable[[list[Any], Rejections], Batch]) -> None:
        self.items: list[Any] = []
        self.lock = threading.Lock()
        self.to_batch = to_batch

    def take(self) -> list[Any]:
        with self.lock:
            items, self.items = self.items, []
            return items


def _edge_converter(signal: str) -> Callable[[list[Any], Rejections], Batch]:
    """The edge-type -> batch conversion of a signal (imported lazily: only record_span and
    friends need the edge types)."""

    def convert(items: list[Any], rejections: Rejections) -> Batch:
        from knhk_telemetry.model import edge

        if signal == "traces":
            return edge.spans_to_batch(items, rejections=rejections)
        if signal == "metrics":
            return edge.metrics_to_batch(items, rejections=rejections)
        return edge.logs_to_batch(items, rejections=rejections)

    return convert


@dataclass
class _Pending:
    batches: list[Batch] = field(default_factory=list)
    n: int = 0
    oldest: float = 0.0  # when the oldest pending item was accepted (monotonic)
    since: float = 0.0  # when the first pending batch arrived at the batcher


class TelemetryPipeline:
    """Queue, batcher, processors and exporters for spans, metrics and logs.

    >>> from knhk_telemetry.exporters.nop import NopConfig, NopExporter
    >>> pipe = TelemetryPipeline.builder().with_batch_size(1000).with_exporter(NopExporter("nop", NopConfig())).build()
    >>> pipe.record_batch(SpanBatch.empty())
    0
    >>> pipe.shutdown()
    """

    def __init__(
        self,
        settings: PipelineSettings | None = None,
        *,
        exporters: Sequence[Component] = (),
        processors: Mapping[str, Sequence[Processor]] | Sequence[Processor] | None = None,
        name: str = "default",
        manage_exporters: bool = True,
        autostart: bool = True,
        memory_limiter: MemoryLimiter | None = None,
    ) -> None:
        """``manage_exporters=False``: the caller starts and shuts the exporters down (the
        service does, since one exporter may serve several pipelines)."""
        self.settings = settings or PipelineSettings()
        self._manage_exporters = manage_exporters
        #: shared by all pipelines of a service; its owner starts and stops it
        self.memory_limiter = memory_limiter
        self.settings.validate()
        self.name = name
        self.exporters = list(exporters)
        if processors is None:
            processors = {}
        if not isinstance(processors, Mapping):
            processors = {s: list(processors) for s in ("traces", "metrics", "logs")}
        self.processors: dict[str, list[Processor]] = {k: list(v) for k, v in processors.items()}
        self._stats = PipelineStats()
        s = self.settings
        sampler = AdaptiveSampler() if s.backpressure == "adaptive_sampling" else None
        self._queue = BoundedQueue(
            s.channel_capacity, s.backpressure, self._stats, block_timeout=s.block_timeout, sampler=sampler
        )
        self._edges: dict[str, _EdgeBuffer] = {
            s: _EdgeBuffer(_edge_converter(s)) for s in ("traces", "metrics", "logs")
        }
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        # serialises edge-buffer flushes with closing the queue, so no flush meets a closed queue
        self._edge_lock = threading.Lock()
        self._closed = False
        self._stopped = threading.Event()
        self._started = False
        self._worker = threading.Thread(target=self._run, name=f"knhk-pipeline-{name}", daemon=True)
        if autostart:
            self.start()

    # -- builder --------------------------------------------------------------------------
    @classmethod
    def builder(cls) -> PipelineBuilder:
        return PipelineBuilder()

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        if self._manage_exporters:
            for exporter in self.exporters:
                exporter.start()
        self._worker.start()

    def shutdown(self, timeout: float | None = None) -> None:
        """Stop accepting, export everything accepted, shut the exporters down (idempotent)."""
        with self._lock:
            if self._closed:
                already = True
            else:
                already = False
                self._closed = True
        if not already:
            with self._edge_lock:
                for signal in self._edges:
                    self._flush_edge(signal, closing=True)
                self._queue.close()
        if self._started:
            self._worker.join(timeout)
        elif not already:  # never started: drain what was queued on this thread
            self._run()
        if not already and self._manage_exporters:
            for exporter in self.exporters:
                try:
                    exporter.shutdown()
                except Exception:
                    log.exception("exporter %s failed to shut down", exporter.component_id)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    @property
    def closed(self) -> bool:
        return self._closed

    # -- producers ------------------------------------------------------------------------
    def record_batch(self, batch: Batch, *, timeout: float | None = None, rejections: Rejections | None = None) -> int:
        """Queue a batch; returns the number of items accepted (after refusals and drops).

        Items refused on entry (invalid ids, end before start) are added to ``rejections``
        when given, so a receiver can report them (OTLP ``partial_success``). Raises
        :class:`MemoryLimitError` over the memory limit, :class:`BackpressureError` when the
        ``block`` strategy times out (``timeout`` overrides ``block_timeout``; 0 never waits)
        and :class:`PipelineClosedError` after ``shutdown()``.
        """
        if self._closed:
            raise PipelineClosedError("the pipeline is shut down; no data is accepted")
        n = len(batch)
        signal = batch.SIGNAL
        if self.memory_limiter is not None:
            try:
                self.memory_limiter.admit()
            except MemoryLimitError:
                self._stats.on_received(signal, n)
                self._stats.on_refused(signal, {MEMORY_LIMIT: n})
                raise
        self._stats.on_received(signal, n)
        batch, rejected = refuse_invalid_spans(batch)
        if rejected:
            self._stats.on_refused(signal, rejected.counts)
            if rejections is not None:
                rejections.update(rejected)
        return self._queue.put(batch, timeout=timeout)

    def record_span(self, span: Any) -> None:
        """Record one ``knhk_telemetry.model.edge.Span`` (validated; invalid ones are refused
        with a counted reason and ``ValidationError``)."""
        self._record_item("traces", span)

    def record_metric(self, metric: Any) -> None:
        """Record one ``Metric`` (all its data points)."""
        self._record_item("metrics", metric)

    def record_log(self, entry: Any) -> None:
        """Record one ``LogEntry``."""
        self._record_item("logs", entry)

    def _record_item(self, signal: str, item: Any) -> None:
        if self._closed:
            raise PipelineClosedError("the pipeline is shut down; no data is accepted")
        validate = getattr(item, "validate", None)
        if validate is not None:
            from knhk_telemetry.errors import ValidationError

            try:
                validate()
            except ValidationError as exc:
                self._stats.on_received(signal, 1)
                self._stats.on_refused(signal, {exc.reason: 1})
                raise
        buf = self._edges[signal]
        with buf.lock:
            buf.items.append(item)
            full = len(buf.items) >= self.settings.edge_buffer
        if full:
            with self._edge_lock:
                self._flush_edge(signal)

    def _flush_edge(self, signal: str, *, closing: bool = False) -> None:
        """Turn the edge buffer into a batch and queue it; the caller holds ``_edge_lock``."""
        buf = self._edges[signal]
        items = buf.take()
        if not items:
            return
        rejected = Rejections()
        batch = buf.to_batch(items, rejected)
        n_items = len(batch) + rejected.total
        self._stats.on_received(signal, n_items)
        if rejected:
            self._stats.on_refused(signal, rejected.counts)
        batch, late = refuse_invalid_spans(batch)
        if late:
            self._stats.on_refused(signal, late.counts)
        if closing:
            # the queue is about to close: wait as long as it takes, nothing accepted is lost
            while True:
                try:
                    self._queue.put(batch, timeout=self.settings.block_timeout)
                    return
                except BackpressureError:
                    continue
        self._queue.put(batch)

    async def arecord_batch(self, batch: Batch) -> int:
        """``record_batch`` for asyncio code: when the queue may make the caller wait, the
        wait happens in a worker thread, never on the event loop."""
        if self._may_block(len(batch)):
            return await asyncio.to_thread(self.record_batch, batch)
        return self.record_batch(batch)

    async def arecord_span(self, span: Any) -> None:
        await self._arecord("traces", span)

    async def arecord_metric(self, metric: Any) -> None:
        await self._arecord("metrics", metric)

    async def arecord_log(self, entry: Any) -> None:
        await self._arecord("logs", entry)

    async def _arecord(self, signal: str, item: Any) -> None:
        if self._may_block(self.settings.edge_buffer):
            await asyncio.to_thread(self._record_item, signal, item)
        else:
            self._record_item(signal, item)

    def _may_block(self, n: int) -> bool:
        return self.settings.backpressure in ("block", "adaptive_sampling") and (
            self._queue.depth + n > self._queue.capacity
        )

    # -- observability --------------------------------------------------------------------
    def stats(self) -> StatsSnapshot:
        return self._stats.snapshot(
            queue_depth=self._queue.depth + sum(len(b.items) for b in self._edges.values()),
            queue_capacity=self._queue.capacity,
            sampling_rate=self._queue.sampling_rate,
        )

    # -- the worker -----------------------------------------------------------------------
    def _run(self) -> None:
        s = self.settings
        tick = min(s.flush_interval, 0.05)
        last_edge_flush = time.monotonic()
        while True:
            closing = self._queue.closed
            entries = self._queue.get(timeout=tick, max_items=s.batch_size)
            for entry in entries:
                self._add_pending(entry)
            now = time.monotonic()
            if now - last_edge_flush >= s.flush_interval:
                last_edge_flush = now
                self._flush_edges_from_worker()
            for signal, pending in list(self._pending.items()):
                if pending.n and now - pending.since >= s.flush_interval:
                    self._flush(signal)
            if closing and not entries and not self._queue.pending():
                for signal in list(self._pending):
                    self._flush(signal)
                break

    def _flush_edges_from_worker(self) -> None:
        # the worker must never wait on its own queue (nobody else drains it): skip when a
        # producer or shutdown() is flushing, or when the put could block
        if not self._edge_lock.acquire(blocking=False):
            return
        try:
            if self._queue.closed:
                return
            for signal, buf in self._edges.items():
                if buf.items and not self._may_block(len(buf.items)):
                    self._flush_edge(signal)
        finally:
            self._edge_lock.release()

    def _add_pending(self, entry: Entry) -> None:
        signal = entry.batch.SIGNAL
        pending = self._pending.get(signal)
        if pending is None:
            pending = self._pending[signal] = _Pending()
        if not pending.n:
            pending.oldest = entry.accepted_at
            pending.since = time.monotonic()
        pending.batches.append(entry.batch)
        pending.n += entry.n
        if pending.n >= self.settings.batch_size:
            self._flush(signal, everything=False)

    def _flush(self, signal: str, *, everything: bool = True) -> None:
        """Export pending items. A size-triggered flush (``everything=False``) with a
        ``max_batch_size`` sends only full batches of that size and keeps the remainder
        pending, as the Collector's batch processor does; otherwise all is sent."""
        pending = self._pending.get(signal)
        if pending is None or not pending.n:
            return
        batches = pending.batches
        # chunks kept: an exporter that needs one chunk per column combines (and pays) itself
        merged = batches[0] if len(batches) == 1 else type(batches[0]).concat(batches, combine=False)
        limit = self.settings.max_batch_size
        parts = merged.split(limit) if limit else [merged]
        keep = None
        if not everything and limit and len(parts[-1]) < limit and len(parts) > 1:
            keep = parts.pop()
        self._pending[signal] = _Pending()
        if keep is not None:
            self._pending[signal] = _Pending([keep], len(keep), pending.oldest, time.monotonic())
        for part in parts:
            try:
                self._process_and_export(signal, part, pending.oldest)
            finally:
                self._queue.done(len(part))

    def _process_and_export(self, signal: str, batch: Batch, oldest: float) -> None:
        n_in = len(batch)
        out: Batch | None = batch
        for proc in self.processors.get(signal, ()):
            if out is None or len(out) == 0:
                break
            try:
                out = proc(out)
            except Exception:
                log.exception("processor %r failed; the batch of %d items is dropped", proc, n_in)
                self._stats.on_dropped(signal, "processor_error", n_in)
                return
        n_out = 0 if out is None else len(out)
        self._stats.on_processed(signal, n_in, n_out)
        failures = 0
        if out is not None and n_out:
            for exporter in self.exporters:
                try:
                    exporter.consume(out)
                except Exception:
                    failures += n_out
                    log.exception("exporter %s failed on a batch of %d items", exporter.component_id, n_out)
        self._stats.on_exported(signal, n_out, failures, time.monotonic() - oldest)


class PipelineBuilder:
    """Fluent construction, as in the original design:
    ``TelemetryPipeline.builder().with_batch_size(1000).with_flush_interval(0.1)
    .with_channel_capacity(100_000).with_backpressure("drop_oldest").with_exporter(e).build()``.
    """

    def __init__(self) -> None:
        self._settings: dict[str, Any] = {}
        self._exporters: list[Component] = []
        self._processors: dict[str, list[Processor]] = {}
        self._name = "default"

    def with_batch_size(self, items: int) -> Self:
        self._settings["batch_size"] = items
        return self

    def with_max_batch_size(self, items: int) -> Self:
        self._settings["max_batch_size"] = items
        return self

    def with_flush_interval(self, seconds: float) -> Self:
        self._settings["flush_interval"] = seconds
        return self

    def with_channel_capacity(self, items: int) -> Self:
        self._settings["channel_capacity"] = items
        return self

    def with_backpressure(self, strategy: Backpressure, *, block_timeout: float | None = None) -> Self:
        self._settings["backpressure"] = strategy
        if block_timeout is not None:
            self._settings["block_timeout"] = block_timeout
        return self

    def with_edge_buffer(self, items: int) -> Self:
        self._settings["edge_buffer"] = items
        return self

    def with_exporter(self, exporter: Component) -> Self:
        self._exporters.append(exporter)
        return self

    def with_processor(self, processor: Processor, *, signals: Sequence[str] = ("traces", "metrics", "logs")) -> Self:
        for s in signals:
            self._processors.setdefault(s, []).append(processor)
        return self

    def with_name(self, name: str) -> Self:
        self._name = name
        return self

    def build(self) -> TelemetryPipeline:
        return TelemetryPipeline(
            PipelineSettings(**self._settings), exporters=self._exporters, processors=self._processors, name=self._name
        )


__all__ = [
    "LogBatch",
    "MetricBatch",
    "PipelineBuilder",
    "PipelineSettings",
    "SpanBatch",
    "TelemetryPipeline",
    "refuse_invalid_spans",
]
