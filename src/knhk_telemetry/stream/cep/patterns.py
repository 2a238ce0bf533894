"""CEP patterns: what a rule looks for in the matched events of one partition key.

Time
    Event time is the span's end time (or start time: ``CepEngine(event_time="start")``).
    The engine keeps one watermark for all rules, as Flink's bounded-out-of-orderness
    generator does: ``watermark = max event time seen - out_of_orderness``, meaning "no
    event before the watermark is still expected". Events before the watermark when they
    arrive are *late*: counted per rule (``late_events_total``) and ignored. A window
    ``[start, end)`` closes when the watermark reaches ``end``; a timer at ``t`` (an absence
    deadline, a heartbeat's ``last seen + within``) fires when the watermark passes ``t``
    (an event exactly at ``t`` is still in time); buffered events are processed once the
    watermark reaches them; ``CepEngine.flush()`` moves it to the end
    of time (end of input). Without new events the watermark stands still;
    ``CepEngine.advance(now)`` moves it with processing time after ``idle_timeout`` (so an idle
    stream still fires its absence timers), and ``Absence(time_domain="processing")`` uses
    arrival (processing) time only, fired by ``advance``.

Threshold patterns (vectorised)
    ``CountThreshold`` and ``RateThreshold`` count matches per partition and time bucket of
    ``resolution`` (default ``within / 10``) with numpy and evaluate sliding windows of
    ``W = within // resolution`` buckets by cumulative sums: Flink's sliding window of size
    ``W·resolution`` and slide ``resolution``. Every burst that fits in
    ``within - resolution`` is caught, and every alert is backed by a real window; a smaller
    resolution approaches an exact per-event sliding window. A window that fires *consumes*
    its buckets: later windows of that key count only buckets after its end, so a persistent
    condition alerts once per window, not once per slide. ``CountThreshold`` fires as soon
    as a window reaches ``count`` (counts only grow); ``RateThreshold`` fires when the
    watermark closes a window (a rate can still fall).

Sequential patterns
    ``Sequence``, ``FollowedBy``, ``AllOf``, ``Absence`` and ``Consecutive`` buffer the few
    matched events (as numpy columns) until the watermark passes them, then process them in
    event-time order, as Flink CEP does. Only events that match one of the pattern's matchers
    are ever looked at; Python runs per matched event only in the state machines
    (``Sequence``, ``AllOf``, ``Absence`` with a ``then``), ``Consecutive`` and the heartbeat
    flavour of ``Absence`` are vectorised.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from knhk_telemetry.model.schema import StatusCode
from knhk_telemetry.stream.cep._columns import Array, BatchView
from knhk_telemetry.stream.cep.matchers import EventMatcher, Status

NS = 1_000_000_000
END_OF_TIME = np.iinfo(np.int64).max - 1
Contiguity = Literal["strict", "relaxed"]
TimeDomain = Literal["event", "processing"]
_BIG = 1 << 32
_ORIGIN_SHIFT = 1 << 31


def _ns(seconds: float, what: str, *, positive: bool = True) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
        raise ValueError(f"{what} must be a number of seconds, got {seconds!r}")
    ns = round(seconds * NS)
    if ns < 0 or (positive and ns == 0):
        raise ValueError(f"{what} must be {'> 0' if positive else '>= 0'} seconds, got {seconds!r}")
    return ns


def _positive_int(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be an integer >= 1, got {value!r}")
    return value


# ----------------------------------------------------------------------------------- results
@dataclass(frozen=True, slots=True)
class EventRef:
    """One matched span as an alert describes it."""

    name: str
    span_id: str  # hex
    trace_id: str  # hex
    time_unix_nano: int
    attributes: Mapping[str, Any] = field(default_factory=dict)  # the rule's captured fields


@dataclass(slots=True)
class Fire:
    """A pattern that fired for one partition (the engine turns it into an ``Alert``)."""

    pid: int
    time_unix_nano: int
    count: int = 0
    errors: int | None = None
    window_start_unix_nano: int | None = None
    window_end_unix_nano: int | None = None
    events: list[EventRef] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Events:
    """The events of one batch that matched any of a rule's matchers (rows of ``view``)."""

    view: BatchView
    rows: Array
    time: Array
    pid: Array
    hits: Array  # bool (len(rows), number of matchers)
    batch_no: int
    arrival_ns: int
    ref: Callable[[BatchView, int], EventRef]


# ----------------------------------------------------------------------------------- specs
class Pattern:
    """Base of the pattern specs (immutable); ``matchers()`` are evaluated by the engine."""

    kind: ClassVar[str] = ""

    def matchers(self) -> tuple[EventMatcher, ...]:
        raise NotImplementedError

    def runtime(self) -> Runtime:
        raise NotImplementedError

    @property
    def within_ns(self) -> int | None:
        within = getattr(self, "within", None)
        return None if within is None else _ns(within, "within")


