"""``StreamProcessor``: keyed event-time windows over span, log or metric batches with Flink's semantics.

One processor windows one signal (``signal="traces"`` by default, ``"logs"``, ``"metrics"``):
``knhk_telemetry.stream.signals`` turns a batch into event columns (event time, value, error
flag), and everything below is the same code for the three signals.

Time and firing (all integer nanoseconds):

- Event time: a span's end time (``time="start"``: its start time); a log record's time, or
  its observed time when the time is 0 (``time="observed"``); a metric data point's time
  (``time="start"``: its start time).
- Watermark, as Flink's ``BoundedOutOfOrdernessWatermarks``: ``max event time seen -
  out_of_orderness - 1``. It advances after each batch (Flink emits it periodically; here the
  batch is the period), so every event of a batch is judged against the watermark of the
  batches before it.
- A window ``[start, end)`` fires when ``watermark >= end - 1`` (Flink's ``EventTimeTrigger``:
  ``maxTimestamp <= watermark``). Its state is kept until ``watermark >= end - 1 +
  allowed_lateness``; a late event for a fired, kept window re-emits that window's result for
  the event's key, flagged ``late`` with ``update`` counting the firings. An event whose every
  window is already purged goes to :meth:`StreamProcessor.late_data` and is counted (Flink's
  late side output); nothing is dropped silently.
- Idle source (``idle_timeout`` > 0, processing time from the injectable ``clock``): when no
  event arrived for at least ``idle_timeout``, :meth:`StreamProcessor.on_idle` assumes event
  time moved on with processing time and sets the watermark to ``max event time seen +
  idle time - out_of_orderness - 1``, so the last windows fire without new data.
- ``domain="processing"``: every event of a batch gets the clock's time on arrival; windows
  fire once the clock passes their end (on the next ``process`` or ``on_idle``).
- :meth:`StreamProcessor.flush` (end of input) fires and purges everything.

Tumbling and sliding windows keep one partial aggregate per *pane* of ``gcd(size, slide)``
and merge a window's panes when it fires; sessions keep one partial per open session and
merge sessions that come to overlap or touch. Keys beyond ``max_keys`` per window fold into
one overflow key (``overflow=True`` with ``overflow_keys`` distinct keys counted).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, Literal, TypeVar, overload

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from knhk_telemetry.model.batch import Batch, LogBatch, MetricBatch, SpanBatch
from knhk_telemetry.stream._kernels import interval_groups
from knhk_telemetry.stream.aggregates import Aggregates, Partial, custom_values, value_buckets
from knhk_telemetry.stream.keys import KeyTable, batch_keys, numeric_column
from knhk_telemetry.stream.signals import SIGNALS, SignalName, TimeField, extract
from knhk_telemetry.stream.windows import Session, Sliding, Tumbling, WindowSpec, window_start

__all__ = ["OVERFLOW_KEY", "StreamProcessor", "WindowConfig"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
_MIN = np.iinfo(np.int64).min
_MAX = np.iinfo(np.int64).max
_TIMES = ("end", "start", "time", "observed")
B = TypeVar("B", bound=Batch)
#: key id of the overflow key (keys beyond ``max_keys`` of a window)
OVERFLOW_KEY = -1


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowConfig:
    """How windows are cut and when they fire. Durations are integer nanoseconds."""

    window: WindowSpec
    # which timestamp is the event time; None: the signal's default (spans "end", logs and
    # metrics "time"); spans: "end" | "start", logs: "time" | "observed", metrics: "time" | "start"
    time: TimeField | None = None
    domain: Literal["event", "processing"] = "event"
    out_of_orderness: int = 0  # watermark lag behind the max event time seen; 0 = events in order
    allowed_lateness: int = 0  # how long a fired window stays open for late events; 0 = none
    idle_timeout: int = 0  # processing time without events before the watermark advances; 0 = never
    max_keys: int = 0  # distinct keys per window before the overflow key; 0 = unlimited

    def __post_init__(self) -> None:
        if not isinstance(self.window, Tumbling | Sliding | Session):
            raise TypeError(f"WindowConfig.window must be Tumbling, Sliding or Session, got {self.window!r}")
        for name in ("out_of_orderness", "allowed_lateness", "idle_timeout", "max_keys"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"WindowConfig.{name} must be an int >= 0, got {v!r}")
        if self.time is not None and self.time not in _TIMES:
            raise ValueError(f"WindowConfig.time must be one of {', '.join(_TIMES)} or None, got {self.time!r}")
        if self.domain not in ("event", "processing"):
            raise ValueError(f"WindowConfig.domain must be 'event' or 'processing', got {self.domain!r}")


@dataclass(slots=True)
class _Events:
    """The columns of one batch that windows need, one entry per event."""

    ts: I64
    code: I64  # local key code, dense in [0, len(key_ids))
    key_ids: I64  # global key id of each local code
    val: npt.NDArray[Any] | None  # span durations (int64), metric values (float64); None for logs
    err: npt.NDArray[np.bool_] | None  # None: no errors (metrics)
    buckets: npt.NDArray[np.int32] | None  # sketch bucket of each value; None: no sketch (logs)
    custom: F64  # (n_custom, n)

    def take(self, idx: npt.NDArray[Any]) -> _Events:
        return _Events(
            self.ts[idx],
            self.code[idx],
            self.key_ids,
            None if self.val is None else self.val[idx],
            None if self.err is None else self.err[idx],
            None if self.buckets is None else self.buckets[idx],
            self.custom[:, idx],
        )


class StreamProcessor(Generic[B]):
    """Keyed tumbling, sliding or session windows over one signal's batches; see the module docstring.

    ``signal`` is what :meth:`process` takes: ``"traces"`` (SpanBatch), ``"logs"`` (LogBatch)
    or ``"metrics"`` (MetricBatch). ``group_by`` names the key dimensions (see
    ``knhk_telemetry.stream.keys``; default per signal: ``service.name, span.name, span.kind,
    status.code`` / ``service.name, severity_text`` / ``service.name, metric.name``);
    ``on_fire`` is called with each table of fired results; ``clock`` returns processing time
    in ns. The result columns depend on the signal (:meth:`result_columns`).

    >>> from knhk_telemetry.synth import synthetic_spans
    >>> p = StreamProcessor(WindowConfig(window=Tumbling(10_000_000_000)), group_by=["service.name"])
    >>> p.process(synthetic_spans(1000, services=2, spread_ns=5_000_000_000))
    >>> t = p.flush()
    >>> t.num_rows, sum(t.column("count").to_pylist())
    (2, 1000)
    """

    @overload
    def __init__(
        self: StreamProcessor[SpanBatch],
        config: WindowConfig | WindowSpec,
        *,
        signal: Literal["traces"] = "traces",
        group_by: Sequence[str] | None = None,
        aggregates: Aggregates | None = None,
        on_fire: Callable[[pa.Table], None] | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None: ...

    @overload
    def __init__(
        self: StreamProcessor[LogBatch],
        config: WindowConfig | WindowSpec,
        *,
        signal: Literal["logs"],
        group_by: Sequence[str] | None = None,
        aggregates: Aggregates | None = None,
        on_fire: Callable[[pa.Table], None] | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None: ...

    @overload
    def __init__(
        self: StreamProcessor[MetricBatch],
        config: WindowConfig | WindowSpec,
        *,
        signal: Literal["metrics"],
        group_by: Sequence[str] | None = None,
        aggregates: Aggregates | None = None,
        on_fire: Callable[[pa.Table], None] | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None: ...

    def __init__(
        self,
        config: WindowConfig | WindowSpec,
        *,
        signal: SignalName = "traces",
        group_by: Sequence[str] | None = None,
        aggregates: Aggregates | None = None,
        on_fire: Callable[[pa.Table], None] | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        if signal not in SIGNALS:
            raise ValueError(f"signal must be one of {', '.join(SIGNALS)}, got {signal!r}")
        self.signal: SignalName = signal
        self._spec = SIGNALS[signal]
        self.config = config if isinstance(config, WindowConfig) else WindowConfig(window=config)
        if self.config.time is not None and self.config.time not in self._spec.times:
            allowed = " or ".join(repr(t) for t in self._spec.times)
            raise ValueError(f"WindowConfig.time for {signal} must be {allowed}, got {self.config.time!r}")
        self._time: TimeField = self.config.time or self._spec.times[0]
        self.group_by = tuple(self._spec.default_group_by if group_by is None else group_by)
        if len(set(self.group_by)) != len(self.group_by):
            raise ValueError(f"group_by has duplicates: {list(self.group_by)}")
        self.aggregates = aggregates or Aggregates()
        self.on_fire = on_fire
        self.clock = clock
        self._nc = len(self.aggregates.custom)
        # the value columns: exact int64 span durations, float64 metric values, none for logs
        self._vdtype = np.dtype(np.float64 if self._spec.value == "value" else np.int64)
        self._track_last = self._spec.value == "value"
        self._keys = KeyTable(self.group_by)
        self._max_ts: int | None = None
        self._wm = _MIN
        self._last_arrival: int | None = None
        self._results: list[pa.Table] = []
        self._latest: pa.Table | None = None
        self._late: list[B] = []
        self.stats: dict[str, int] = {
            "events": 0,
            "late_events": 0,  # sent to late_data(): every window already purged
            "late_updates": 0,  # results re-emitted because of late events
            "dropped_window_assignments": 0,  # sliding: windows of an event that were already purged
            "unassigned_events": 0,  # sliding with slide > size: the event falls in no window
            "overflow_keys": 0,  # distinct keys folded into the overflow key (per window)
            "windows_fired": 0,
        }
        if self.signal == "metrics":
            self.stats["non_number_points"] = 0  # histogram, exponential histogram, summary: skipped
            self.stats["no_value_points"] = 0  # value unset, NO_RECORDED_VALUE, nan or inf: skipped
        w = self.config.window
        self._session = isinstance(w, Session)
        if isinstance(w, Tumbling | Sliding):
            self._size, self._slide, self._offset = w.size, w.slide, w.offset
            self._pane = math.gcd(w.size, w.slide)
        else:
            self._size = self._slide = self._offset = self._pane = 0
        self._panes: dict[int, Partial] = {}
        self._folded: dict[int, I64] = {}  # pane start -> key ids folded into the overflow key
        # fired window start -> (key ids, times fired per key), kept until the window is purged
        self._fired: dict[int, tuple[I64, I64]] = {}
        self._purged_wm = _MIN  # windows with end - 1 + allowed_lateness <= this are gone for good
        self._dirty: dict[int, set[int]] = {}  # fired window start -> key ids changed by late events
        # sessions: a partial whose ids are session ids, and per-session metadata in id order
        self._sess = self._empty_partial()
        self._skey = np.zeros(0, dtype=np.int64)
        self._sstart = np.zeros(0, dtype=np.int64)
        self._send = np.zeros(0, dtype=np.int64)
        self._sfires = np.zeros(0, dtype=np.int64)
        self._sdirty = np.zeros(0, dtype=np.bool_)
        self._next_sid = 0

    # ------------------------------------------------------------------ public API
    @property
    def watermark(self) -> int | None:
        """The current watermark in ns (``None`` before any event)."""
        return None if self._wm == _MIN else self._wm

    @property
    def keys(self) -> KeyTable:
        return self._keys

    def process(self, batch: B) -> None:
        """Add a batch: assign its events to windows, then advance the watermark and fire."""
        if not isinstance(batch, self._spec.batch_type):
            raise TypeError(
                f"StreamProcessor(signal={self.signal!r}) takes a {self._spec.batch_type.__name__}, "
                f"got {type(batch).__name__}"
            )
        now = self.clock()
        ev, rows = self._events(batch, now)
        n = ev.ts.size
        if n == 0:
            self._advance(now)
            return
        self._last_arrival = now
        self.stats["events"] += n
        late = self._insert(ev)
        if late.any():
            if rows is not None:
                mask = np.zeros(len(batch), dtype=np.bool_)
                mask[rows[late]] = True
                late = mask
            self._late.append(batch.filter(late))
        if self.config.domain == "event":
            self._max_ts = int(ev.ts.max()) if self._max_ts is None else max(self._max_ts, int(ev.ts.max()))
            self._set_watermark(self._max_ts - self.config.out_of_orderness - 1)
        self._advance(now)

    def on_idle(self) -> pa.Table:
        """Advance time from the clock alone (see the module docstring); returns what fired."""
        return self._advance(self.clock())

    def advance_watermark(self, watermark: int) -> pa.Table:
        """Move the event-time watermark to ``watermark`` (never backwards) and fire; returns what fired."""
        self._set_watermark(int(watermark))
        return self._fire()

    def flush(self) -> pa.Table:
        """End of input: fire every window still open and drop all state; returns what fired."""
        self._wm = _MAX - 1 - self.config.allowed_lateness
        out = self._fire()
        self._wm = _MAX
        self._purge()
        return out

    def get_results(self, *, clear: bool = True) -> pa.Table:
        """Every result emitted since the last call (``clear=False``: keep them)."""
        out = pa.concat_tables(self._results) if self._results else self._empty_results()
        if clear:
            self._results = []
        return out

    def latest(self) -> pa.Table:
        """The most recent result of each key (its latest window, last update)."""
        return self._latest if self._latest is not None else self._empty_results()

    def late_data(self, *, clear: bool = False) -> B:
        """The late events (every window already purged) seen so far, as one batch of the signal."""
        kind: Any = self._spec.batch_type
        out: B = kind.concat(self._late) if self._late else kind.empty()
        if clear:
            self._late = []
        return out

    def result_columns(self) -> list[str]:
        """The columns of this processor's result tables, in order (they depend on the signal)."""
        return list(self._empty_results().column_names)

    def snapshot(self) -> dict[str, Any]:
        """The window state as plain data (key tuples instead of ids), for :meth:`merge` elsewhere."""

        def part(p: Partial, key_ids: I64) -> dict[str, Any]:
            offsets, ub, uc = p.reduce()
            return {
                "keys": [self._key_tuple(int(i)) for i in key_ids],
                "ids": p.ids.copy(),
                "count": p.count.copy(),
                "errors": p.errors.copy(),
                "dsum": p.dsum.copy(),
                "dmin": p.dmin.copy(),
                "dmax": p.dmax.copy(),
                "csum": p.csum.copy(),
                "cmin": p.cmin.copy(),
                "cmax": p.cmax.copy(),
                "cn": p.cn.copy(),
                "offsets": offsets,
                "buckets": ub,
                "bucket_counts": uc,
                "last_ts": None if p.last_ts is None else p.last_ts.copy(),
                "last_val": None if p.last_val is None else p.last_val.copy(),
            }

        state: dict[str, Any] = {
            "signal": self.signal,
            "config": self.config,
            "group_by": self.group_by,
            "aggregates": self.aggregates,
            "max_ts": self._max_ts,
            "watermark": self._wm,
            "fired": {ws: ([self._key_tuple(int(i)) for i in ids], f.copy()) for ws, (ids, f) in self._fired.items()},
            "panes": {ps: part(p, p.ids) for ps, p in self._panes.items()},
            "folded": {ps: [self._key_tuple(int(i)) for i in f] for ps, f in self._folded.items()},
        }
        if self._session:
            sp = part(self._sess, self._skey)
            state["sessions"] = {
                "partial": sp,
                "start": self._sstart.copy(),
                "end": self._send.copy(),
                "fires": self._sfires.copy(),
            }
        return state

    def merge(self, state: dict[str, Any]) -> None:
        """Merge another processor's :meth:`snapshot` (same windows, keys and aggregates) into this one.

        Pane aggregates add up, sessions merge where they overlap or touch; the watermark becomes
        the smaller of the two, as a downstream Flink operator takes the minimum of its inputs.
        """
        if state.get("signal", "traces") != self.signal:
            raise ValueError(f"merge: the snapshot windows {state.get('signal', 'traces')}, not {self.signal}")
        if state["config"].window != self.config.window or tuple(state["group_by"]) != self.group_by:
            raise ValueError("merge: the snapshot has other windows or group_by")
        if state["aggregates"] != self.aggregates:
            raise ValueError("merge: the snapshot has other aggregates")
        if state["max_ts"] is not None:
            self._max_ts = state["max_ts"] if self._max_ts is None else max(self._max_ts, state["max_ts"])
            self._wm = state["watermark"] if self._wm == _MIN else min(self._wm, state["watermark"])
        for ws, (kt, their_fires) in state["fired"].items():
            ids = self._keys.ids_of(kt)
            order = np.argsort(ids)
            ids, f = ids[order], np.asarray(their_fires, np.int64)[order]
            mine = self._fired.get(ws)
            self._fired[ws] = _store(mine, ids, np.maximum(f, _lookup(mine, ids)))
        for ps, sp in state["panes"].items():
            p = self._partial_from_state(sp, self._keys.ids_of(sp["keys"]))
            self._panes[ps] = Partial.merge([self._panes[ps], p], self._nc) if ps in self._panes else p
        for ps, folded in state["folded"].items():
            self._folded[ps] = np.union1d(self._folded.get(ps, np.zeros(0, np.int64)), self._keys.ids_of(folded))
        if self._session and "sessions" in state:
            s = state["sessions"]
            sp = s["partial"]
            m = len(sp["keys"])
            p = self._partial_from_state(sp, np.arange(m, dtype=np.int64))
            self._merge_sessions(self._keys.ids_of(sp["keys"]), s["start"], s["end"], p, s["fires"])

    # ------------------------------------------------------------------ ingestion
    def _events(self, batch: Batch, now: int) -> tuple[_Events, npt.NDArray[np.int64] | None]:
        """The batch's events (the signal's front, then keys and custom columns) and their item rows."""
        ex = extract(batch, self._spec, self._time)
        for reason, n in ex.skipped.items():
            self.stats[reason] += n
        rows = ex.rows
        n = ex.ts.size
        ts = np.full(n, now, dtype=np.int64) if self.config.domain == "processing" else ex.ts
        if n == 0:
            code, key_ids = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        else:
            code, key_ids = batch_keys(batch, self.group_by, self._keys, rows)
        custom = np.empty((self._nc, n))
        for i, c in enumerate(self.aggregates.custom):
            col = numeric_column(batch, c.source)
            custom[i] = col if rows is None else col[rows]
        return _Events(ts, code, key_ids, ex.values, ex.errors, self._buckets(ex.values), custom), rows

    def _buckets(self, values: npt.NDArray[Any] | None) -> npt.NDArray[np.int32] | None:
        return None if values is None else value_buckets(values, self.aggregates.scale)

    def process_events(
        self,
        *,
        ts: I64,
        key_codes: I64,
        key_ids: I64,
        durations: I64,
        errors: npt.NDArray[np.bool_],
        custom: F64 | None = None,
    ) -> npt.NDArray[np.bool_]:
        """Column-level ingestion (for callers that already have keys); returns the late mask.

        ``key_codes`` index ``key_ids`` (ids from :attr:`keys`); event time is ``ts`` even in
        processing-time mode. ``durations`` are the event values (metric values for
        ``signal="metrics"``, ignored for logs). The watermark and firing work as in :meth:`process`.
        """
        n = ts.size
        val = None if self._spec.value == "none" else np.asarray(durations, dtype=self._vdtype)
        ev = _Events(
            np.asarray(ts, dtype=np.int64),
            np.asarray(key_codes, dtype=np.int64),
            np.asarray(key_ids, dtype=np.int64),
            val,
            np.asarray(errors, dtype=np.bool_) if self._spec.errors else None,
            self._buckets(val),
            np.empty((self._nc, n)) if custom is None else np.asarray(custom, dtype=np.float64).reshape(self._nc, n),
        )
        now = self.clock()
        self._last_arrival = now
        self.stats["events"] += n
        late = self._insert(ev) if n else np.zeros(0, dtype=np.bool_)
        if n:
            self._max_ts = int(ev.ts.max()) if self._max_ts is None else max(self._max_ts, int(ev.ts.max()))
            self._set_watermark(self._max_ts - self.config.out_of_orderness - 1)
        self._advance(now)
        return late

    def _set_watermark(self, wm: int) -> None:
        self._wm = max(self._wm, wm)

    def _advance(self, now: int) -> pa.Table:
        cfg = self.config
        if cfg.domain == "processing":
            self._set_watermark(now - 1)
        elif cfg.idle_timeout and self._max_ts is not None and self._last_arrival is not None:
            idle = now - self._last_arrival
            if idle >= cfg.idle_timeout:
                self._set_watermark(self._max_ts + idle - cfg.out_of_orderness - 1)
        return self._fire()

    def _insert(self, ev: _Events) -> npt.NDArray[np.bool_]:
        return self._insert_sessions(ev) if self._session else self._insert_panes(ev)

    # ------------------------------------------------------------------ tumbling / sliding
    def _insert_panes(self, ev: _Events) -> npt.NDArray[np.bool_]:
        size, slide, al, wm = self._size, self._slide, self.config.allowed_lateness, self._wm
        last = window_start(ev.ts, self._offset, slide)
        unassigned = last + size <= ev.ts  # slide > size: the gap between windows
        late = ~unassigned & (last + size - 1 + al <= wm) if wm != _MIN else np.zeros(ev.ts.size, np.bool_)
        if unassigned.any():
            self.stats["unassigned_events"] += int(unassigned.sum())
        n_late = int(late.sum())
        self.stats["late_events"] += n_late
        keep = ~(late | unassigned)
        if wm != _MIN and size > slide:
            # windows of kept events that are already purged (the oldest ones of a sliding window)
            oldest = last - ((size - 1 - np.mod(ev.ts - self._offset, slide)) // slide) * slide
            partial = keep & (oldest + size - 1 + al <= wm)
            if partial.any():
                starts = last[partial][:, None] - np.arange(-(-size // slide))[None, :] * slide
                valid = starts > (ev.ts[partial] - size)[:, None]
                self.stats["dropped_window_assignments"] += int((valid & (starts + size - 1 + al <= wm)).sum())
        sel = ev if keep.all() else ev.take(np.flatnonzero(keep))
        if sel.ts.size == 0:
            return late
        pane = (sel.ts - self._offset) // self._pane
        lo, hi = int(pane.min()), int(pane.max())
        k = sel.key_ids.size
        if lo == hi:
            groups: list[tuple[int, _Events]] = [(lo, sel)]
        elif hi - lo < 8:
            groups = [(p, sel.take(np.flatnonzero(pane == p))) for p in range(lo, hi + 1)]
        else:
            order = np.argsort(pane, kind="stable")
            ps = pane[order]
            cuts = np.flatnonzero(np.diff(ps)) + 1
            groups = [(int(ps[a]), sel.take(order[a:b])) for a, b in zip([0, *cuts], [*cuts, ps.size], strict=True)]
        for p, g in groups:
            if g.ts.size == 0:
                continue
            ps_start = self._offset + p * self._pane
            new = Partial.from_codes(
                code=g.code,
                n_codes=k,
                code_ids=g.key_ids,
                durations=g.val,
                errors=g.err,
                buckets=g.buckets,
                custom=g.custom,
                times=g.ts if self._track_last else None,
            )
            old = self._panes.get(ps_start)
            new = self._limit_pane(ps_start, old, new)
            merged = Partial.merge([old, new], self._nc) if old is not None else new
            merged.compact_if_large()
            self._panes[ps_start] = merged
            if self._fired:
                for ws in self._windows_of_pane(ps_start):
                    if ws in self._fired:
                        self._dirty.setdefault(ws, set()).update(int(i) for i in new.ids)
        return late

    def _limit_pane(self, ps: int, old: Partial | None, new: Partial) -> Partial:
        cap = self.config.max_keys
        if not cap:
            return new
        have = old.ids[old.ids != OVERFLOW_KEY] if old is not None else np.zeros(0, np.int64)
        fresh = ~np.isin(new.ids, have) & (new.ids != OVERFLOW_KEY)
        room = max(cap - have.size, 0)
        fresh_pos = np.flatnonzero(fresh)
        if fresh_pos.size <= room:
            return new
        fold = fresh_pos[room:]
        folded = new.ids[fold]
        before = self._folded.get(ps, np.zeros(0, np.int64))
        self._folded[ps] = np.union1d(before, folded)
        new_ids = new.ids.copy()
        new_ids[fold] = OVERFLOW_KEY
        return new.relabel(new_ids, self._nc)

    def _windows_of_pane(self, ps: int) -> list[int]:
        last = int(window_start(np.array([ps]), self._offset, self._slide)[0])
        out = []
        s = last
        while s > ps - self._size:
            out.append(s)
            s -= self._slide
        return out

    def _fire_panes(self) -> list[pa.Table]:
        wm, size, al = self._wm, self._size, self.config.allowed_lateness
        due: set[int] = set()
        for ps in self._panes:
            for ws in self._windows_of_pane(ps):
                if ws + size - 1 + al <= self._purged_wm:
                    continue  # purged: a late event only updates the newer windows of its pane
                if ws + size - 1 <= wm and (ws not in self._fired or ws in self._dirty):
                    due.add(ws)
        out = []
        for ws in sorted(due):
            keys = self._dirty.pop(ws, None)
            prev = self._fired.get(ws)
            panes = [self._panes[p] for p in range(ws, ws + size, self._pane) if p in self._panes]
            merged = Partial.merge(panes, self._nc)
            folded = [self._folded[p] for p in range(ws, ws + size, self._pane) if p in self._folded]
            merged, n_folded = self._limit_window(merged, folded)
            if keys is not None:
                merged = merged.select(np.isin(merged.ids, np.fromiter(keys, np.int64, len(keys))))
                self.stats["late_updates"] += merged.rows
            else:
                self.stats["overflow_keys"] += n_folded
                self.stats["windows_fired"] += 1
            fires = _lookup(prev, merged.ids)
            if merged.rows:
                n = merged.rows
                out.append(
                    self._table(
                        merged, np.full(n, ws), np.full(n, ws + size), merged.ids, prev is not None, fires, n_folded
                    )
                )
            self._fired[ws] = _store(prev, merged.ids, fires + 1)
        self._purge()
        return out

    def _limit_window(self, merged: Partial, folded: list[I64]) -> tuple[Partial, int]:
        cap = self.config.max_keys
        all_folded = np.unique(np.concatenate(folded)) if folded else np.zeros(0, np.int64)
        if not cap:
            return merged, 0
        real = np.flatnonzero(merged.ids != OVERFLOW_KEY)
        if real.size > cap:
            extra = real[cap:]
            all_folded = np.union1d(all_folded, merged.ids[extra])
            ids = merged.ids.copy()
            ids[extra] = OVERFLOW_KEY
            merged = merged.relabel(ids, self._nc)
        return merged, int(all_folded.size)

    def _purge(self) -> None:
        wm, size, al = self._wm, self._size, self.config.allowed_lateness
        if self._session:
            gone = self._send - 1 + al <= wm
            if gone.any():
                keep = ~gone
                self._sess = self._sess.select(keep)
                self._skey, self._sstart, self._send = self._skey[keep], self._sstart[keep], self._send[keep]
                self._sfires, self._sdirty = self._sfires[keep], self._sdirty[keep]
            return
        self._purged_wm = max(self._purged_wm, wm)
        for ws in [w for w in self._fired if w + size - 1 + al <= wm]:
            del self._fired[ws]
            self._dirty.pop(ws, None)
        for ps in list(self._panes):
            newest = self._windows_of_pane(ps)[0]
            if newest + size - 1 + al <= wm:
                del self._panes[ps]
                self._folded.pop(ps, None)

    # ------------------------------------------------------------------ sessions
    def _insert_sessions(self, ev: _Events) -> npt.NDArray[np.bool_]:
        gap, al, wm = self.config.window.gap, self.config.allowed_lateness, self._wm  # type: ignore[union-attr]
        kid = ev.key_ids[ev.code]
        late = np.zeros(ev.ts.size, dtype=np.bool_)
        cand = np.flatnonzero(ev.ts + gap - 1 + al <= wm) if wm != _MIN else np.zeros(0, np.int64)
        if cand.size:
            # late unless its window [ts, ts + gap) overlaps or touches a live session of its key
            m = self._skey.size
            key = np.concatenate([self._skey, kid[cand]])
            start = np.concatenate([self._sstart, ev.ts[cand]])
            end = np.concatenate([self._send, ev.ts[cand] + gap])
            order = np.lexsort((start, key))
            grp = interval_groups(key[order], start[order], end[order])
            live_in = np.zeros(int(grp.max()) + 1 if grp.size else 0, dtype=np.bool_)
            live_in[grp[order < m]] = True
            rank = np.empty_like(order)
            rank[order] = np.arange(order.size)
            late[cand[~live_in[grp[rank[m:]]]]] = True
        n_late = int(late.sum())
        self.stats["late_events"] += n_late
        sel = ev.take(np.flatnonzero(~late)) if n_late else ev
        if sel.ts.size == 0:
            return late
        # batch-local sessions: sort by (key, ts), break where the key changes or the gap is exceeded
        skid = sel.key_ids[sel.code]
        order = _order_by_key_time(skid, sel.ts)
        k_sorted, t_sorted = skid[order], sel.ts[order]
        brk = np.ones(order.size, dtype=np.bool_)
        brk[1:] = (k_sorted[1:] != k_sorted[:-1]) | (t_sorted[1:] - t_sorted[:-1] > gap)
        sid_sorted = np.cumsum(brk) - 1
        local = np.empty(order.size, dtype=np.int64)
        local[order] = sid_sorted
        n_new = int(sid_sorted[-1]) + 1
        heads = np.flatnonzero(brk)
        new_key = k_sorted[heads]
        new_start = t_sorted[heads]
        new_end = np.maximum.reduceat(t_sorted, heads) + gap
        part = Partial.from_codes(
            code=local,
            n_codes=n_new,
            code_ids=np.arange(n_new, dtype=np.int64),
            durations=sel.val,
            errors=sel.err,
            buckets=sel.buckets,
            custom=sel.custom,
            times=sel.ts if self._track_last else None,
        )
        self._merge_sessions(new_key, new_start, new_end, part, np.zeros(n_new, dtype=np.int64))
        return late

    def _merge_sessions(self, new_key: I64, new_start: I64, new_end: I64, part: Partial, new_fires: I64) -> None:
        """Merge new sessions (``part`` rows ``0..m-1``) with the open ones where they overlap or touch."""
        m_old = self._skey.size
        key = np.concatenate([self._skey, np.asarray(new_key, np.int64)])
        start = np.concatenate([self._sstart, np.asarray(new_start, np.int64)])
        end = np.concatenate([self._send, np.asarray(new_end, np.int64)])
        fires = np.concatenate([self._sfires, np.asarray(new_fires, np.int64)])
        order = _order_by_key_time(key, start)
        grp_sorted = interval_groups(key[order], start[order], end[order])
        grp = np.empty_like(grp_sorted)
        grp[order] = grp_sorted
        n_groups = int(grp_sorted[-1]) + 1
        g_start = np.full(n_groups, _MAX, dtype=np.int64)
        np.minimum.at(g_start, grp, start)
        g_end = np.full(n_groups, _MIN, dtype=np.int64)
        np.maximum.at(g_end, grp, end)
        g_key = np.zeros(n_groups, dtype=np.int64)
        g_key[grp] = key
        g_fires = np.zeros(n_groups, dtype=np.int64)
        np.maximum.at(g_fires, grp, fires)
        g_sid = np.full(n_groups, _MAX, dtype=np.int64)
        np.minimum.at(g_sid, grp[:m_old], self._sess.ids)
        g_members = np.bincount(grp, minlength=n_groups)
        fresh = g_sid == _MAX
        g_sid[fresh] = np.arange(self._next_sid, self._next_sid + int(fresh.sum()), dtype=np.int64)
        self._next_sid += int(fresh.sum())
        g_touched = (g_members > 1) | fresh
        old_part = self._sess.relabel(g_sid[grp[:m_old]], self._nc) if m_old else self._sess
        new_part = part.relabel(g_sid[grp[m_old:]], self._nc)
        self._sess = Partial.merge([old_part, new_part], self._nc)
        self._sess.compact_if_large()
        order_sid = np.argsort(g_sid)
        self._skey = g_key[order_sid]
        self._sstart = g_start[order_sid]
        self._send = g_end[order_sid]
        self._sfires = g_fires[order_sid]
        dirty_before = np.zeros(n_groups, dtype=np.bool_)
        if m_old:
            np.logical_or.at(dirty_before, grp[:m_old], self._sdirty)
        self._sdirty = (dirty_before | g_touched)[order_sid]

    def _fire_sessions(self) -> list[pa.Table]:
        due = (self._send - 1 <= self._wm) & self._sdirty
        if not due.any():
            self._purge()
            return []
        sel = self._sess.select(due)
        fires = self._sfires[due]
        late = fires > 0
        self.stats["late_updates"] += int(late.sum())
        self.stats["windows_fired"] += int((~late).sum())
        out = self._table(sel, self._sstart[due], self._send[due], self._skey[due], late, fires, 0)
        self._sfires[due] += 1
        self._sdirty[due] = False
        self._purge()
        return [out]

    # ------------------------------------------------------------------ results
    def _fire(self) -> pa.Table:
        if self._wm == _MIN:
            return self._empty_results()
        tables = self._fire_sessions() if self._session else self._fire_panes()
        if not tables:
            return self._empty_results()
        out = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        self._results.append(out)
        self._update_latest(out)
        if self.on_fire is not None:
            self.on_fire(out)
        return out

    def _update_latest(self, new: pa.Table) -> None:
        both = pa.concat_tables([self._latest, new]) if self._latest is not None else new
        kid = both.column("key_id").to_numpy()
        end = both.column("window_end_ns").to_numpy()
        # per key: the row with the latest window end, the last emitted among equals
        order = np.lexsort((np.arange(kid.size), end, kid))
        last = np.flatnonzero(np.append(kid[order][1:] != kid[order][:-1], True))
        self._latest = both.take(pa.array(np.sort(order[last])))

    def _key_tuple(self, key_id: int) -> tuple[Any, ...]:
        return ("__overflow__",) if key_id == OVERFLOW_KEY else self._keys.keys[key_id]

    def _partial_from_state(self, sp: dict[str, Any], ids: I64) -> Partial:
        m = ids.size
        offsets = np.asarray(sp["offsets"], dtype=np.int64)
        p = Partial(
            ids,
            sp["count"],
            sp["errors"],
            sp["dsum"],
            sp["dmin"],
            sp["dmax"],
            sp["csum"],
            sp["cmin"],
            sp["cmax"],
            sp["cn"],
        )
        if sp.get("last_ts") is not None:
            p.last_ts = np.asarray(sp["last_ts"], dtype=np.int64)
            p.last_val = np.asarray(sp["last_val"], dtype=self._vdtype)
        if self._spec.value != "none":
            p.pair_ids = [np.repeat(ids, np.diff(offsets))] if m else []
            p.pair_buckets = [np.asarray(sp["buckets"], dtype=np.int32)] if m else []
            p.pair_counts = [np.asarray(sp["bucket_counts"], dtype=np.int64)] if m else []
        return Partial.merge([p], self._nc)

    def _key_columns(self, key_ids: I64) -> dict[str, pa.Array]:
        cols: dict[str, pa.Array] = {}
        keys = [None if i == OVERFLOW_KEY else self._keys.keys[int(i)] for i in key_ids]
        for d, name in enumerate(self.group_by):
            vals = [k[d] if k is not None else None for k in keys]
            try:
                cols[name] = pa.array(vals)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                cols[name] = pa.array([None if v is None else str(v) for v in vals], pa.string())
        return cols

    def _table(  # noqa: PLR0917 - internal, called positionally from three places
        self,
        p: Partial,
        start: I64,
        end: I64,
        key_ids: I64,
        late: bool | npt.NDArray[np.bool_],
        update: int | I64,
        n_folded: int,
    ) -> pa.Table:
        n = p.rows
        count = p.count
        overflow = np.asarray(key_ids) == OVERFLOW_KEY
        seconds = (np.asarray(end) - np.asarray(start)) / 1e9
        cols: dict[str, Any] = {
            "window_start_ns": pa.array(np.asarray(start, np.int64)),
            "window_end_ns": pa.array(np.asarray(end, np.int64)),
            "key_id": pa.array(np.asarray(key_ids, np.int64)),
            **self._key_columns(np.asarray(key_ids)),
            "overflow": pa.array(overflow),
            "overflow_keys": pa.array(np.where(overflow, n_folded, 0).astype(np.int64)),
            "count": pa.array(count),
        }
        if self._spec.errors:
            cols["error_count"] = pa.array(p.errors)
            cols["error_rate"] = pa.array(p.errors / count)
        if self._spec.value == "duration":
            cols["sum_duration_ns"] = pa.array(p.dsum)
            cols["avg_duration_ns"] = pa.array(p.dsum / count)
            cols["min_duration_ns"] = pa.array(p.dmin)
            cols["max_duration_ns"] = pa.array(p.dmax)
        elif self._spec.value == "value":
            cols["sum_value"] = pa.array(p.dsum, pa.float64())
            cols["avg_value"] = pa.array(p.dsum / count, pa.float64())
            cols["min_value"] = pa.array(p.dmin, pa.float64())
            cols["max_value"] = pa.array(p.dmax, pa.float64())
            last_val = p.last_val if p.last_val is not None else np.full(n, np.nan)
            last_ts = p.last_ts if p.last_ts is not None else np.zeros(n, np.int64)
            cols["last_value"] = pa.array(last_val, pa.float64())
            cols["last_time_unix_nano"] = pa.array(last_ts, pa.int64())
        if self._spec.value != "none":
            q = p.quantiles(self.aggregates.quantiles, self.aggregates.scale)
            for j, name in enumerate(self._quantile_names()):
                cols[name] = pa.array(q[:, j])
        cols["throughput_per_s"] = pa.array(count / seconds)
        for i, c in enumerate(self.aggregates.custom):
            cols[c.name] = pa.array(custom_values(p, i, c.fn), pa.float64() if c.fn != "count" else pa.int64())
        cols["late"] = pa.array(np.broadcast_to(np.asarray(late, np.bool_), (n,)).copy())
        cols["update"] = pa.array(np.broadcast_to(np.asarray(update, np.int64), (n,)).copy())
        return pa.table(cols)

    def _quantile_names(self) -> list[str]:
        """``p50_ns``... for span durations, ``p50_value``... for metric values."""
        names = self.aggregates.quantile_names()
        return names if self._spec.value == "duration" else [q.removesuffix("_ns") + "_value" for q in names]

    def _empty_partial(self) -> Partial:
        return Partial.empty(self._nc, self._vdtype, track_last=self._track_last)

    def _empty_results(self) -> pa.Table:
        p = self._empty_partial()
        z = np.zeros(0, np.int64)
        return self._table(p, z, z, z, False, 0, 0)

    def with_config(self, **changes: Any) -> StreamProcessor[B]:
        """A fresh processor with some config fields changed (same keys, aggregates, callback)."""
        factory: Any = StreamProcessor  # the overloads bind B from a literal signal; self.signal is not one
        out: StreamProcessor[B] = factory(
            replace(self.config, **changes),
            signal=self.signal,
            group_by=self.group_by,
            aggregates=self.aggregates,
            on_fire=self.on_fire,
            clock=self.clock,
        )
        return out


def _lookup(prev: tuple[I64, I64] | None, ids: I64) -> I64:
    """Times fired of each key id in ``ids`` (0 where unknown)."""
    if prev is None or prev[0].size == 0:
        return np.zeros(ids.size, dtype=np.int64)
    known, fires = prev
    pos = np.minimum(np.searchsorted(known, ids), known.size - 1)
    out: I64 = np.where(known[pos] == ids, fires[pos], 0)
    return out


def _store(prev: tuple[I64, I64] | None, ids: I64, fires: I64) -> tuple[I64, I64]:
    """``prev`` with the fire counts of ``ids`` set to ``fires`` (ids sorted in the result)."""
    if prev is None:
        return ids.copy(), fires.astype(np.int64)
    all_ids = np.concatenate([prev[0], ids])
    all_f = np.concatenate([prev[1], fires])
    uniq, last = np.unique(all_ids[::-1], return_index=True)  # the later entry (ids) wins
    return uniq, all_f[::-1][last]


def _order_by_key_time(key: I64, t: I64) -> I64:
    """Indices sorting by ``(key, t)``: one argsort of a packed int64 when it fits, else lexsort."""
    if key.size == 0:
        return np.zeros(0, dtype=np.int64)
    k0, k1 = int(key.min()), int(key.max())
    t0, t1 = int(t.min()), int(t.max())
    span = t1 - t0 + 1
    if k0 >= -1 and (k1 + 2) * span < (1 << 62):
        out: I64 = np.argsort((key + 1) * span + (t - t0), kind="stable").astype(np.int64)
        return out
    return np.lexsort((t, key)).astype(np.int64)
