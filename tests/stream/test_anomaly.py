"""The online anomaly detector: exact behaviour on hand-made series, state, and accuracy."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from knhk_telemetry.stream.anomaly import (
    MAD_TO_SIGMA,
    AnomalyDetector,
    DetectorConfig,
    Seasonality,
    SeriesDetector,
)

#: median 11, MAD 1 -> spread 1.4826
ALTERNATING = [10.0, 12.0] * 10


def learned(values: list[float], **config: object) -> AnomalyDetector:
    det = AnomalyDetector(**config)
    for x in values:
        assert not det.update(x).is_anomaly
    return det


def test_warmup_never_alerts_then_alerts() -> None:
    det = AnomalyDetector(warmup=6)
    results = [det.update(x) for x in [10.0, 12.0, 10.0, 12.0, 10.0, 500.0]]
    assert [r.is_anomaly for r in results] == [False] * 6
    assert results[0].baseline != results[0].baseline  # nan: nothing learned yet
    assert results[5].score > 100  # scored, but inside the warm-up
    # the warm-up point was learned; 500 is one of six values, the median ignores it
    r = det.update(900.0)
    assert r.is_anomaly
    assert r.baseline == 11.0


def test_spike_is_flagged_up_and_dip_down_with_exact_score() -> None:
    det = learned(ALTERNATING, warmup=10)
    up = det.update(20.0)
    assert up.is_anomaly
    assert up.direction == 1
    assert up.baseline == 11.0
    assert up.spread == pytest.approx(MAD_TO_SIGMA)
    assert up.score == pytest.approx(9.0 / MAD_TO_SIGMA)
    down = det.update(2.0)
    assert down.is_anomaly
    assert down.direction == -1
    assert down.score == pytest.approx(9.0 / MAD_TO_SIGMA)
    assert det.n_anomalies == 2


def test_spike_is_not_absorbed_into_the_baseline() -> None:
    det = learned(ALTERNATING, warmup=10)
    assert det.update(40.0).is_anomaly
    after = det.update(12.0)
    assert not after.is_anomaly
    assert after.baseline == 11.0
    history = det.snapshot()["history"]["x"]
    assert 40.0 not in history
    assert history[-1] == 12.0
    assert len(history) == 21


def test_level_shift_is_relearned_after_k_alerts() -> None:
    det = learned(ALTERNATING, warmup=10, relearn_after=3)
    shifted = [det.update(x) for x in [50.0, 52.0, 50.0, 52.0, 50.0]]
    assert [r.is_anomaly for r in shifted] == [True, True, True, False, False]
    assert det.n_relearned == 1
    # history moved by the run's median residual (39): 49/51 x 10, then 50, 52, 50 learned
    assert shifted[3].baseline == 50.0
    assert shifted[3].spread == pytest.approx(MAD_TO_SIGMA)
    assert det.update(49.0).baseline == 50.0


def test_a_short_run_is_transient_its_quiet_points_are_learned() -> None:
    det = learned(ALTERNATING, warmup=10, relearn_after=3)
    # two alerts, then a point near the baseline breaks the run before relearn_after=3
    assert det.update(30.0).is_anomaly
    assert det.update(31.0).is_anomaly
    r = det.update(11.0)
    assert not r.is_anomaly
    assert det.n_relearned == 0
    assert r.baseline == 11.0
    assert det.snapshot()["history"]["x"][-1] == 11.0
    # a stray below the alert threshold inside a run is learned once the run breaks
    assert det.update(30.0).is_anomaly
    quiet = det.update(15.0)  # z = 4 / 1.48 = 2.70: extends the run, no alert
    assert not quiet.is_anomaly
    det.update(11.0)
    assert det.snapshot()["history"]["x"][-2:] == [15.0, 11.0]


def test_opposite_direction_starts_a_new_run() -> None:
    det = learned(ALTERNATING, warmup=10, relearn_after=2)
    assert det.update(30.0).is_anomaly
    assert det.update(-10.0).is_anomaly
    assert det.update(-12.0).is_anomaly  # second alert downwards: relearned at ~ -10
    assert det.n_relearned == 1
    assert det.update(-11.0).baseline == pytest.approx(-11.0)


def _seasonal_point(i: int) -> float:
    cycle, slot = divmod(i, 4)
    return [0.0, 10.0, 20.0, 10.0][slot] + (0.5 if cycle % 2 else -0.5)


def test_seasonal_profile_is_used_once_enough_cycles_are_seen() -> None:
    season = Seasonality(period=4, slots=4, min_cycles=2, interpolate=False)
    det = AnomalyDetector(warmup=4, seasonality=season)
    results = [det.update(_seasonal_point(i), i) for i in range(8)]
    # first cycle: the global median of what came before
    assert [r.baseline for r in results[1:4]] == [-0.5, 4.5, 9.5]
    assert det.seasonal_ready.tolist() == [True, True, True, True]
    # t=8 is slot 0 (values -0.5 and 0.5): its own level, not the global median (9.5)
    r = det.update(0.0, 8)
    assert r.baseline == 0.0
    # 20 is normal in slot 2 and an anomaly in slot 0
    assert det.score_one(20.0, 10) < 1.0
    spike = det.update(20.0, 12)
    assert spike.is_anomaly
    assert spike.direction == 1
    assert spike.baseline == 0.0


def test_no_alert_before_the_slot_is_ready_unless_asked() -> None:
    season = Seasonality(period=4, slots=4, min_cycles=2, interpolate=False)
    quiet = AnomalyDetector(warmup=2, seasonality=season)
    loud = AnomalyDetector(
        warmup=2, seasonality=Seasonality(period=4, slots=4, interpolate=False, alert_before_ready=True)
    )
    for i in range(3):
        quiet.update(_seasonal_point(i), i)
        loud.update(_seasonal_point(i), i)
    assert not quiet.update(500.0, 3).is_anomaly
    assert loud.update(500.0, 3).is_anomaly


def test_profile_is_interpolated_between_slot_centres() -> None:
    # two slots over a period of 4: centres at 1 and 3, levels 0 and 10
    det = AnomalyDetector(warmup=2, seasonality=Seasonality(period=4, slots=2, min_cycles=2))
    for i in range(16):
        det.update([0.0, 0.0, 10.0, 10.0][i % 4] + (0.25 if i % 8 < 4 else -0.25), i)
    # slot 0 holds 0.25 x 4 and -0.25 x 4 (median 0), slot 1 likewise around 10
    baselines = [det.baseline_at(t)[0] for t in [17.0, 16.0, 18.0, 18.5, 19.0, 20.25]]
    assert baselines == [0.0, 5.0, 5.0, 7.5, 10.0, 3.75]
    assert det.update(0.0, 17.0).baseline == 0.0


def test_score_many_matches_score_one_and_update_many_matches_update() -> None:
    rng = np.random.default_rng(1)
    xs = 50 + rng.normal(0, 1, 300)
    xs[[150, 200]] += 12  # after the first cycle, once every slot is ready
    ts = np.arange(300) * 10.0
    season = Seasonality(period=600.0, slots=6)
    one = AnomalyDetector(warmup=20, seasonality=season)
    expected = [one.update(float(x), float(t)) for x, t in zip(xs, ts, strict=True)]
    batch = AnomalyDetector(warmup=20, seasonality=season).update_many(xs, ts)
    assert len(batch) == 300
    assert batch.is_anomaly.tolist() == [r.is_anomaly for r in expected]
    assert np.allclose(batch.score, [r.score for r in expected])
    assert np.allclose(batch.baseline, [r.baseline for r in expected], equal_nan=True)
    assert np.flatnonzero(batch.is_anomaly).tolist() == [150, 200]
    probe = np.array([49.0, 50.0, 70.0])
    tp = np.array([3000.0, 3010.0, 3020.0])
    assert np.allclose(one.score_many(probe, tp), [one.score_one(x, t) for x, t in zip(probe, tp, strict=True)])


def test_snapshot_restores_exactly_and_is_json() -> None:
    rng = np.random.default_rng(2)
    season = Seasonality(period=100.0, slots=5)
    det = AnomalyDetector(warmup=10, seasonality=season, relearn_after=3)
    xs = 10 + rng.normal(0, 1, 250)
    for i, x in enumerate(xs[:240]):
        det.update(float(x), float(i))
    det.update(30.0, 240.0)  # a pending run travels with the state
    state = json.loads(json.dumps(det.snapshot()))
    copy = AnomalyDetector.from_snapshot(state)
    assert copy.snapshot() == det.snapshot()
    for i, x in enumerate(xs[240:], start=241):
        assert copy.update(float(x), float(i)) == det.update(float(x), float(i))


def test_merge_equals_one_detector_that_saw_everything() -> None:
    rng = np.random.default_rng(3)
    xs = 100 + rng.uniform(-1, 1, 200)  # never strays 2.25 spreads: every point is learned
    whole = AnomalyDetector(warmup=5, window=512)
    left = AnomalyDetector(warmup=5, window=512)
    right = AnomalyDetector(warmup=5, window=512)
    for i, x in enumerate(xs):
        whole.update(float(x), float(i))
        (left if i % 2 else right).update(float(x), float(i))
    assert whole.n_anomalies == left.n_anomalies == right.n_anomalies == 0
    merged = left.merge(right)
    assert merged.n_seen == 200
    assert sorted(merged.snapshot()["history"]["x"]) == sorted(whole.snapshot()["history"]["x"])
    assert merged.update(150.0, 200.0) == whole.update(150.0, 200.0)
    with pytest.raises(ValueError, match="different configs"):
        left.merge(AnomalyDetector(warmup=6))


def test_merge_keeps_the_newest_window() -> None:
    a = AnomalyDetector(window=4, warmup=0)
    b = AnomalyDetector(window=4, warmup=0)
    for t in range(4):
        a.update(float(t), float(t))
        b.update(float(t + 10), float(t + 10))
    assert a.merge(b).snapshot()["history"] == {"x": [10.0, 11.0, 12.0, 13.0], "t": [10.0, 11.0, 12.0, 13.0]}


def test_bad_input_names_the_field() -> None:
    det = AnomalyDetector()
    with pytest.raises(ValueError, match="x must be a finite number"):
        det.update(math.nan)
    with pytest.raises(ValueError, match="t must be a finite number"):
        det.update(1.0, math.inf)
    with pytest.raises(ValueError, match="threshold must be a positive number"):
        DetectorConfig(threshold=0)
    with pytest.raises(ValueError, match=r"shift_threshold must be in \(0, threshold=4.5\]"):
        DetectorConfig(shift_threshold=5.0)
    with pytest.raises(ValueError, match=r"seasonality\.slots must be at least 1"):
        Seasonality(slots=0)
    with pytest.raises(ValueError, match="window must be at least 2"):
        AnomalyDetector(window=1)


def test_series_detector_bounds_cardinality_and_merges() -> None:
    sd = SeriesDetector(warmup=3, max_series=2)
    for i in range(6):
        sd.update("a", 10.0 + i % 2, i)
        sd.update("b", 20.0 + i % 2, i)
    assert sd.update("a", 40.0, 6).is_anomaly
    assert sd.score_one("zzz", 1.0) == 0.0
    sd.update("c", 1.0, 6)  # evicts "b", the least recently updated
    assert sorted(sd) == ["a", "c"]
    assert sd.evicted == 1
    other = SeriesDetector(warmup=3, max_series=2)
    other.update("a", 11.0, 7)
    merged = SeriesDetector.from_snapshot(json.loads(json.dumps(sd.snapshot()))).merge(other)
    detector_a = merged.get("a")
    assert detector_a is not None
    assert detector_a.n_seen == 8
    batch = merged.update_many(["a", "c"], [11.0, 1.0], [8.0, 8.0])
    assert batch.is_anomaly.tolist() == [False, False]


def _labelled_series(seed: int) -> tuple[np.ndarray, np.ndarray, list[tuple[int, str]]]:
    """6 days of 5-minute points, daily cycle, noise 1; spikes, dips and one shift after day 2."""
    rng = np.random.default_rng(seed)
    per_day = 288
    n = 6 * per_day
    t = 300.0 * np.arange(n)
    w = 2 * np.pi * t / 86_400
    x = 100 + 12 * np.sin(w + seed) + rng.normal(0, 1, n)
    events = [(2 * per_day + 100, "spike"), (3 * per_day + 40, "dip"), (4 * per_day + 7, "shift")]
    events += [(5 * per_day + 10, "spike"), (5 * per_day + 150, "dip")]
    for p, kind in events:
        size = rng.uniform(8, 15)
        if kind == "spike":
            x[p] += size
        elif kind == "dip":
            x[p] -= size
        else:
            x[p:] -= size
    return t, x, events


def test_precision_and_recall_on_labelled_seasonal_series() -> None:
    tp = fp = detected = total = 0
    k = 5
    for seed in range(4):
        t, x, events = _labelled_series(seed)
        det = AnomalyDetector(relearn_after=k, seasonality=Seasonality(period=86_400.0, slots=24))
        alerts = np.flatnonzero(det.update_many(x, t).is_anomaly)
        positions = np.array([p for p, _ in events])
        shift = next(p for p, kind in events if kind == "shift")
        for j in alerts:
            if np.any(np.abs(positions - j) <= 1):
                tp += 1
            elif not shift + 2 <= j <= shift + k:
                fp += 1
        detected += sum(bool(np.any(np.abs(alerts - p) <= 1)) for p in positions)
        total += len(events)
    assert tp / (tp + fp) >= 0.95
    assert detected / total >= 0.95