def _default_resolution(within_ns: int, resolution: float | None) -> int:
    if resolution is None:
        return max(1, within_ns // 10)
    res = _ns(resolution, "resolution")
    if res > within_ns:
        raise ValueError(f"resolution ({resolution}s) must not exceed within ({within_ns / NS:g}s)")
    return res


@dataclass(frozen=True, slots=True)
class CountThreshold(Pattern):
    """At least ``count`` matches within a sliding ``within`` seconds (fires at once)."""

    match: EventMatcher
    count: int
    within: float
    resolution: float | None = None
    kind: ClassVar[str] = "count_threshold"

    def __post_init__(self) -> None:
        _positive_int(self.count, "count")
        _default_resolution(_ns(self.within, "within"), self.resolution)

    def matchers(self) -> tuple[EventMatcher, ...]:
        return (self.match,)

    def runtime(self) -> Runtime:
        within = _ns(self.within, "within")
        return _CountRuntime(self, within, _default_resolution(within, self.resolution))


@dataclass(frozen=True, slots=True)
class RateThreshold(Pattern):
    """Share of ``error`` among ``match`` events above ``threshold`` within ``within``,
    over at least ``min_count`` events (fires when the watermark closes the window)."""

    threshold: float
    within: float
    min_count: int = 1
    match: EventMatcher = field(default_factory=EventMatcher.everything)
    error: EventMatcher = field(default_factory=lambda: Status(int(StatusCode.ERROR)))
    resolution: float | None = None
    kind: ClassVar[str] = "rate_threshold"

    def __post_init__(self) -> None:
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int | float):
            raise ValueError(f"threshold must be a number in [0, 1), got {self.threshold!r}")
        if not 0 <= self.threshold < 1:
            raise ValueError(f"threshold must be in [0, 1), got {self.threshold!r}")
        _positive_int(self.min_count, "min_count")
        _default_resolution(_ns(self.within, "within"), self.resolution)

    def matchers(self) -> tuple[EventMatcher, ...]:
        return (self.match, self.error)

    def runtime(self) -> Runtime:
        within = _ns(self.within, "within")
        return _RateRuntime(self, within, _default_resolution(within, self.resolution))


@dataclass(frozen=True, slots=True)
class Sequence(Pattern):
    """``steps[0]`` then ``steps[1]`` ... in event-time order, last within ``within`` of the first.

    ``relaxed`` contiguity lets other events interleave (Flink's skip-till-next-match);
    ``strict`` requires that no other *counted* event of the partition comes in between.
    Counted for strictness are the events matching any step, plus those matching
    ``strict_scope`` (pass ``EventMatcher.everything()`` to count every span of the
    partition; each such span then goes through the state machine). After a match, the
    partition's other partial matches are dropped (skip past the last event), so one burst
    gives one alert; at most ``max_runs`` partial matches are kept per partition (oldest
    dropped, counted)."""

    steps: tuple[EventMatcher, ...]
    within: float
    contiguity: Contiguity = "relaxed"
    strict_scope: EventMatcher | None = None
    max_runs: int = 64
    kind: ClassVar[str] = "sequence"

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))
        if len(self.steps) < 2:
            raise ValueError("a sequence needs at least 2 steps")
        if self.contiguity not in ("strict", "relaxed"):
            raise ValueError(f"contiguity must be 'strict' or 'relaxed', got {self.contiguity!r}")
        _ns(self.within, "within")
        _positive_int(self.max_runs, "max_runs")

    def matchers(self) -> tuple[EventMatcher, ...]:
        return (*self.steps, *((self.strict_scope,) if self.strict_scope is not None else ()))

    def runtime(self) -> Runtime:
        return _SequenceRuntime(self.kind, len(self.steps), _ns(self.within, "within"), self.contiguity, self.max_runs)


@dataclass(frozen=True, slots=True)
class FollowedBy(Pattern):
    """``first`` then ``then`` within ``within`` (a relaxed two-step sequence)."""

    first: EventMatcher
    then: EventMatcher
    within: float
    max_runs: int = 64
    kind: ClassVar[str] = "followed_by"

    def __post_init__(self) -> None:
        _ns(self.within, "within")
        _positive_int(self.max_runs, "max_runs")

    def matchers(self) -> tuple[EventMatcher, ...]:
        return (self.first, self.then)

    def runtime(self) -> Runtime:
        return _SequenceRuntime(self.kind, 2, _ns(self.within, "within"), "relaxed", self.max_runs)


@dataclass(frozen=True, slots=True)
class AllOf(Pattern):
    """Every one of ``steps`` (in any order, distinct events) within ``within``.

    An event fills the first step it matches that is still empty, otherwise it refreshes
    the oldest step it matches; the partition's state is cleared after a match."""

    steps: tuple[EventMatcher, ...]
    within: float
    kind: ClassVar[str] = "all"

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))
        if len(self.steps) < 2:
            raise ValueError("'all' needs at least 2 steps")
        _ns(self.within, "within")

    def matchers(self) -> tuple[EventMatcher, ...]:
        return self.steps

    def runtime(self) -> Runtime:
        return _AllRuntime(len(self.steps), _ns(self.within, "within"))


@dataclass(frozen=True, slots=True)
class AnyOf(Pattern):
    """Any event matching one of ``matchers``: at most one alert per partition and batch
    (its first matching event; ``count`` = the partition's matches in the batch)."""

    of: tuple[EventMatcher, ...]
    kind: ClassVar[str] = "any"

    def __post_init__(self) -> None:
        object.__setattr__(self, "of", tuple(self.of))
        if not self.of:
            raise ValueError("'any' needs at least 1 matcher")

    def matchers(self) -> tuple[EventMatcher, ...]:
        return self.of

    def runtime(self) -> Runtime:
        return _AnyRuntime()


@dataclass(frozen=True, slots=True)
class Absence(Pattern):
    """``first`` not followed by ``then`` within ``within`` (fires when the timer expires).

    With ``then=None`` it is a heartbeat check: a partition that was seen (an event
    matching ``first``) and then stays silent for ``within`` fires once, and is forgotten
    until it is seen again. ``time_domain="processing"`` measures ``within`` in arrival
    (processing) time, checked by ``CepEngine.advance()``: a silent key never advances its
    own event time, so this is the flavour for "a service stopped sending"."""

    first: EventMatcher
    within: float
    then: EventMatcher | None = None
    time_domain: TimeDomain = "event"
    max_runs: int = 64
    kind: ClassVar[str] = "absence"

    def __post_init__(self) -> None:
        _ns(self.within, "within")
        if self.time_domain not in ("event", "processing"):
            raise ValueError(f"time_domain must be 'event' or 'processing', got {self.time_domain!r}")
        _positive_int(self.max_runs, "max_runs")

    def matchers(self) -> tuple[EventMatcher, ...]:
        return (self.first,) if self.then is None else (self.first, self.then)

    def runtime(self) -> Runtime:
        within = _ns(self.within, "within")
        if self.then is None:
            return _HeartbeatRuntime(within, self.time_domain)
        return _AbsenceRuntime(within, self.time_domain, self.max_runs)


