"""Online anomaly detection for metric series (p99 latency, error rate, throughput per window).

One :class:`AnomalyDetector` watches one series; :class:`SeriesDetector` keeps one per series
name with a bound on how many. The API is river's: ``learn_one`` / ``score_one`` /
``update`` (score, decide, then learn), with batch forms and ``snapshot()`` / ``merge()``.

How the baseline is learned, and why:

- **Median and MAD over a rolling history** of the last ``window`` *accepted* points, not an
  EWMA. The median and the median absolute deviation have a 50 % breakdown point: a burst of
  outliers cannot drag the baseline or inflate the spread, and the window forgets old data
  exactly (an EWMA forgets geometrically and needs a clipping rule that is itself a tuning
  knob). The cost, a few numpy medians over ``window`` values per point, is small next to a
  window's worth of spans. ``spread`` is ``1.4826 * MAD``, a standard deviation for normal
  noise, so ``score = |x - baseline| / spread`` reads as a robust z-score.
- **Seasonality** (optional, :class:`Seasonality`): the period (a day, a week) is cut into
  ``slots``; each slot keeps its own recent accepted values, and once a slot holds values
  from ``min_cycles`` different cycles its median becomes that slot's level. The baseline
  at time ``t`` is then the profile (slot levels, linearly interpolated towards the nearer
  neighbouring slot centre), and the spread is the MAD of the history's residuals from the
  profile, so the daily swing no longer counts as noise. Before a point's slot is ready the
  global median and spread are used, and (unless ``alert_before_ready``) the point is
  scored but not flagged: an unknown daily swing cannot be told from an anomaly.
- **Warm-up**: no alerts before ``warmup`` points; they are all learned.
- **Anomalies stay out of the baseline**: an alert is never learned.
- **Level shifts are re-learned**: points that stray at least ``shift_threshold`` (half the
  alert threshold by default) in one direction form a *run* and are held back. When the run
  holds ``relearn_after`` alerts the detector accepts the new level: every stored value
  (history and slots) moves by the median residual of the run, and the run is learned, so a
  permanent change alerts ``relearn_after`` times and stops, and the seasonal shape and
  spread survive. A run that breaks before that (a point back near the baseline, or one
  straying the other way) was transient: its non-alerting points are learned, its alerts
  dropped; a run of ``4 * relearn_after`` points with fewer alerts is drift and is learned.
- **Quantised series** (counts, error rates that are mostly 0): when over half the residuals
  are equal the MAD is 0, and the mean absolute deviation (scaled to a standard deviation)
  is used instead; ``min_spread`` sets a floor.

The score assumes near-Gaussian residual tails: heavy-tailed noise needs a higher
``threshold`` (bench/anomaly.py measures both).

Time ``t`` is in seconds (any epoch; the period and offset use the same unit). Without
``t`` a point's time is its index in the series, and the period is then counted in points.

Example: a flat series with noise, a spike, then a permanent level shift re-learned after
three alerts:

>>> det = AnomalyDetector(warmup=10, relearn_after=3)
>>> for x in [10.0, 10.4, 9.7, 10.2, 9.9, 10.1, 9.6, 10.3, 10.0, 9.8, 10.2, 9.9]:
...     det.learn_one(x)
>>> r = det.update(14.0)
>>> r.is_anomaly, r.direction, r.baseline, round(r.spread, 4), round(r.score, 2)
(True, 1, 10.0, 0.2965, 13.49)
>>> det.update(10.1).baseline  # the spike did not move the baseline
10.0
>>> [det.update(x).is_anomaly for x in [20.0, 20.3, 19.8, 20.1, 19.9]]
[True, True, True, False, False]
>>> det.update(20.2).baseline, det.n_relearned
(20.0, 1)
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np

__all__ = [
    "AnomalyBatch",
    "AnomalyDetector",
    "AnomalyResult",
    "DetectorConfig",
    "Seasonality",
    "SeriesDetector",
]

#: MAD -> standard deviation for normal noise
MAD_TO_SIGMA = 1.482602218505602
#: mean absolute deviation -> standard deviation for normal noise (sqrt(pi / 2))
MEANAD_TO_SIGMA = 1.2533141373155003
_TINY = 1e-12
#: history points in ready slots needed before the spread around the profile is trusted
MIN_RESIDUALS = 8
#: a run that strays this many times ``relearn_after`` points without as many alerts is drift
MAX_RUN_FACTOR = 4
_SNAPSHOT_VERSION = 1

Direction = Literal[-1, 0, 1]
FloatArray = np.ndarray[Any, np.dtype[np.float64]]


class AnomalyResult(NamedTuple):
    """What :meth:`AnomalyDetector.update` decided about one point."""

    #: ``|x - baseline| / spread`` (0 during the first two points, before a spread exists)
    score: float
    is_anomaly: bool
    #: +1 above the baseline, -1 below, 0 on it
    direction: Direction
    #: the expected value at the point's time (nan before the first point)
    baseline: float
    #: the noise scale the score divides by (1.4826 x MAD of the residuals)
    spread: float


@dataclass(frozen=True, slots=True)
class AnomalyBatch:
    """The results of :meth:`AnomalyDetector.update_many`, one array per field."""

    score: FloatArray
    is_anomaly: np.ndarray[Any, np.dtype[np.bool_]]
    direction: np.ndarray[Any, np.dtype[np.int8]]
    baseline: FloatArray
    spread: FloatArray

    def __len__(self) -> int:
        return len(self.score)


@dataclass(frozen=True, slots=True, kw_only=True)
class Seasonality:
    """A repeating profile: ``period`` cut into ``slots`` (e.g. a day in 24 hourly slots)."""

    #: length of one cycle, in the unit of ``t`` (86400 for a day in seconds)
    period: float = 86_400.0
    #: slots per period; each learns its own level
    slots: int = 24
    #: a slot's level is used once it holds values from this many different cycles
    min_cycles: int = 2
    #: accepted values kept per slot (the newest)
    history: int = 32
    #: where a cycle starts, in the unit of ``t`` (e.g. a time-zone offset)
    offset: float = 0.0
    #: interpolate linearly between slot centres (smooth profiles); False: a step per slot
    interpolate: bool = True
    #: alert on the global baseline while a point's slot is not ready yet; False (default):
    #: such points are scored but never flagged, because an unknown daily swing cannot be
    #: told from an anomaly (in bench/anomaly.py alerting then doubled the false positives)
    alert_before_ready: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.period) and self.period > 0):
            raise ValueError(f"seasonality.period must be a positive number, got {self.period!r}")
        if self.slots < 1:
            raise ValueError(f"seasonality.slots must be at least 1, got {self.slots!r}")
        if self.min_cycles < 1:
            raise ValueError(f"seasonality.min_cycles must be at least 1, got {self.min_cycles!r}")
        if self.history < 1:
            raise ValueError(f"seasonality.history must be at least 1, got {self.history!r}")
        if not math.isfinite(self.offset):
            raise ValueError(f"seasonality.offset must be finite, got {self.offset!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectorConfig:
    """Knobs of one :class:`AnomalyDetector` (defaults suit a point per window)."""

    #: alert when the robust z-score reaches this
    threshold: float = 4.5
    #: points learned before the first alert can fire
    warmup: int = 30
    #: accepted points in the rolling history (median and MAD)
    window: int = 256
    #: a run of this many points straying in one direction is a new level (re-learned)
    relearn_after: int = 5
    #: how far a point must stray to extend a run; None: ``threshold / 2``
    shift_threshold: float | None = None
    #: lower bound of the spread (absolute), so a flat series does not alert on tiny wobbles
    min_spread: float = 0.0
    #: a time-of-day / day-of-week profile; None: a global baseline only
    seasonality: Seasonality | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.threshold) and self.threshold > 0):
            raise ValueError(f"threshold must be a positive number, got {self.threshold!r}")
        if self.warmup < 0:
            raise ValueError(f"warmup must be 0 or more, got {self.warmup!r}")
        if self.window < 2:
            raise ValueError(f"window must be at least 2, got {self.window!r}")
        if self.relearn_after < 1:
            raise ValueError(f"relearn_after must be at least 1, got {self.relearn_after!r}")
        st = self.shift_threshold
        if st is not None and not (math.isfinite(st) and 0 < st <= self.threshold):
            raise ValueError(f"shift_threshold must be in (0, threshold={self.threshold}], got {st!r}")
        if not (math.isfinite(self.min_spread) and self.min_spread >= 0):
            raise ValueError(f"min_spread must be 0 or more, got {self.min_spread!r}")

    @property
    def run_threshold(self) -> float:
        return self.threshold / 2 if self.shift_threshold is None else self.shift_threshold

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DetectorConfig:
        values = dict(data)
        season = values.get("seasonality")
        if isinstance(season, Mapping):
            values["seasonality"] = Seasonality(**season)
        return cls(**values)


@dataclass(slots=True)
class _Run:
    """Points held back while they stray in one direction (a possible level shift)."""

    direction: int = 0
    x: list[float] = field(default_factory=list)
    t: list[float] = field(default_factory=list)
    residual: list[float] = field(default_factory=list)
    alert: list[bool] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.x)

    @property
    def alerts(self) -> int:
        return sum(self.alert)

    def clear(self) -> None:
        self.direction = 0
        self.x.clear()
        self.t.clear()
        self.residual.clear()
        self.alert.clear()


def _median(a: FloatArray) -> float:
    """The median of a non-empty 1-d array (``np.median`` without its per-call overhead)."""
    n = len(a)
    k = n // 2
    if n % 2:
        return float(np.partition(a, k)[k])
    part = np.partition(a, (k - 1, k))
    return 0.5 * (float(part[k - 1]) + float(part[k]))


def _finite(value: float, name: str) -> float:
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return v


class AnomalyDetector:
    """Robust, seasonal-aware online detector for one series (see the module docstring)."""

    def __init__(self, config: DetectorConfig | None = None, **overrides: Any) -> None:
        """``AnomalyDetector(DetectorConfig(...))`` or ``AnomalyDetector(threshold=5, ...)``."""
        if config is None:
            config = DetectorConfig(**overrides)
        elif overrides:
            config = DetectorConfig.from_dict({**config.to_dict(), **overrides})
        self.config = config
        self._threshold = config.threshold
        self._run_threshold = config.run_threshold
        self._max_run = MAX_RUN_FACTOR * config.relearn_after
        self._min_residuals = max(config.warmup, MIN_RESIDUALS)
        w = config.window
        self._hx = np.zeros(w)  # ring of accepted values
        self._ht = np.zeros(w)  # and their times
        # and, with seasonality, where each sits in the profile (so refreshing is gathers only)
        self._hslot = np.zeros(w, dtype=np.int64)
        self._hnb = np.zeros(w, dtype=np.int64)
        self._hfrac = np.zeros(w)
        self._hn = 0  # filled entries
        self._hpos = 0  # next write position
        self.n_seen = 0  # points given to update/learn_one
        self.n_anomalies = 0
        self.n_relearned = 0
        self._run = _Run()
        self._median = math.nan
        self._spread = math.nan  # around the seasonal profile (the global spread without one)
        self._global_spread = math.nan  # around the global median
        season = config.seasonality
        self._season = season
        if season is not None:
            s, h = season.slots, season.history
            self._sx = np.zeros((s, h))
            self._st = np.zeros((s, h))
            self._scycle = np.zeros((s, h), dtype=np.int64)
            self._sn = np.zeros(s, dtype=np.int64)
            self._spos = np.zeros(s, dtype=np.int64)
            self._slevel = np.full(s, math.nan)
            self._sready = np.zeros(s, dtype=np.bool_)
            self._width = season.period / s
            self._centres = (np.arange(s) + 0.5) * self._width

    # -- public API -----------------------------------------------------------------------
    @property
    def baseline_ready(self) -> bool:
        """Whether enough points were learned to score (two or more)."""
        return self._hn >= 2

    @property
    def seasonal_ready(self) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """Per slot, whether its own level is in use (all False without seasonality)."""
        if self._season is None:
            return np.zeros(0, dtype=np.bool_)
        return self._sready.copy()

    def baseline_at(self, t: float | None = None) -> tuple[float, float]:
        """``(baseline, spread)`` expected at ``t`` now (nan before the first point); learns nothing."""
        return self._predict(self._time(t))

    def score_one(self, x: float, t: float | None = None) -> float:
        """The anomaly score of ``x`` at ``t`` against the current baseline; learns nothing."""
        xv = _finite(x, "x")
        level, spread = self._predict(self._time(t))
        if not self.baseline_ready:
            return 0.0
        return abs(xv - level) / spread

    def is_anomaly(self, x: float, t: float | None = None) -> bool:
        """Whether :meth:`update` would flag ``x`` now (after warm-up, score >= threshold)."""
        tv = self._time(t)
        return self.n_seen >= self.config.warmup and self._may_alert(tv) and self.score_one(x, t) >= self._threshold

    def learn_one(self, x: float, t: float | None = None) -> None:
        """Learn a point the way :meth:`update` does (alerts are kept out of the baseline)."""
        self.update(x, t)

    def update(self, x: float, t: float | None = None) -> AnomalyResult:
        """Score ``x`` at ``t``, decide whether it is an anomaly, then learn from it."""
        xv = _finite(x, "x")
        tv = self._time(t)
        level, spread = self._predict(tv)
        self.n_seen += 1
        if not self.baseline_ready:
            self._learn(xv, tv)
            self._refresh()
            return AnomalyResult(0.0, False, 0, level, spread)
        z = (xv - level) / spread
        direction: Direction = 1 if z > 0 else (-1 if z < 0 else 0)
        score = abs(z)
        if self.n_seen <= self.config.warmup:
            self._learn(xv, tv)
            self._refresh()
            return AnomalyResult(score, False, direction, level, spread)
        alert = score >= self._threshold and self._may_alert(tv)
        if alert:
            self.n_anomalies += 1
        run = self._run
        if score >= self._run_threshold and direction != 0:
            if len(run) and run.direction != direction:
                self._end_run()
            run.direction = direction
            run.x.append(xv)
            run.t.append(tv)
            run.residual.append(xv - level)
            run.alert.append(alert)
            if run.alerts >= self.config.relearn_after:
                self._relearn()
            elif len(run) >= self._max_run:
                self._end_run()  # a long mild excursion is drift, not a shift: learn it
        else:
            if len(run):
                self._end_run()
            self._learn(xv, tv)
            self._refresh()
        return AnomalyResult(score, alert, direction, level, spread)

    def score_many(self, x: Sequence[float] | FloatArray, t: Sequence[float] | FloatArray | None = None) -> FloatArray:
        """Scores of many points against the current baseline (vectorised; learns nothing)."""
        xs = np.asarray(x, dtype=np.float64)
        if not np.all(np.isfinite(xs)):
            raise ValueError("x must hold finite numbers only")
        if t is None:
            ts = self.n_seen + np.arange(len(xs), dtype=np.float64)
        else:
            ts = np.asarray(t, dtype=np.float64)
            if ts.shape != xs.shape:
                raise ValueError(f"t must have the shape of x {xs.shape}, got {ts.shape}")
        if not self.baseline_ready:
            return np.zeros(len(xs))
        levels, spreads = self._levels_at(ts)
        return np.asarray(np.abs(xs - levels) / spreads, dtype=np.float64)

    def update_many(
        self, x: Sequence[float] | FloatArray, t: Sequence[float] | FloatArray | None = None
    ) -> AnomalyBatch:
        """:meth:`update` over many points in order (each decision depends on the last)."""
        xs = np.asarray(x, dtype=np.float64)
        ts = None if t is None else np.asarray(t, dtype=np.float64)
        if ts is not None and ts.shape != xs.shape:
            raise ValueError(f"t must have the shape of x {xs.shape}, got {ts.shape}")
        n = len(xs)
        score, base, spread = np.empty(n), np.empty(n), np.empty(n)
        flag = np.zeros(n, dtype=np.bool_)
        direction = np.zeros(n, dtype=np.int8)
        for i in range(n):
            r = self.update(float(xs[i]), None if ts is None else float(ts[i]))
            score[i], flag[i], direction[i], base[i], spread[i] = r
        return AnomalyBatch(score, flag, direction, base, spread)

    def learn_many(self, x: Sequence[float] | FloatArray, t: Sequence[float] | FloatArray | None = None) -> None:
        self.update_many(x, t)

    # -- state ----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The learned state as plain lists and numbers (JSON-able), for ``restore``/``merge``."""
        order = self._ring_order(self._hn, self._hpos, self.config.window)
        state: dict[str, Any] = {
            "version": _SNAPSHOT_VERSION,
            "config": self.config.to_dict(),
            "n_seen": self.n_seen,
            "n_anomalies": self.n_anomalies,
            "n_relearned": self.n_relearned,
            "history": {"x": self._hx[order].tolist(), "t": self._ht[order].tolist()},
            "run": {
                "direction": self._run.direction,
                "x": list(self._run.x),
                "t": list(self._run.t),
                "residual": list(self._run.residual),
                "alert": list(self._run.alert),
            },
        }
        if self._season is not None:
            slots = []
            for s in range(self._season.slots):
                o = self._ring_order(int(self._sn[s]), int(self._spos[s]), self._season.history)
                slots.append(
                    {"x": self._sx[s, o].tolist(), "t": self._st[s, o].tolist(), "cycle": self._scycle[s, o].tolist()}
                )
            state["slots"] = slots
        return state

    @classmethod
    def from_snapshot(cls, state: Mapping[str, Any]) -> AnomalyDetector:
        """A detector holding the state :meth:`snapshot` returned."""
        if state.get("version") != _SNAPSHOT_VERSION:
            raise ValueError(f"snapshot version must be {_SNAPSHOT_VERSION}, got {state.get('version')!r}")
        det = cls(DetectorConfig.from_dict(state["config"]))
        det._restore(state)
        return det

    def merge(self, other: AnomalyDetector | Mapping[str, Any]) -> AnomalyDetector:
        """Fold in the state of a detector of the same series that saw other points.

        The union of both histories is kept, newest first, up to ``window`` points (and
        ``history`` per slot): the state one detector would hold had it accepted the points
        of both. Counters add up; of two pending runs the one with the later point is kept.
        Returns ``self``.
        """
        theirs = other.snapshot() if isinstance(other, AnomalyDetector) else dict(other)
        if DetectorConfig.from_dict(theirs["config"]) != self.config:
            raise ValueError("merge: the detectors have different configs")
        mine = self.snapshot()
        merged: dict[str, Any] = dict(mine)
        merged["n_seen"] = mine["n_seen"] + theirs["n_seen"]
        merged["n_anomalies"] = mine["n_anomalies"] + theirs["n_anomalies"]
        merged["n_relearned"] = mine["n_relearned"] + theirs["n_relearned"]
        merged["history"] = _newest(mine["history"], theirs["history"], self.config.window)
        if self._season is not None:
            merged["slots"] = [
                _newest(a, b, self._season.history) for a, b in zip(mine["slots"], theirs["slots"], strict=True)
            ]
        runs = [r for r in (mine["run"], theirs["run"]) if r["x"]]
        merged["run"] = max(runs, key=lambda r: r["t"][-1]) if runs else mine["run"]
        self._restore(merged)
        return self

    # -- internals ------------------------------------------------------------------------
    def _time(self, t: float | None) -> float:
        return float(self.n_seen) if t is None else _finite(t, "t")

    @staticmethod
    def _ring_order(n: int, pos: int, size: int) -> np.ndarray[Any, np.dtype[np.int64]]:
        """Indices of a ring's filled entries, oldest first."""
        if n < size:
            return np.arange(n, dtype=np.int64)
        return (np.arange(size, dtype=np.int64) + pos) % size

    def _restore(self, state: Mapping[str, Any]) -> None:
        w = self.config.window
        hx = np.asarray(state["history"]["x"], dtype=np.float64)[-w:]
        ht = np.asarray(state["history"]["t"], dtype=np.float64)[-w:]
        self._hx[:] = 0.0
        self._ht[:] = 0.0
        self._hn = len(hx)
        self._hx[: self._hn] = hx
        self._ht[: self._hn] = ht
        if self._season is not None:
            phase = np.mod(ht - self._season.offset, self._season.period)
            slots = np.minimum((phase / self._width).astype(np.int64), self._season.slots - 1)
            offset = phase - self._centres[slots]
            self._hslot[: self._hn] = slots
            self._hnb[: self._hn] = (slots + np.where(offset < 0, -1, 1)) % self._season.slots
            self._hfrac[: self._hn] = np.abs(offset) / self._width
        self._hpos = self._hn % w
        self.n_seen = int(state["n_seen"])
        self.n_anomalies = int(state["n_anomalies"])
        self.n_relearned = int(state["n_relearned"])
        run = state["run"]
        self._run = _Run(
            int(run["direction"]),
            [float(v) for v in run["x"]],
            [float(v) for v in run["t"]],
            [float(v) for v in run["residual"]],
            [bool(v) for v in run["alert"]],
        )
        if self._season is not None:
            h = self._season.history
            for s, slot in enumerate(state["slots"]):
                sx = np.asarray(slot["x"], dtype=np.float64)[-h:]
                k = len(sx)
                self._sx[s, :k] = sx
                self._st[s, :k] = np.asarray(slot["t"], dtype=np.float64)[-h:]
                self._scycle[s, :k] = np.asarray(slot["cycle"], dtype=np.int64)[-h:]
                self._sn[s] = k
                self._spos[s] = k % h
                self._update_slot(s)
        self._refresh()

    def _may_alert(self, t: float) -> bool:
        """False while a seasonal detector does not know the profile at ``t`` (unless allowed)."""
        season = self._season
        if season is None or season.alert_before_ready:
            return True
        return bool(self._sready[self._slot_of(t)[0]])

    def _slot_of(self, t: float) -> tuple[int, int, float]:
        """``(slot, cycle, phase)`` of time ``t``."""
        season = self._season
        assert season is not None
        u = t - season.offset
        cycle = math.floor(u / season.period)
        phase = u - cycle * season.period
        slot = min(int(phase / self._width), season.slots - 1)
        return slot, cycle, phase

    def _learn(self, x: float, t: float) -> None:
        w = self.config.window
        self._hx[self._hpos] = x
        self._ht[self._hpos] = t
        if self._season is not None:
            slot, cycle, phase = self._slot_of(t)
            offset = phase - float(self._centres[slot])
            self._hslot[self._hpos] = slot
            self._hnb[self._hpos] = (slot + (-1 if offset < 0 else 1)) % self._season.slots
            self._hfrac[self._hpos] = abs(offset) / self._width
        self._hpos = (self._hpos + 1) % w
        self._hn = min(self._hn + 1, w)
        if self._season is not None:
            s = slot
            p = int(self._spos[s])
            self._sx[s, p] = x
            self._st[s, p] = t
            self._scycle[s, p] = cycle
            self._spos[s] = (p + 1) % self._season.history
            self._sn[s] = min(int(self._sn[s]) + 1, self._season.history)
            self._update_slot(s)

    def _update_slot(self, s: int) -> None:
        assert self._season is not None
        n = int(self._sn[s])
        if n == 0:
            self._slevel[s] = math.nan
            self._sready[s] = False
            return
        self._slevel[s] = _median(self._sx[s, :n])
        self._sready[s] = len(set(self._scycle[s, :n].tolist())) >= self._season.min_cycles

    def _levels_at(self, ts: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Baseline and spread at each time: the seasonal profile where its slot is ready, else global."""
        levels = np.full(len(ts), self._median)
        spreads = np.full(len(ts), self._global_spread)
        season = self._season
        if season is None or not self._sready.any():
            return levels, spreads
        phase = np.mod(ts - season.offset, season.period)
        slots = np.minimum((phase / self._width).astype(np.int64), season.slots - 1)
        ready = self._sready[slots]
        if ready.any():
            levels[ready] = self._profile(phase[ready], slots[ready])
            spreads[ready] = self._spread
        return levels, spreads

    def _profile(self, phase: FloatArray, slots: np.ndarray[Any, np.dtype[np.int64]]) -> FloatArray:
        """Slot levels at ``phase``, interpolated towards the nearer neighbour slot when it is ready."""
        own: FloatArray = self._slevel[slots]
        assert self._season is not None
        if not self._season.interpolate:
            return own
        offset = phase - self._centres[slots]
        neighbour = (slots + np.where(offset < 0, -1, 1)) % self._season.slots
        ok = self._sn[neighbour] > 0
        step = np.where(ok, self._slevel[neighbour] - own, 0.0)
        return np.asarray(own + np.abs(offset) / self._width * step, dtype=np.float64)

    def _predict(self, t: float) -> tuple[float, float]:
        if self._hn == 0:
            return math.nan, math.nan
        if self._season is None or not self._sready.any():
            return self._median, self._global_spread
        s, _, phase = self._slot_of(t)
        if not self._sready[s]:
            return self._median, self._global_spread
        level = float(self._slevel[s])
        if self._season.interpolate:  # the scalar form of _profile
            offset = phase - float(self._centres[s])
            neighbour = (s + (-1 if offset < 0 else 1)) % self._season.slots
            if self._sn[neighbour] > 0:
                level += abs(offset) / self._width * (float(self._slevel[neighbour]) - level)
        return level, self._spread

    def _refresh(self) -> None:
        """Recompute the cached median and spreads after the history changed.

        Two spreads: around the global median (used where the profile is not known yet) and
        around the seasonal profile, over the history points whose slot is ready."""
        n = self._hn
        if n == 0:
            self._median = self._spread = self._global_spread = math.nan
            return
        hx = self._hx[:n]
        self._median = _median(hx)
        self._global_spread = self._robust_sigma(hx - self._median)
        self._spread = self._global_spread
        if self._season is None or not self._sready.any():
            return
        slots = self._hslot[:n]
        ready = self._sready[slots]
        if np.count_nonzero(ready) < self._min_residuals:
            return  # too few points measure the noise around the profile yet: stay wide
        level = self._slevel[slots]
        if self._season.interpolate:
            nb = self._hnb[:n]
            level = level + self._hfrac[:n] * np.where(self._sn[nb] > 0, self._slevel[nb] - level, 0.0)
        self._spread = self._robust_sigma((hx - level)[ready])

    def _robust_sigma(self, residual: FloatArray) -> float:
        dev = np.abs(residual - _median(residual))
        sigma = MAD_TO_SIGMA * _median(dev)
        if sigma == 0.0:
            # over half the values sit on the median (quantised data): the mean absolute
            # deviation, scaled to a standard deviation, still measures the rest
            sigma = MEANAD_TO_SIGMA * float(np.mean(dev))
        return max(sigma, self.config.min_spread, _TINY)

    def _end_run(self) -> None:
        """A run broke before it proved a level shift: learn its quiet points, drop its alerts."""
        run = self._run
        for x, t, alert in zip(run.x, run.t, run.alert, strict=True):
            if not alert:
                self._learn(x, t)
        run.clear()
        self._refresh()

    def _relearn(self) -> None:
        """Accept a run as a new level: shift every stored value by its median residual."""
        run = self._run
        delta = _median(np.asarray(run.residual, dtype=np.float64))
        self._hx[: self._hn] += delta
        if self._season is not None:
            self._sx += delta
            self._slevel += delta
        for x, t in zip(run.x, run.t, strict=True):
            self._learn(x, t)
        run.clear()
        self.n_relearned += 1
        self._refresh()


def _newest(a: Mapping[str, list[Any]], b: Mapping[str, list[Any]], keep: int) -> dict[str, list[Any]]:
    """The ``keep`` newest entries (by ``t``) of two column dicts, oldest first."""
    t = np.asarray(a["t"] + b["t"], dtype=np.float64)
    order = np.argsort(t, kind="stable")[-keep:]
    return {k: [(a[k] + b[k])[i] for i in order] for k in a}


class SeriesDetector:
    """One :class:`AnomalyDetector` per series name, at most ``max_series`` of them.

    When a new series would exceed the bound, the least recently updated one is dropped
    (counted in ``evicted``): the series that stopped reporting are the ones to forget.

    >>> sd = SeriesDetector(warmup=5, max_series=2)
    >>> for i in range(8):
    ...     _ = sd.update("checkout/p99", 100.0 + i % 2, t=i)
    ...     _ = sd.update("cart/p99", 20.0 + i % 2, t=i)
    >>> sd.update("checkout/p99", 160.0, t=8).is_anomaly
    True
    >>> _ = sd.update("search/p99", 5.0, t=8)
    >>> sorted(sd), sd.evicted
    (['checkout/p99', 'search/p99'], 1)
    """

    def __init__(self, config: DetectorConfig | None = None, *, max_series: int = 10_000, **overrides: Any) -> None:
        if max_series < 1:
            raise ValueError(f"max_series must be at least 1, got {max_series!r}")
        if config is None:
            config = DetectorConfig(**overrides)
        elif overrides:
            config = DetectorConfig.from_dict({**config.to_dict(), **overrides})
        self.config = config
        self.max_series = max_series
        self.evicted = 0
        self._detectors: OrderedDict[Hashable, AnomalyDetector] = OrderedDict()

    def __len__(self) -> int:
        return len(self._detectors)

    def __contains__(self, series: object) -> bool:
        return series in self._detectors

    def __iter__(self) -> Iterator[Hashable]:
        return iter(list(self._detectors))

    def get(self, series: Hashable) -> AnomalyDetector | None:
        return self._detectors.get(series)

    def detector(self, series: Hashable) -> AnomalyDetector:
        """The detector of ``series``, made (and the oldest evicted if full) when new."""
        det = self._detectors.get(series)
        if det is None:
            if len(self._detectors) >= self.max_series:
                self._detectors.popitem(last=False)
                self.evicted += 1
            det = self._detectors[series] = AnomalyDetector(self.config)
        else:
            self._detectors.move_to_end(series)
        return det

    def update(self, series: Hashable, x: float, t: float | None = None) -> AnomalyResult:
        return self.detector(series).update(x, t)

    def learn_one(self, series: Hashable, x: float, t: float | None = None) -> None:
        self.detector(series).update(x, t)

    def score_one(self, series: Hashable, x: float, t: float | None = None) -> float:
        """The score against the series' baseline (0 for an unknown series); learns nothing."""
        det = self._detectors.get(series)
        return 0.0 if det is None else det.score_one(x, t)

    def update_many(
        self,
        series: Sequence[Hashable],
        x: Sequence[float] | FloatArray,
        t: Sequence[float] | FloatArray | None = None,
    ) -> AnomalyBatch:
        """:meth:`update` for parallel sequences of series names, values and times, in order."""
        xs = np.asarray(x, dtype=np.float64)
        if len(series) != len(xs) or (t is not None and len(t) != len(xs)):
            raise ValueError("series, x and t must have the same length")
        n = len(xs)
        score, base, spread = np.empty(n), np.empty(n), np.empty(n)
        flag = np.zeros(n, dtype=np.bool_)
        direction = np.zeros(n, dtype=np.int8)
        for i in range(n):
            r = self.update(series[i], float(xs[i]), None if t is None else float(t[i]))
            score[i], flag[i], direction[i], base[i], spread[i] = r
        return AnomalyBatch(score, flag, direction, base, spread)

    def snapshot(self) -> dict[str, Any]:
        """Every series' state (series names must be strings to be JSON-able)."""
        return {
            "version": _SNAPSHOT_VERSION,
            "config": self.config.to_dict(),
            "max_series": self.max_series,
            "evicted": self.evicted,
            "series": {name: det.snapshot() for name, det in self._detectors.items()},
        }

    @classmethod
    def from_snapshot(cls, state: Mapping[str, Any]) -> SeriesDetector:
        sd = cls(DetectorConfig.from_dict(state["config"]), max_series=int(state["max_series"]))
        sd.evicted = int(state["evicted"])
        for name, det_state in state["series"].items():
            sd._detectors[name] = AnomalyDetector.from_snapshot(det_state)
        return sd

    def merge(self, other: SeriesDetector | Mapping[str, Any]) -> SeriesDetector:
        """Merge another registry series by series (see :meth:`AnomalyDetector.merge`)."""
        theirs = other.snapshot() if isinstance(other, SeriesDetector) else dict(other)
        if DetectorConfig.from_dict(theirs["config"]) != self.config:
            raise ValueError("merge: the registries have different configs")
        self.evicted += int(theirs["evicted"])
        for name, det_state in theirs["series"].items():
            mine = self._detectors.get(name)
            if mine is None:
                if len(self._detectors) >= self.max_series:
                    self._detectors.popitem(last=False)
                    self.evicted += 1
                self._detectors[name] = AnomalyDetector.from_snapshot(det_state)
            else:
                mine.merge(det_state)
        return self
