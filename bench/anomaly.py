"""Anomaly detection benchmark: precision, recall and speed on labelled synthetic series.

    python bench/anomaly.py [--series 40] [--days 14] [--json bench/results/anomaly.json]

The series (one per seed) imitate a per-window metric such as a service's p99 latency: a
point every 5 minutes (288 a day) for ``--days`` days, level 100, a daily cycle (a sine of
amplitude 12 plus a second harmonic of amplitude 4, random phase) and noise of standard
deviation 1 (Gaussian; the ``student-t(5)`` rows use Student-t noise with 5 degrees of
freedom and the ``laplace`` rows Laplace noise, both scaled to the same standard deviation).
After the first two days (the detector needs ``min_cycles = 2`` cycles to know the profile)
each series receives, at random positions at least 60 points apart:

- 6 spikes and 6 dips: one point moved by 8 to 15 (up or down);
- 2 level shifts: from that point on, every point moved by 8 to 15 (up or down, permanent).

Ground truth and matching, precisely:

- every spike, dip and level shift is one *event*; a shift's event is its first point ``s``;
- an alert at index ``j`` *matches* an event at ``e`` when ``|j - e| <= 1``: it is a true
  positive; an event with at least one matching alert is *detected*;
- alerts at ``s + 2 .. s + K`` after a shift at ``s`` (``K = relearn_after``, 5) fall in the
  re-learn allowance and count as neither true nor false positives; an alert after
  ``s + K`` that matches no event is a false positive: the detector must have stopped;
- every other alert is a false positive;
- precision = true-positive alerts / (true-positive + false-positive alerts);
  recall = detected events / events. Target: both >= 0.95.

Rows: the seasonal detector (``Seasonality(period=86400, slots=24)``) on Gaussian and on
heavy-tailed noise (Student-t(5), Laplace), with the default threshold and with threshold 8,
and the same detector without seasonality (global median/MAD only) to show what the
profile buys. Points/s is ``update()`` calls per wall second of one thread.

Why Student-t(5) misses the target: even with the noise law known exactly, the best fixed
bar (about 7.5 standard deviations, a false-alarm rate near 2e-4 per point) yields only
about 0.955 precision / 0.978 recall on these series, because the smallest events (8 sd)
sit just past the tail the bar must clear. A bar calibrated per series from the tail of its
own accepted residuals (generalized Pareto or Student-t fits on up to ~4000 points) misses
that level by 13-20 % (relative standard error), which sends both numbers well below 0.95
(measured about 0.70 / 0.93); so the default stays a fixed robust z-score bar.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from knhk_telemetry.stream.anomaly import AnomalyDetector, DetectorConfig, Seasonality

STEP_S = 300.0
PER_DAY = int(86_400 / STEP_S)
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
TOLERANCE = 1


@dataclass(frozen=True, slots=True)
class Series:
    t: np.ndarray[Any, np.dtype[np.float64]]
    x: np.ndarray[Any, np.dtype[np.float64]]
    events: list[tuple[int, str]]  # (index, kind) with kind spike / dip / shift


Noise = Literal["gaussian", "student-t(5)", "laplace"]


def make_series(seed: int, days: int, *, noise: Noise) -> Series:
    rng = np.random.default_rng(seed)
    n = days * PER_DAY
    t: np.ndarray[Any, np.dtype[np.float64]] = T0 + STEP_S * np.arange(n, dtype=np.float64)
    phase = rng.uniform(0, 2 * np.pi)
    w = 2 * np.pi * (t - T0) / 86_400.0
    x = 100.0 + 12.0 * np.sin(w + phase) + 4.0 * np.sin(2 * w + 2 * phase)
    if noise == "student-t(5)":
        df = 5.0
        x += rng.standard_t(df, n) / np.sqrt(df / (df - 2))
    elif noise == "laplace":
        x += rng.laplace(0.0, 1.0 / np.sqrt(2.0), n)  # scale b has standard deviation b * sqrt(2)
    else:
        x += rng.normal(0.0, 1.0, n)
    kinds = ["spike"] * 6 + ["dip"] * 6 + ["shift"] * 2
    rng.shuffle(kinds)
    positions: list[int] = []
    while len(positions) < len(kinds):
        p = int(rng.integers(2 * PER_DAY, n - 20))
        if all(abs(p - q) >= 60 for q in positions):
            positions.append(p)
    events = sorted(zip(positions, kinds, strict=True))
    for p, kind in events:
        size = rng.uniform(8.0, 15.0)
        if kind == "spike":
            x[p] += size
        elif kind == "dip":
            x[p] -= size
        else:
            x[p:] += size * rng.choice([-1.0, 1.0])
    return Series(t, x, [(p, k) for p, k in events])


@dataclass(slots=True)
class Score:
    events: int = 0
    detected: int = 0
    alerts: int = 0
    tp: int = 0
    fp: int = 0
    allowance: int = 0
    by_kind: dict[str, list[int]] | None = None

    def add(self, series: Series, alerts: np.ndarray[Any, np.dtype[np.bool_]], k: int) -> None:
        if self.by_kind is None:
            self.by_kind = {"spike": [0, 0], "dip": [0, 0], "shift": [0, 0]}
        idx = np.flatnonzero(alerts)
        ev = np.array([p for p, _ in series.events])
        shifts = np.array([p for p, kind in series.events if kind == "shift"])
        self.alerts += len(idx)
        for j in idx.tolist():
            if np.any(np.abs(ev - j) <= TOLERANCE):
                self.tp += 1
            elif shifts.size and np.any((j >= shifts + TOLERANCE + 1) & (j <= shifts + k)):
                self.allowance += 1
            else:
                self.fp += 1
        for p, kind in series.events:
            hit = bool(np.any(np.abs(idx - p) <= TOLERANCE))
            self.events += 1
            self.detected += hit
            self.by_kind[kind][0] += hit
            self.by_kind[kind][1] += 1

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.detected / self.events if self.events else 1.0


def run(name: str, config: DetectorConfig, series: list[Series]) -> dict[str, Any]:
    score = Score()
    points = 0
    elapsed = 0.0
    for s in series:
        det = AnomalyDetector(config)
        flags = np.zeros(len(s.x), dtype=np.bool_)
        xs, ts = s.x.tolist(), s.t.tolist()
        start = time.perf_counter()
        for i in range(len(xs)):
            flags[i] = det.update(xs[i], ts[i]).is_anomaly
        elapsed += time.perf_counter() - start
        points += len(xs)
        score.add(s, flags, config.relearn_after)
    assert score.by_kind is not None
    return {
        "name": name,
        "series": len(series),
        "points": points,
        "events": score.events,
        "alerts": score.alerts,
        "true_positive_alerts": score.tp,
        "false_positive_alerts": score.fp,
        "allowance_alerts": score.allowance,
        "precision": score.precision,
        "recall": score.recall,
        "recall_by_kind": {k: v[0] / v[1] if v[1] else 1.0 for k, v in score.by_kind.items()},
        "points_per_s": points / elapsed,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, default=40, help="series per row (seeds 0..N-1)")
    ap.add_argument("--days", type=int, default=14, help="days per series (288 points a day)")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args()

    seasonal = DetectorConfig(seasonality=Seasonality(period=86_400.0, slots=24))
    strict = DetectorConfig(threshold=8.0, seasonality=Seasonality(period=86_400.0, slots=24))
    flat = DetectorConfig()
    gaussian = [make_series(seed, args.days, noise="gaussian") for seed in range(args.series)]
    heavy = [make_series(seed, args.days, noise="student-t(5)") for seed in range(args.series)]
    laplace = [make_series(seed, args.days, noise="laplace") for seed in range(args.series)]
    rows = [
        run("seasonal, gaussian noise", seasonal, gaussian),
        run("seasonal, student-t(5) noise", seasonal, heavy),
        run("seasonal, t(5), threshold 8", strict, heavy),
        run("seasonal, laplace noise", seasonal, laplace),
        run("seasonal, laplace, threshold 8", strict, laplace),
        run("seasonal, gaussian, threshold 8", strict, gaussian),
        run("no seasonality, gaussian noise", flat, gaussian),
    ]
    header = (
        f"{'detector':32} {'events':>6} {'alerts':>6} {'TP':>5} {'FP':>4} {'allow':>5} "
        f"{'precision':>9} {'recall':>6} {'spike':>6} {'dip':>6} {'shift':>6} {'points/s':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        k = r["recall_by_kind"]
        print(
            f"{r['name']:32} {r['events']:>6} {r['alerts']:>6} {r['true_positive_alerts']:>5} "
            f"{r['false_positive_alerts']:>4} {r['allowance_alerts']:>5} {r['precision']:>9.3f} {r['recall']:>6.3f} "
            f"{k['spike']:>6.3f} {k['dip']:>6.3f} {k['shift']:>6.3f} {r['points_per_s']:>9,.0f}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "machine": platform.platform(),
            "python": platform.python_version(),
            "series": args.series,
            "days": args.days,
            "config": {"seasonal": seasonal.to_dict(), "strict": strict.to_dict(), "flat": flat.to_dict()},
            "rows": rows,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
