"""The bounded queue between producers and the batcher, and what happens when it is full.

Capacity is counted in items (spans, data points, log records), not in batches, so a queue of
100 000 holds 100 000 spans whether they came one by one or in batches of 10 000. Items count
against the capacity from acceptance until the batcher has exported them (``done()``), so
a slow exporter pushes back on producers instead of piling batches up in memory. A single
batch larger than the whole capacity is accepted only into an empty queue (it could never fit
otherwise). The four strategies behave differently when a batch does not fit:

- ``block``: the producer waits until there is room; after ``block_timeout`` it gets a
  :class:`BackpressureError` and the items are counted as refused (``queue_full``).
- ``drop_newest``: the part of the incoming batch that does not fit is dropped (counted).
- ``drop_oldest``: the oldest queued items are evicted to make room (counted).
- ``adaptive_sampling``: a controller lowers the head-sampling rate step by step while the
  queue is above its high watermark and restores it as the queue drains; spans are kept or
  dropped per trace (consistent across services: the decision uses the trace id's random
  low 56 bits, as W3C trace-context level 2 randomness), errors are never sampled out; what
  still does not fit then blocks as above.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import pyarrow as pa

from knhk_telemetry.errors import BackpressureError, PipelineClosedError
from knhk_telemetry.model.batch import Batch, LogBatch, SpanBatch
from knhk_telemetry.model.schema import StatusCode
from knhk_telemetry.pipeline.stats import PipelineStats

Backpressure = Literal["block", "drop_newest", "drop_oldest", "adaptive_sampling"]
BACKPRESSURE_STRATEGIES: tuple[str, ...] = get_args(Backpressure)

QUEUE_FULL = "queue_full"
EVICTED_OLDEST = "evicted_oldest"
SAMPLED_OUT = "sampled_out"

#: ERROR and FATAL log severities (SeverityNumber 17..24) are never sampled out
_ERROR_SEVERITY = 17


@dataclass(slots=True)
class Entry:
    """A queued batch, its item count and when it was accepted (monotonic seconds)."""

    batch: Batch
    n: int
    accepted_at: float


class AdaptiveSampler:
    """Head-sampling rate that halves under pressure and doubles back as the queue drains.

    The rate is ``2**-level`` with ``level`` in ``0..max_level``; it moves one level at a time
    and at most once per ``step_interval`` seconds, so a burst lowers it step by step rather
    than collapsing it. ``observe(fill)`` takes the queue's fill ratio (0..1).
    """

    def __init__(
        self,
        *,
        high_watermark: float = 0.8,
        low_watermark: float = 0.5,
        max_level: int = 10,
        step_interval: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0.0 <= low_watermark < high_watermark <= 1.0:
            raise ValueError("need 0 <= low_watermark < high_watermark <= 1")
        self.high, self.low = high_watermark, low_watermark
        self.max_level = max_level
        self.step_interval = step_interval
        self._clock = clock
        self.level = 0
        self._last_step = -float("inf")

    @property
    def rate(self) -> float:
        return float(2.0**-self.level)

    def observe(self, fill: float) -> float:
        now = self._clock()
        if now - self._last_step >= self.step_interval:
            if fill >= self.high and self.level < self.max_level:
                self.level += 1
                self._last_step = now
            elif fill <= self.low and self.level > 0:
                self.level -= 1
                self._last_step = now
        return self.rate

    def keep_mask(self, batch: Batch) -> np.ndarray[Any, Any] | None:
        """Which items to keep at the current rate (``None``: keep all)."""
        if self.level == 0:
            return None
        if isinstance(batch, SpanBatch):
            spans = batch.spans
            keep = trace_randomness(spans.column("trace_id")) < (1 << (56 - self.level))
            status = spans.column("status_code").to_numpy(zero_copy_only=False)
            return np.asarray(keep | (np.nan_to_num(status.astype(np.float64)) == StatusCode.ERROR))
        if isinstance(batch, LogBatch):
            logs = batch.logs
            severity = np.nan_to_num(logs.column("severity_number").to_numpy(zero_copy_only=False).astype(np.float64))
            tid = logs.column("trace_id")
            # records without a trace id: a per-record coin (there is no trace to be consistent with)
            coin = np.random.default_rng().random(len(batch)) < self.rate
            has_tid = np.asarray(tid.is_valid().to_numpy(zero_copy_only=False))
            by_trace = trace_randomness(tid.fill_null(b"\xff" * 16)) < (1 << (56 - self.level))
            return np.asarray(np.where(has_tid, by_trace, coin) | (severity >= _ERROR_SEVERITY))
        return None  # metrics are never sampled: dropping points would falsify aggregates


def trace_randomness(trace_ids: pa.ChunkedArray | pa.Array) -> np.ndarray[Any, Any]:
    """The low 56 bits of each 16-byte trace id, big-endian, as uint64 (vectorised)."""
    arr = trace_ids.combine_chunks() if isinstance(trace_ids, pa.ChunkedArray) else trace_ids
    if len(arr) == 0:
        return np.zeros(0, dtype=np.uint64)
    buf = arr.buffers()[1]
    raw = np.frombuffer(buf, dtype=np.uint8)[arr.offset * 16 : (arr.offset + len(arr)) * 16].reshape(-1, 16)
    low = raw[:, 9:16].astype(np.uint64)
    shifts = np.arange(48, -1, -8, dtype=np.uint64)
    return np.asarray((low << shifts).sum(axis=1, dtype=np.uint64))


class BoundedQueue:
    """FIFO of batches bounded in items; one consumer (the batcher), many producers."""

    def __init__(
        self,
        capacity: int,
        strategy: Backpressure,
        stats: PipelineStats,
        *,
        block_timeout: float = 5.0,
        sampler: AdaptiveSampler | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be > 0 items")
        if strategy not in BACKPRESSURE_STRATEGIES:
            raise ValueError(f"unknown backpressure strategy {strategy!r}; one of {', '.join(BACKPRESSURE_STRATEGIES)}")
        self.capacity = capacity
        self.strategy: Backpressure = strategy
        self.block_timeout = block_timeout
        self.sampler = (
            sampler if sampler is not None else AdaptiveSampler() if strategy == "adaptive_sampling" else None
        )
        self._stats = stats
        self._clock = clock
        self._entries: deque[Entry] = deque()
        self._depth = 0
        self._closed = False
        self._cond = threading.Condition()

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def sampling_rate(self) -> float:
        return self.sampler.rate if self.sampler is not None else 1.0

    def put(self, batch: Batch, *, timeout: float | None = None) -> int:
        """Queue ``batch`` (or the part the strategy keeps); return the items accepted."""
        n = len(batch)
        if n == 0:
            return 0
        signal = batch.SIGNAL
        with self._cond:
            if self._closed:
                raise PipelineClosedError("the pipeline is shut down; no data is accepted")
            if self.sampler is not None:
                self.sampler.observe(self._depth / self.capacity)
                mask = self.sampler.keep_mask(batch)
                if mask is not None:
                    kept = int(mask.sum())
                    self._stats.on_dropped(signal, SAMPLED_OUT, n - kept)
                    if kept == 0:
                        return 0
                    if kept < n:
                        batch, n = batch.filter(mask), kept
            if self._fits(n):
                return self._append(batch, n)
            if self.strategy == "drop_newest":
                room = self.capacity - self._depth
                self._stats.on_dropped(signal, QUEUE_FULL, n - room)
                return self._append(batch.slice(0, room), room) if room > 0 else 0
            if self.strategy == "drop_oldest":
                return self._evict_for(batch, n)
            return self._wait_for_room(batch, n, self.block_timeout if timeout is None else timeout)

    def _fits(self, n: int) -> bool:
        return self._depth + n <= self.capacity or self._depth == 0

    def _append(self, batch: Batch, n: int) -> int:
        self._entries.append(Entry(batch, n, self._clock()))
        self._depth += n
        self._stats.on_accepted(batch.SIGNAL, n)
        self._cond.notify_all()
        return n

    def _evict_for(self, batch: Batch, n: int) -> int:
        need = self._depth + n - self.capacity
        while need > 0 and self._entries:
            oldest = self._entries[0]
            if oldest.n <= need:
                self._entries.popleft()
                evicted = oldest.n
            else:
                evicted = need
                self._entries[0] = Entry(oldest.batch.slice(need), oldest.n - need, oldest.accepted_at)
            self._depth -= evicted
            need -= evicted
            self._stats.on_dropped(oldest.batch.SIGNAL, EVICTED_OLDEST, evicted)
        if need > 0 and self._depth > 0:
            # what is left is being exported and cannot be evicted: the oldest items of the
            # incoming batch go instead, keeping its newest
            self._stats.on_dropped(batch.SIGNAL, EVICTED_OLDEST, need)
            if need >= n:
                return 0
            batch, n = batch.slice(need), n - need
        return self._append(batch, n)

    def _wait_for_room(self, batch: Batch, n: int, timeout: float) -> int:
        deadline = self._clock() + timeout
        while not self._fits(n):
            remaining = deadline - self._clock()
            if remaining <= 0 or self._closed:
                self._stats.on_refused(batch.SIGNAL, {QUEUE_FULL: n})
                if self._closed:
                    raise PipelineClosedError("the pipeline shut down while the producer waited for room")
                raise BackpressureError(
                    f"queue full: {self._depth} of {self.capacity} items queued; "
                    f"{n} more did not fit within {timeout:g} s"
                )
            self._cond.wait(remaining)
        return self._append(batch, n)

    def get(self, timeout: float, max_items: int) -> list[Entry]:
        """Queued entries totalling at most ``max_items`` (at least one entry if any is
        queued; none after ``timeout`` seconds). Their items still count against the
        capacity until :meth:`done`."""
        with self._cond:
            if not self._entries and not self._closed and timeout > 0:
                self._cond.wait(timeout)
            out: list[Entry] = []
            taken = 0
            while self._entries and (not out or taken + self._entries[0].n <= max_items):
                entry = self._entries.popleft()
                out.append(entry)
                taken += entry.n
            return out

    def done(self, n: int) -> None:
        """``n`` items taken by :meth:`get` have left the pipeline (exported or dropped)."""
        with self._cond:
            self._depth -= n
            self._cond.notify_all()

    def pending(self) -> bool:
        with self._cond:
            return bool(self._entries)

    def close(self) -> None:
        """Refuse new data; wake waiting producers and the consumer."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