@dataclass(frozen=True, slots=True)
class Consecutive(Pattern):
    """``count`` events in a row matching ``match`` among the partition's ``scope`` events
    (default: all its spans), in event-time order; fires at every ``count``-th in a row."""

    match: EventMatcher
    count: int
    scope: EventMatcher = field(default_factory=EventMatcher.everything)
    kind: ClassVar[str] = "consecutive"

    def __post_init__(self) -> None:
        _positive_int(self.count, "count")

    def matchers(self) -> tuple[EventMatcher, ...]:
        return (self.match, self.scope)

    def runtime(self) -> Runtime:
        return _ConsecutiveRuntime(self.count)


# -------------------------------------------------------------------------------- runtimes
class Runtime:
    """Mutable state of one rule's pattern, keyed by partition id (``pid``)."""

    def __init__(self) -> None:
        self.late = 0  # events at or before the watermark on arrival, ignored
        self.dropped = 0  # partial matches / timers dropped to respect max_runs

    def process(self, ev: Events, watermark: int) -> list[Fire]:
        raise NotImplementedError

    def on_watermark(self, watermark: int) -> list[Fire]:
        return []

    def on_processing_time(self, now_ns: int) -> list[Fire]:
        return []

    def evict(self, pids: Array) -> None:
        raise NotImplementedError

    def snapshot(self, key_of: Callable[[int], Hashable]) -> dict[str, Any]:
        raise NotImplementedError

    def merge(self, state: Mapping[str, Any], pid_of: Callable[[Hashable], int]) -> None:
        raise NotImplementedError

    def _split_late(self, ev: Events, watermark: int) -> Events:
        late = ev.time < watermark
        n_late = int(late.sum())
        if not n_late:
            return ev
        self.late += n_late
        keep = ~late
        return Events(
            ev.view, ev.rows[keep], ev.time[keep], ev.pid[keep], ev.hits[keep], ev.batch_no, ev.arrival_ns, ev.ref
        )


def _first_per_group(groups: Array) -> Array:
    """Positions of the first element of each run of equal values (``groups`` sorted)."""
    if len(groups) == 0:
        return np.zeros(0, np.int64)
    return np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])


class _Buckets:
    """Counts per (partition, time bucket), sparse, sorted by ``pid << 32 | bucket``.

    Buckets are numbered relative to ``origin`` (set by the first event, 2^31 buckets
    early) so that a composite key fits in int64 and ``bucket - W`` never crosses into the
    previous partition's keys."""

    def __init__(self, within_ns: int, res_ns: int, ncols: int) -> None:
        self.res = res_ns
        self.w = max(1, within_ns // res_ns)
        self.origin: int | None = None
        self.keys = np.zeros(0, np.int64)
        self.vals = np.zeros((0, ncols), np.int64)
        self.consumed = np.full(0, -1, np.int64)  # per pid: last consumed bucket (rel)
        self.last_closed = -1  # last closed window end bucket (rel)

    def rel(self, times: Array) -> Array:
        b = times // self.res
        if self.origin is None:
            self.origin = int(b.min()) - _ORIGIN_SHIFT
        return b - self.origin

    def closed_end(self, watermark: int) -> int:
        """Last window-end bucket (rel) whose window [.., end) the watermark closed."""
        assert self.origin is not None
        return watermark // self.res - 1 - self.origin

    def grow(self, n_pids: int) -> None:
        if n_pids > len(self.consumed):
            extra = max(n_pids - len(self.consumed), len(self.consumed))
            self.consumed = np.concatenate([self.consumed, np.full(extra, -1, np.int64)])

    def add(self, pid: Array, b: Array, cols: list[Array]) -> None:
        """Add one count per event (``cols``: bool/int weights per column)."""
        if len(pid) == 0:
            return
        bmin, bmax = int(b.min()), int(b.max())
        nb = bmax - bmin + 1
        npid = int(pid.max()) + 1
        if npid * nb <= max(4 * len(pid), 1 << 16):
            code = pid * nb + (b - bmin)
            size = npid * nb
            counts = [
                np.bincount(code, weights=None if c.dtype == np.bool_ and c.all() else c, minlength=size) for c in cols
            ]
            nz = np.flatnonzero(np.sum(counts, axis=0))
            keys = (nz // nb) * _BIG + (nz % nb) + bmin
            vals = np.stack([np.asarray(c[nz], np.int64) for c in counts], axis=1)
        else:
            code = pid * _BIG + b
            keys, inverse = np.unique(code, return_inverse=True)
            vals = np.stack([np.bincount(inverse, weights=c, minlength=len(keys)).astype(np.int64) for c in cols], 1)
        self._merge(keys.astype(np.int64), vals)

    def _merge(self, keys: Array, vals: Array) -> None:
        if len(self.keys) == 0:
            self.keys, self.vals = keys, vals
            return
        pos = np.searchsorted(self.keys, keys)
        clipped = np.minimum(pos, len(self.keys) - 1)
        exists = self.keys[clipped] == keys
        if exists.any():
            np.add.at(self.vals, clipped[exists], vals[exists])
        new = ~exists
        if new.any():
            self.keys = np.insert(self.keys, pos[new], keys[new])
            self.vals = np.insert(self.vals, pos[new], vals[new], axis=0)

    def pids(self) -> Array:
        return self.keys >> 32

    def buckets(self) -> Array:
        return self.keys & (_BIG - 1)

    def window_sums(self, sel: Array, pid: Array, end: Array) -> Array:
        """Sums of the ``sel``-ected entries in windows ``(end - W, end]`` per (pid, end)."""
        keys = self.keys[sel]
        cs = np.vstack([np.zeros((1, self.vals.shape[1]), np.int64), np.cumsum(self.vals[sel], axis=0)])
        hi = np.searchsorted(keys, pid * _BIG + end, side="right")
        lo = np.searchsorted(keys, pid * _BIG + end - self.w + 1, side="left")
        return cs[hi] - cs[lo]

    def live(self) -> Array:
        """Entries not consumed by an earlier alert of their partition."""
        return self.buckets() > self.consumed[self.pids()]

    def prune(self, closed: int) -> None:
        """Drop buckets every window of which has closed."""
        keep = self.buckets() > closed - self.w + 1
        if not keep.all():
            self.keys, self.vals = self.keys[keep], self.vals[keep]

    def evict(self, pids: Array) -> None:
        if len(self.keys):
            table = np.zeros(max(len(self.consumed), int(pids.max()) + 1), bool)
            table[pids] = True
            keep = ~table[self.pids()]
            self.keys, self.vals = self.keys[keep], self.vals[keep]
        self.consumed[pids[pids < len(self.consumed)]] = -1

    def window_ns(self, end: int) -> tuple[int, int]:
        assert self.origin is not None
        stop = (self.origin + end + 1) * self.res
        return stop - self.w * self.res, stop

    def snapshot(self, key_of: Callable[[int], Hashable]) -> dict[str, Any]:
        origin = self.origin or 0
        entries = [
            (key_of(int(p)), int(b) + origin, *map(int, v))
            for p, b, v in zip(self.pids(), self.buckets(), self.vals, strict=True)
        ]
        consumed = {key_of(int(p)): int(c) + origin for p, c in enumerate(self.consumed) if c >= 0}
        closed = None if self.origin is None else self.last_closed + origin
        return {"resolution_ns": self.res, "w": self.w, "entries": entries, "consumed": consumed, "closed": closed}

    def merge(self, state: Mapping[str, Any], pid_of: Callable[[Hashable], int]) -> None:
        if state["resolution_ns"] != self.res or state["w"] != self.w:
            raise ValueError("cannot merge threshold state of a different window or resolution")
        entries = state["entries"]
        if entries:
            pid = np.array([pid_of(e[0]) for e in entries], np.int64)
            absolute = np.array([e[1] for e in entries], np.int64)
            b = self.rel(absolute * self.res)
            vals = np.array([e[2:] for e in entries], np.int64)
            self.grow(int(pid.max()) + 1)
            order = np.lexsort((b, pid))
            keys = pid[order] * _BIG + b[order]
            uniq, first = np.unique(keys, return_index=True)
            summed = np.add.reduceat(vals[order], first, axis=0) if len(first) else vals[:0]
            self._merge(uniq, summed)
        origin = self.origin or 0
        for key, c in state["consumed"].items():
            p = pid_of(key)
            self.grow(p + 1)
            self.consumed[p] = max(int(self.consumed[p]), c - origin)
        if state["closed"] is not None and self.origin is not None:
            self.last_closed = max(self.last_closed, state["closed"] - self.origin)


class _ThresholdRuntime(Runtime):
    def __init__(self, within_ns: int, res_ns: int, ncols: int) -> None:
        super().__init__()
        self.store = _Buckets(within_ns, res_ns, ncols)

    def _accept(self, ev: Events, watermark: int) -> tuple[Events, Array]:
        """The events not late for any window, and their buckets."""
        if len(ev.time) == 0:
            return ev, np.zeros(0, np.int64)
        s = self.store
        b = s.rel(ev.time)
        late = b + s.w - 1 <= max(s.closed_end(watermark), s.last_closed)
        late |= (b < s.w) | (b >= _BIG - s.w)  # outside the representable range
        if late.any():
            self.late += int(late.sum())
            keep = ~late
            ev = Events(
                ev.view, ev.rows[keep], ev.time[keep], ev.pid[keep], ev.hits[keep], ev.batch_no, ev.arrival_ns, ev.ref
            )
            b = b[keep]
        s.grow(int(ev.pid.max()) + 1 if len(ev.pid) else 0)
        return ev, b

    def _refs(self, ev: Events | None, pid: int, start: int, stop: int, col: int = 0) -> list[EventRef]:
        """First and last matched events of ``pid`` in ``[start, stop)`` among this batch's events."""
        if ev is None or len(ev.time) == 0:
            return []
        sel = np.flatnonzero((ev.pid == pid) & (ev.time >= start) & (ev.time < stop) & ev.hits[:, col])
        if len(sel) == 0:
            return []
        t = ev.time[sel]
        first, last = sel[int(np.argmin(t))], sel[int(np.argmax(t))]
        refs = [ev.ref(ev.view, int(ev.rows[first]))]
        if last != first:
            refs.append(ev.ref(ev.view, int(ev.rows[last])))
        return refs

    def evict(self, pids: Array) -> None:
        self.store.evict(pids)

    def snapshot(self, key_of: Callable[[int], Hashable]) -> dict[str, Any]:
        return self.store.snapshot(key_of)

    def merge(self, state: Mapping[str, Any], pid_of: Callable[[Hashable], int]) -> None:
        self.store.merge(state, pid_of)

    def on_watermark(self, watermark: int) -> list[Fire]:
        s = self.store
        if s.origin is None:
            return []
        closed = min(s.closed_end(watermark), _BIG)
        fires = self._close(closed) if closed > s.last_closed else []
        s.last_closed = max(s.last_closed, closed)
        s.prune(s.last_closed)
        return fires

    def _close(self, closed: int) -> list[Fire]:
        return []


class _CountRuntime(_ThresholdRuntime):
    def __init__(self, spec: CountThreshold, within_ns: int, res_ns: int) -> None:
        super().__init__(within_ns, res_ns, 1)
        self.spec = spec

    def process(self, ev: Events, watermark: int) -> list[Fire]:
        ev, b = self._accept(ev, watermark)
        if len(b) == 0:
            return []
        s = self.store
        s.add(ev.pid, b, [np.ones(len(b), bool)])
        touched = np.unique(ev.pid)
        fires: list[Fire] = []
        while len(touched):
            table = np.zeros(len(s.consumed), bool)
            table[touched] = True
            sel = table[s.pids()] & s.live()
            pid, end = s.pids()[sel], s.buckets()[sel]
            sums = s.window_sums(sel, pid, end)[:, 0]
            q = np.flatnonzero(sums >= self.spec.count)
            first = q[_first_per_group(pid[q])]
            for i in first.tolist():
                p, e = int(pid[i]), int(end[i])
                start, stop = s.window_ns(e)
                s.consumed[p] = e
                fires.append(
                    Fire(
                        p,
                        stop,
                        count=int(sums[i]),
                        window_start_unix_nano=start,
                        window_end_unix_nano=stop,
                        events=self._refs(ev, p, start, stop),
                    )
                )
            touched = pid[first]
        return fires


class _RateRuntime(_ThresholdRuntime):
    def __init__(self, spec: RateThreshold, within_ns: int, res_ns: int) -> None:
        super().__init__(within_ns, res_ns, 2)
        self.spec = spec
        self._last_ev: Events | None = None

    def process(self, ev: Events, watermark: int) -> list[Fire]:
        ev, b = self._accept(ev, watermark)
        population = ev.hits[:, 0]
        if population.any():
            self.store.add(ev.pid[population], b[population], [population[population], ev.hits[population, 1]])
        self._last_ev = ev
        return []

    def _close(self, closed: int) -> list[Fire]:
        s = self.store
        if len(s.keys) == 0:
            return []
        prev = s.last_closed
        pid_all, b_all = s.pids(), s.buckets()
        relevant = b_all > prev - s.w + 1
        p, b = pid_all[relevant], b_all[relevant]
        lo = np.maximum(b, prev + 1)
        hi = np.minimum(b + s.w - 1, closed)
        n = np.maximum(hi - lo + 1, 0)
        rep = np.repeat(np.arange(len(p)), n)
        offsets = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
        keys = np.unique(p[rep] * _BIG + lo[rep] + offsets)
        fires: list[Fire] = []
        spec = self.spec
        while len(keys):
            cp, ce = keys >> 32, keys & (_BIG - 1)
            sums = s.window_sums(s.live(), cp, ce)
            total, errors = sums[:, 0], sums[:, 1]
            q = np.flatnonzero((total >= spec.min_count) & (errors > spec.threshold * total))
            first = q[_first_per_group(cp[q])]
            fired = np.zeros(len(keys), bool)
            for i in first.tolist():
                pid, e = int(cp[i]), int(ce[i])
                start, stop = s.window_ns(e)
                s.consumed[pid] = e
                fired[i] = True
                fires.append(
                    Fire(
                        pid,
                        stop,
                        count=int(total[i]),
                        errors=int(errors[i]),
                        window_start_unix_nano=start,
                        window_end_unix_nano=stop,
                        events=self._refs(self._last_ev, pid, start, stop, col=1),
                        detail={"rate": float(errors[i]) / float(total[i])},
                    )
                )
            if not len(first):
                break
            again = np.zeros(len(s.consumed), bool)
            again[cp[first]] = True
            keys = keys[again[cp] & (ce > s.consumed[cp])]
        return fires


class _AnyRuntime(Runtime):
    def process(self, ev: Events, watermark: int) -> list[Fire]:
        if len(ev.pid) == 0:
            return []
        order = np.lexsort((ev.time, ev.pid))
        pid = ev.pid[order]
        firsts = _first_per_group(pid)
        counts = np.diff(np.r_[firsts, len(pid)])
        fires = []
        for f, c in zip(firsts.tolist(), counts.tolist(), strict=True):
            i = int(order[f])
            which = int(np.argmax(ev.hits[i]))
            fires.append(
                Fire(
                    int(pid[f]),
                    int(ev.time[i]),
                    count=int(c),
                    events=[ev.ref(ev.view, int(ev.rows[i]))],
                    detail={"matched": which},
                )
            )
        return fires

    def evict(self, pids: Array) -> None:
        return

    def snapshot(self, key_of: Callable[[int], Hashable]) -> dict[str, Any]:
        return {}

    def merge(self, state: Mapping[str, Any], pid_of: Callable[[Hashable], int]) -> None:
        return


class _Buffered(Runtime):
    """Buffers matched events as numpy columns until the watermark passes them, then hands
    them to ``_release`` in event-time order (ties: arrival order)."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[tuple[Array, Array, Array, Array, int]] = []  # time, pid, hits, rows, batch
        self._views: dict[int, tuple[BatchView, Callable[[BatchView, int], EventRef]]] = {}

    def process(self, ev: Events, watermark: int) -> list[Fire]:
        ev = self._split_late(ev, watermark)
        if len(ev.time):
            self._parts.append((ev.time, ev.pid, ev.hits, ev.rows, ev.batch_no))
            self._views[ev.batch_no] = (ev.view, ev.ref)
        return []

    def on_watermark(self, watermark: int) -> list[Fire]:
        fires: list[Fire] = []
        if self._parts:
            time = np.concatenate([p[0] for p in self._parts])
            ready = time <= watermark
            if ready.any():
                pid = np.concatenate([p[1] for p in self._parts])
                hits = np.concatenate([p[2] for p in self._parts])
                rows = np.concatenate([p[3] for p in self._parts])
                batch = np.concatenate([np.full(len(p[0]), p[4], np.int64) for p in self._parts])
                sel = np.flatnonzero(ready)
                order = sel[np.argsort(time[sel], kind="stable")]
                fires = self._release(time[order], pid[order], hits[order], rows[order], batch[order])
                rest = ~ready
                self._parts = [
                    (time[k], pid[k], hits[k], rows[k], b)
                    for b in np.unique(batch[rest]).tolist()
                    for k in (rest & (batch == b),)
                ]
                live = {p[4] for p in self._parts}
                self._views = {b: v for b, v in self._views.items() if b in live}
        return fires + self._timers(watermark)

    def _ref(self, batch: int, row: int) -> EventRef:
        view, make = self._views[batch]
        return make(view, row)

    def _release(self, time: Array, pid: Array, hits: Array, rows: Array, batch: Array) -> list[Fire]:
        raise NotImplementedError

    def _timers(self, watermark: int) -> list[Fire]:
        return []

    def evict(self, pids: Array) -> None:
        if self._parts:
            self._parts = [
                (t[k], p[k], h[k], r[k], b) for t, p, h, r, b in self._parts if (k := ~np.isin(p, pids)).any()
            ]
        self._evict_state(set(pids.tolist()))

    def _evict_state(self, pids: set[int]) -> None:
        raise NotImplementedError


@dataclass(slots=True)
class _Run:
    step: int  # index of the next step to match
    start: int  # event time of the first step
    events: list[EventRef]


class _SequenceRuntime(_Buffered):
    def __init__(self, kind: str, n_steps: int, within_ns: int, contiguity: Contiguity, max_runs: int) -> None:
        super().__init__()
        self.kind = kind
        self.n_steps = n_steps
        self.within = within_ns
        self.strict = contiguity == "strict"
        self.max_runs = max_runs
        self.runs: dict[int, list[_Run]] = {}

    def _release(self, time: Array, pid: Array, hits: Array, rows: Array, batch: Array) -> list[Fire]:
        fires: list[Fire] = []
        n = self.n_steps
        step_hits = hits[:, :n]
        for i in range(len(time)):
            t, p = int(time[i]), int(pid[i])
            h = step_hits[i]
            runs = self.runs.get(p, [])
            kept: list[_Run] = []
            done: _Run | None = None
            ref: EventRef | None = None
            for run in runs:
                if t - run.start > self.within:
                    continue  # timed out
                if h[run.step]:
                    if ref is None:
                        ref = self._ref(int(batch[i]), int(rows[i]))
                    run.events.append(ref)
                    run.step += 1
                    if run.step == n:
                        done = run
                        break
                    kept.append(run)
                elif not self.strict:
                    kept.append(run)
            if done is not None:
                fires.append(
                    Fire(
                        p,
                        t,
                        count=n,
                        window_start_unix_nano=done.start,
                        window_end_unix_nano=t,
                        events=done.events,
                    )
                )
                self.runs.pop(p, None)  # skip past the last event
                continue
            if h[0]:
                if ref is None:
                    ref = self._ref(int(batch[i]), int(rows[i]))
                kept.append(_Run(1, t, [ref]))
                if len(kept) > self.max_runs:
                    self.dropped += len(kept) - self.max_runs
                    kept = kept[-self.max_runs :]
            if kept:
                self.runs[p] = kept
            else:
                self.runs.pop(p, None)
        return fires

    def _timers(self, watermark: int) -> list[Fire]:
        expired = []
        for p, runs in self.runs.items():
            alive = [r for r in runs if r.start + self.within > watermark]
            if len(alive) != len(runs):
                if alive:
                    runs[:] = alive
                else:
                    expired.append(p)
        for p in expired:
            del self.runs[p]
        return []

    def _evict_state(self, pids: set[int]) -> None:
        for p in pids:
            self.runs.pop(p, None)

    def snapshot(self, key_of: Callable[[int], Hashable]) -> dict[str, Any]:
        return {"runs": {key_of(p): [(r.step, r.start, list(r.events)) for r in runs] for p, runs in self.runs.items()}}

    def merge(self, state: Mapping[str, Any], pid_of: Callable[[Hashable], int]) -> None:
        for key, runs in state["runs"].items():
            mine = self.runs.setdefault(pid_of(key), [])
            mine.extend(_Run(step, start, list(events)) for step, start, events in runs)
            mine.sort(key=lambda r: r.start)
            del mine[: max(0, len(mine) - self.max_runs)]


class _AllRuntime(_Buffered):
    def __init__(self, n_steps: int, within_ns: int) -> None:
        super().__init__()
        self.n_steps = n_steps
        self.within = within_ns
        self.seen: dict[int, dict[int, tuple[int, EventRef]]] = {}

    def _release(self, time: Array, pid: Array, hits: Array, rows: Array, batch: Array) -> list[Fire]:
        fires: list[Fire] = []
        for i in range(len(time)):
            t, p = int(time[i]), int(pid[i])
            steps = np.flatnonzero(hits[i, : self.n_steps]).tolist()
            seen = {s: v for s, v in self.seen.get(p, {}).items() if t - v[0] <= self.within}
            empty = [s for s in steps if s not in seen]
            slot = empty[0] if empty else min(steps, key=lambda s: seen[s][0])
            seen[slot] = (t, self._ref(int(batch[i]), int(rows[i])))
            if len(seen) == self.n_steps:
                ordered = sorted(seen.values(), key=lambda v: v[0])
                fires.append(
                    Fire(
                        p,
                        t,
                        count=self.n_steps,
                        window_start_unix_nano=ordered[0][0],
                        window_end_unix_nano=t,
                        events=[v[1] for v in ordered],
                    )
                )
                self.seen.pop(p, None)
            else:
                self.seen[p] = seen
        return fires

    def _timers(self, watermark: int) -> list[Fire]:
        for p in list(self.seen):
            alive = {s: v for s, v in self.seen[p].items() if v[0] + self.within > watermark}
            if alive:
                self.seen[p] = alive
            else:
                del self.seen[p]
        return []

    def _evict_state(self, pids: set[int]) -> None:
        for p in pids:
            self.seen.pop(p, None)

    def snapshot(self, key_of: Callable[[int], Hashable]) -> dict[str, Any]:
        return {"seen": {key_of(p): dict(s) for p, s in self.seen.items()}}

    def merge(self, state: Mapping[str, Any], pid_of: Callable[[Hashable], int]) -> None:
        for key, seen in state["seen"].items():
            mine = self.seen.setdefault(pid_of(key), {})
            for s, v in seen.items():
                if s not in mine or mine[s][0] < v[0]:
                    mine[s] = v


class _AbsenceRuntime(_Buffered):
    """``first`` arms a timer at ``time + within``; ``then`` at or after it disarms it."""

    def __init__(self, within_ns: int, domain: TimeDomain, max_runs: int) -> None:
        super().__init__()
        self.within = within_ns
        self.domain = domain
        self.max_runs = max_runs
        self.pending: dict[int, list[tuple[int, int, EventRef]]] = {}  # pid -> (armed at, deadline, ref)

    def process(self, ev: Events, watermark: int) -> list[Fire]:
        if self.domain == "event":
            return super().process(ev, watermark)
        order = np.argsort(ev.time, kind="stable")
        self._views[ev.batch_no] = (ev.view, ev.ref)
        arrival = np.full(len(order), ev.arrival_ns, np.int64)
        fires = self._release(
            arrival, ev.pid[order], ev.hits[order], ev.rows[order], np.full(len(order), ev.batch_no, np.int64)
        )
        self._views.clear()
        return fires

    def _release(self, time: Array, pid: Array, hits: Array, rows: Array, batch: Array) -> list[Fire]:
        fires: list[Fire] = []
        for i in range(len(time)):
            t, p = int(time[i]), int(pid[i])
            pending = self.pending.get(p)
            if pending:
                fires.extend(self._expire(p, t - 1))  # deadlines before this event
                pending = self.pending.get(p)
            if hits[i, 1] and pending:
                # ``then`` disarms every timer armed at or before it
                self.pending[p] = pending = [x for x in pending if x[0] > t]
            if hits[i, 0]:
                pending = self.pending.setdefault(p, [])
                pending.append((t, t + self.within, self._ref(int(batch[i]), int(rows[i]))))
                if len(pending) > self.max_runs:
                    self.dropped += len(pending) - self.max_runs
                    del pending[: len(pending) - self.max_runs]
            if not self.pending.get(p, True):
                del self.pending[p]
        return fires

    def _expire(self, p: int, now: int) -> list[Fire]:
        pending = self.pending.get(p, [])
        due = [x for x in pending if x[1] <= now]
        if not due:
            return []
        rest = [x for x in pending if x[1] > now]
        if rest:
            self.pending[p] = rest
        else:
            del self.pending[p]
        return [
            Fire(p, deadline, count=1, window_start_unix_nano=armed, window_end_unix_nano=deadline, events=[ref])
            for armed, deadline, ref in due
        ]

    def _timers(self, watermark: int) -> list[Fire]:
        if self.domain != "event":
            return []
        fires: list[Fire] = []
        for p in list(self.pending):
            fires.extend(self._expire(p, watermark - 1))  # an event at the deadline is in time
        return fires

    def on_processing_time(self, now_ns: int) -> list[Fire]:
        if self.domain != "processing":
            return []
        fires: list[Fire] = []
        for p in list(self.pending):
            fires.extend(self._expire(p, now_ns))
        return fires

    def _evict_state(self, pids: set[int]) -> None:
        for p in pids:
            self.pending.pop(p, None)

    def snapshot(self, key_of: Callable[[int], Hashable]) -> dict[str, Any]:
        return {"pending": {key_of(p): list(v) for p, v in self.pending.items()}}

    def merge(self, state: Mapping[str, Any], pid_of: Callable[[Hashable], int]) -> None:
        for key, pending in state["pending"].items():
            mine = self.pending.setdefault(pid_of(key), [])
            mine.extend(pending)
            mine.sort(key=lambda x: x[0])


class _HeartbeatRuntime(Runtime):
    """Last time each partition was seen (vectorised); fires once when it goes silent."""

    def __init__(self, within_ns: int, domain: TimeDomain) -> None:
        super().__init__()
        self.within = within_ns
        self.domain = domain
        self.last = np.full(0, -1, np.int64)  # per pid, -1 = not armed
        self.refs: dict[int, tuple[BatchView, int, Callable[[BatchView, int], EventRef]]] = {}
        self.snap_refs: dict[int, EventRef] = {}

    def process(self, ev: Events, watermark: int) -> list[Fire]:
        if self.domain == "event":
            late = ev.time + self.within < watermark  # its silence timer already passed
            if late.any():
                self.late += int(late.sum())
                keep = ~late
                ev = Events(
                    ev.view,
                    ev.rows[keep],
                    ev.time[keep],
                    ev.pid[keep],
                    ev.hits[keep],
                    ev.batch_no,
                    ev.arrival_ns,
                    ev.ref,
                )
            times = ev.time
        else:
            times = np.full(len(ev.pid), ev.arrival_ns, np.int64)
        if len(ev.pid) == 0:
            return []
        if int(ev.pid.max()) >= len(self.last):
            grow = max(int(ev.pid.max()) + 1 - len(self.last), len(self.last))
            self.last = np.concatenate([self.last, np.full(grow, -1, np.int64)])
        before = self.last.copy()
        np.maximum.at(self.last, ev.pid, times)
        # remember the latest event of each partition whose time moved (for the alert)
        moved = np.flatnonzero(self.last != before)
        if len(moved):
            latest = np.flatnonzero(times == self.last[ev.pid])
            row_of = np.full(len(self.last), -1, np.int64)
            row_of[ev.pid[latest]] = latest
            for p in moved.tolist():
                i = int(row_of[p])
                if i >= 0:
                    self.refs[p] = (ev.view, int(ev.rows[i]), ev.ref)
        return []

    def _fire(self, now: int) -> list[Fire]:
        """Fire partitions silent through ``now`` (deadline <= now)."""
        due = np.flatnonzero((self.last >= 0) & (self.last + self.within <= now))
        fires = []
        for p in due.tolist():
            seen = int(self.last[p])
            ref = self._take_ref(p)
            fires.append(
                Fire(
                    p,
                    seen + self.within,
                    count=0,
                    window_start_unix_nano=seen,
                    window_end_unix_nano=seen + self.within,
                    events=[ref] if ref is not None else [],
                )
            )
        self.last[due] = -1
        return fires

    def _take_ref(self, p: int) -> EventRef | None:
        if p in self.snap_refs:
            return self.snap_refs.pop(p)
        entry = self.refs.pop(p, None)
        return entry[2](entry[0], entry[1]) if entry is not None else None

    def on_watermark(self, watermark: int) -> list[Fire]:
        return self._fire(watermark - 1) if self.domain == "event" else []

    def on_processing_time(self, now_ns: int) -> list[Fire]:
        return self._fire(now_ns) if self.domain == "processing" else []

    def evict(self, pids: Array) -> None:
        self.last[pids[pids < len(self.last)]] = -1
        for p in pids.tolist():
            self.refs.pop(p, None)
            self.snap_refs.pop(p, None)

    def snapshot(self, key_of: Callable[[int], Hashable]) -> dict[str, Any]:
        armed = np.flatnonzero(self.last >= 0).tolist()
        refs = {p: self._take_ref(p) for p in armed}
        self.snap_refs.update({p: r for p, r in refs.items() if r is not None})
        return {"last": {key_of(p): (int(self.last[p]), refs[p]) for p in armed}}

    def merge(self, state: Mapping[str, Any], pid_of: Callable[[Hashable], int]) -> None:
        for key, (seen, ref) in state["last"].items():
            p = pid_of(key)
            if p >= len(self.last):
                self.last = np.concatenate([self.last, np.full(p + 1 - len(self.last), -1, np.int64)])
            if seen > self.last[p]:
                self.last[p] = seen
                self.refs.pop(p, None)
                if ref is not None:
                    self.snap_refs[p] = ref


class _ConsecutiveRuntime(_Buffered):
    """Streaks of matching events among the partition's scope events, vectorised."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count
        self.streak: dict[int, int] = {}  # carried streak (mod count) per pid

    def _release(self, time: Array, pid: Array, hits: Array, rows: Array, batch: Array) -> list[Fire]:
        scope = hits[:, 0] | hits[:, 1]
        idx = np.flatnonzero(scope)
        order = idx[np.lexsort((np.arange(len(idx)), pid[idx]))]  # by pid, then time (already time-sorted)
        p, m = pid[order], hits[order, 0]
        n = len(order)
        if n == 0:
            return []
        pos = np.arange(n)
        group_start = np.r_[True, p[1:] != p[:-1]]
        run_start = m & (group_start | np.r_[True, ~m[:-1]])
        last_start = np.maximum.accumulate(np.where(run_start, pos, 0))
        first_of_group = np.maximum.accumulate(np.where(group_start, pos, 0))
        carry = np.array([self.streak.get(int(x), 0) for x in p[group_start].tolist()], np.int64)
        carry_per = carry[np.cumsum(group_start) - 1]
        streak = np.where(m, pos - last_start + 1, 0)
        streak = np.where(m & (last_start == first_of_group), streak + carry_per, streak)
        fire_at = np.flatnonzero(m & (streak % self.count == 0) & (streak > 0))
        fires = []
        for i in fire_at.tolist():
            j = int(order[i])
            fires.append(
                Fire(
                    int(p[i]),
                    int(time[j]),
                    count=self.count,
                    window_end_unix_nano=int(time[j]),
                    events=[self._ref(int(batch[j]), int(rows[j]))],
                )
            )
        group_end = np.r_[np.flatnonzero(group_start)[1:] - 1, n - 1]
        for g in group_end.tolist():
            s = int(streak[g]) % self.count
            if s:
                self.streak[int(p[g])] = s
            else:
                self.streak.pop(int(p[g]), None)
        return fires

    def _evict_state(self, pids: set[int]) -> None:
        for p in pids:
            self.streak.pop(p, None)

    def snapshot(self, key_of: Callable[[int], Hashable]) -> dict[str, Any]:
        return {"streak": {key_of(p): s for p, s in self.streak.items()}}

    def merge(self, state: Mapping[str, Any], pid_of: Callable[[Hashable], int]) -> None:
        for key, s in state["streak"].items():
            p = pid_of(key)
            self.streak[p] = max(self.streak.get(p, 0), s)


PATTERNS: dict[str, type[Pattern]] = {
    p.kind: p for p in (CountThreshold, RateThreshold, Sequence, FollowedBy, AllOf, AnyOf, Absence, Consecutive)
}

__all__ = [
    "END_OF_TIME",
    "NS",
    "PATTERNS",
    "Absence",
    "AllOf",
    "AnyOf",
    "Consecutive",
    "CountThreshold",
    "EventRef",
    "Events",
    "Fire",
    "FollowedBy",
    "Pattern",
    "RateThreshold",
    "Runtime",
    "Sequence",
]
