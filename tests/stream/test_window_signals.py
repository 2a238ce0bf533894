"""StreamProcessor over log batches and metric batches: exact results on hand-built inputs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from knhk_telemetry.model.batch import LogBatch, MetricBatch
from knhk_telemetry.model.edge import (
    HistogramDataPoint,
    LogEntry,
    Metric,
    NumberDataPoint,
    Resource,
    SummaryDataPoint,
    logs_to_batch,
    metrics_to_batch,
)
from knhk_telemetry.model.schema import MetricType
from knhk_telemetry.stream.aggregates import Aggregates, Custom
from knhk_telemetry.stream.processor import StreamProcessor, WindowConfig
from knhk_telemetry.stream.sketch import relative_error_bound
from knhk_telemetry.stream.windows import Session, Sliding, Tumbling

S = 1_000_000_000


def _rows(t: pa.Table, *cols: str) -> list[tuple[Any, ...]]:
    d = t.to_pydict()
    return sorted(zip(*(d[c] for c in cols), strict=True), key=lambda r: [(v is None, v) for v in r])


def logs(rows: Iterable[tuple[Any, ...]]) -> LogBatch:
    """Rows: (service, severity_number, severity_text, time[, attributes[, observed time]])."""
    out = []
    for row in rows:
        service, number, text, t = row[:4]
        attrs: Mapping[str, Any] = row[4] if len(row) > 4 else {}
        observed = row[5] if len(row) > 5 else 0
        out.append(
            LogEntry(
                time_unix_nano=t,
                observed_time_unix_nano=observed,
                severity_number=number,
                severity_text=text,
                attributes=dict(attrs),
                resource=Resource(attributes={"service.name": service}),
            )
        )
    return logs_to_batch(out)


def points(rows: Iterable[tuple[Any, ...]]) -> MetricBatch:
    """Rows: (metric name, value, time[, point attributes[, unit[, service[, type]]]])."""
    out = []
    for row in rows:
        name, value, t = row[:3]
        attrs: Mapping[str, Any] = row[3] if len(row) > 3 else {}
        unit = row[4] if len(row) > 4 else "1"
        service = row[5] if len(row) > 5 else "svc"
        mtype = row[6] if len(row) > 6 else MetricType.GAUGE
        out.append(
            Metric(
                name,
                mtype,
                [NumberDataPoint(value=value, time_unix_nano=t, attributes=dict(attrs))],
                unit=unit,
                resource=Resource(attributes={"service.name": service}),
            )
        )
    return metrics_to_batch(out)


# ---------------------------------------------------------------------------------------- logs
def test_log_windows_count_errors_by_service_and_severity() -> None:
    p = StreamProcessor(Tumbling(10 * S), signal="logs")
    p.process(
        logs(
            [
                ("a", 17, "ERROR", 1 * S),
                ("a", 9, "INFO", 2 * S),
                ("a", 21, "FATAL", 3 * S),
                ("a", 17, "ERROR", 4 * S),
                ("b", 13, "WARN", 9 * S),
                ("b", 16, "WARN", 12 * S),
            ]
        )
    )
    p.flush()
    t = p.get_results()
    assert p.group_by == ("service.name", "severity_text")
    assert _rows(t, "window_start_ns", "service.name", "severity_text", "count", "error_count", "error_rate") == [
        (0, "a", "ERROR", 2, 2, 1.0),
        (0, "a", "FATAL", 1, 1, 1.0),
        (0, "a", "INFO", 1, 0, 0.0),
        (0, "b", "WARN", 1, 0, 0.0),
        (10 * S, "b", "WARN", 1, 0, 0.0),
    ]
    assert _rows(t, "service.name", "severity_text", "throughput_per_s")[0] == ("a", "ERROR", 0.2)
    # the exact columns of a log window result: no duration, value or percentile columns
    assert t.column_names == [
        "window_start_ns",
        "window_end_ns",
        "key_id",
        "service.name",
        "severity_text",
        "overflow",
        "overflow_keys",
        "count",
        "error_count",
        "error_rate",
        "throughput_per_s",
        "late",
        "update",
    ]
    assert p.result_columns() == t.column_names


def test_log_event_time_falls_back_to_observed_time_and_is_configurable() -> None:
    batch = logs(
        [
            ("a", 9, "INFO", 5 * S, {}, 15 * S),  # time 5s, observed 15s
            ("a", 9, "INFO", 0, {}, 25 * S),  # no time: observed 25s
        ]
    )
    p = StreamProcessor(WindowConfig(window=Tumbling(10 * S), out_of_orderness=60 * S), signal="logs")
    p.process(batch)
    assert _rows(p.flush(), "window_start_ns", "count") == [(0, 1), (20 * S, 1)]
    cfg = WindowConfig(window=Tumbling(10 * S), time="observed", out_of_orderness=60 * S)
    q = StreamProcessor(cfg, signal="logs")
    q.process(batch)
    assert _rows(q.flush(), "window_start_ns", "count") == [(10 * S, 1), (20 * S, 1)]


def test_log_keys_from_fields_scope_and_attributes_and_custom_aggregations() -> None:
    entries = [
        LogEntry(
            time_unix_nano=1 * S,
            severity_number=17,
            severity_text="ERROR",
            event_name="db.fail",
            attributes={"bytes": 100, "route": "/x"},
            resource=Resource(attributes={"service.name": "a", "route": "/res"}),
        ),
        LogEntry(
            time_unix_nano=2 * S,
            severity_number=17,
            event_name="db.fail",
            attributes={"bytes": 2.5},
            resource=Resource(attributes={"service.name": "a", "route": "/res"}),
        ),
        LogEntry(time_unix_nano=3 * S, severity_number=5, attributes={"bytes": "many"}),
    ]
    agg = Aggregates(
        custom=(
            Custom("bytes_sum", "bytes", "sum"),
            Custom("bytes_n", "bytes", "count"),
            Custom("sev_max", "severity_number", "max"),
        )
    )
    dims = ["severity_number", "event_name", "route", "scope.name", "severity_text"]
    p = StreamProcessor(Tumbling(10 * S), signal="logs", group_by=dims, aggregates=agg)
    p.process(logs_to_batch(entries))
    t = p.flush()
    # an empty severity_text / event_name is unset: None in the key; "route" falls back to the resource
    assert _rows(t, *dims, "count", "error_count", "bytes_sum", "bytes_n", "sev_max") == [
        (5, None, None, "", None, 1, 0, None, 0, 5.0),
        (17, "db.fail", "/res", "", None, 1, 1, 2.5, 1, 17.0),
        (17, "db.fail", "/x", "", "ERROR", 1, 1, 100.0, 1, 17.0),
    ]


def test_late_logs_go_to_the_side_output_or_update_within_lateness() -> None:
    cfg = WindowConfig(window=Tumbling(10 * S), out_of_orderness=2 * S, allowed_lateness=5 * S)
    p = StreamProcessor(cfg, signal="logs", group_by=["service.name"])
    p.process(logs([("a", 17, "ERROR", 1 * S), ("a", 9, "INFO", 11 * S)]))
    assert p.get_results().num_rows == 0  # watermark 9s - 1
    p.process(logs([("a", 9, "INFO", 13 * S)]))  # watermark 11s - 1: [0, 10s) fires
    assert _rows(p.get_results(), "window_start_ns", "count", "error_count", "late", "update") == [(0, 1, 1, False, 0)]
    p.process(logs([("a", 21, "FATAL", 4 * S)]))  # late but within lateness: re-emitted
    assert _rows(p.get_results(), "window_start_ns", "count", "error_count", "late", "update") == [(0, 2, 2, True, 1)]
    p.process(logs([("a", 9, "INFO", 20 * S)]))  # watermark 18s - 1 >= 10s - 1 + 5s: purged
    p.process(logs([("a", 13, "WARN", 5 * S, {"n": 1}), ("b", 9, "INFO", 19 * S)]))
    assert p.stats["late_events"] == 1
    late = p.late_data()
    assert isinstance(late, LogBatch)
    assert late.logs.column("time_unix_nano").to_pylist() == [5 * S]
    assert late.logs.column("severity_number").to_pylist() == [13]
    assert _rows(p.flush(), "service.name", "window_start_ns", "count") == [
        ("a", 10 * S, 2),
        ("a", 20 * S, 1),
        ("b", 10 * S, 1),
    ]


def test_log_sessions_and_sliding_windows_share_the_window_code() -> None:
    batch = logs([("a", 17, "E", 1 * S), ("a", 9, "I", 3 * S), ("a", 9, "I", 9 * S), ("b", 9, "I", 3 * S)])
    cfg = WindowConfig(window=Session(2 * S), out_of_orderness=60 * S)
    s = StreamProcessor(cfg, signal="logs", group_by=["service.name"])
    s.process(batch)
    assert _rows(s.flush(), "service.name", "window_start_ns", "window_end_ns", "count", "error_count") == [
        ("a", 1 * S, 5 * S, 2, 1),
        ("a", 9 * S, 11 * S, 1, 0),
        ("b", 3 * S, 5 * S, 1, 0),
    ]
    w = StreamProcessor(
        WindowConfig(window=Sliding(10 * S, 5 * S), out_of_orderness=60 * S),
        signal="logs",
        group_by=["service.name"],
    )
    w.process(batch)
    assert _rows(w.flush(), "service.name", "window_start_ns", "count", "error_count") == [
        ("a", -5 * S, 2, 1),
        ("a", 0, 3, 1),
        ("a", 5 * S, 1, 0),
        ("b", -5 * S, 1, 0),
        ("b", 0, 1, 0),
    ]


def test_log_idle_timeout_and_processing_time() -> None:
    now = [1_000 * S]
    cfg = WindowConfig(window=Tumbling(10 * S), idle_timeout=30 * S)
    p = StreamProcessor(cfg, signal="logs", group_by=["service.name"], clock=lambda: now[0])
    p.process(logs([("a", 9, "I", 5 * S)]))
    now[0] += 30 * S
    assert _rows(p.on_idle(), "window_start_ns", "count") == [(0, 1)]
    clock = [100 * S + 1]
    q = StreamProcessor(
        WindowConfig(window=Tumbling(10 * S), domain="processing"),
        signal="logs",
        group_by=["service.name"],
        clock=lambda: clock[0],
    )
    q.process(logs([("a", 9, "I", 1), ("a", 17, "E", 999 * S)]))
    clock[0] = 110 * S
    assert _rows(q.on_idle(), "window_start_ns", "count", "error_count") == [(100 * S, 2, 1)]


# ------------------------------------------------------------------------------------- metrics
def test_metric_windows_sum_min_max_avg_last_and_percentiles() -> None:
    p = StreamProcessor(Tumbling(10 * S), signal="metrics", group_by=["metric.name", "cpu"])
    p.process(
        points(
            [
                ("cpu.util", 3, 1 * S, {"cpu": "0"}),  # as_int
                ("cpu.util", -2.5, 7 * S, {"cpu": "0"}),  # as_double, negative
                ("cpu.util", 0, 4 * S, {"cpu": "0"}),
                ("cpu.util", 1.5, 5 * S, {"cpu": "1"}),
                ("cpu.util", 8, 12 * S, {"cpu": "1"}),
            ]
        )
    )
    p.flush()
    t = p.get_results()
    assert _rows(
        t,
        "window_start_ns",
        "cpu",
        "count",
        "sum_value",
        "avg_value",
        "min_value",
        "max_value",
        "last_value",
        "last_time_unix_nano",
    ) == [
        (0, "0", 3, 0.5, 0.5 / 3, -2.5, 3.0, -2.5, 7 * S),
        (0, "1", 1, 1.5, 1.5, 1.5, 1.5, 1.5, 5 * S),
        (10 * S, "1", 1, 8.0, 8.0, 8.0, 8.0, 8.0, 12 * S),
    ]
    # rank ceil(0.5 * 3) = 2 of (-2.5, 0, 3): the zero bucket, exactly 0; rank 1 / n: min / max
    row = t.filter(pa.compute.equal(t.column("cpu"), "0")).to_pylist()[0]
    assert (row["p50_value"], row["p95_value"], row["p99_value"]) == (0.0, 3.0, 3.0)
    assert t.column_names == [
        "window_start_ns",
        "window_end_ns",
        "key_id",
        "metric.name",
        "cpu",
        "overflow",
        "overflow_keys",
        "count",
        "sum_value",
        "avg_value",
        "min_value",
        "max_value",
        "last_value",
        "last_time_unix_nano",
        "p50_value",
        "p95_value",
        "p99_value",
        "throughput_per_s",
        "late",
        "update",
    ]


def test_metric_percentiles_of_signed_values_within_the_sketch_bound() -> None:
    rng = np.random.default_rng(5)
    values = np.concatenate([rng.normal(0, 50, 3000), np.zeros(200), -np.exp(rng.normal(3, 2, 800))])
    rng.shuffle(values)
    qs = (0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99)
    batch = points([("m", float(v), S + i) for i, v in enumerate(values)])
    p = StreamProcessor(Tumbling(10 * S), signal="metrics", aggregates=Aggregates(quantiles=qs))
    p.process(batch)
    row = p.flush().to_pylist()[0]
    bound = relative_error_bound(7)
    for q in qs:
        exact = float(np.quantile(values, q, method="inverted_cdf"))
        est = row[f"p{round(q * 100)}_value"]
        assert abs(est - exact) <= bound * abs(exact) * (1 + 1e-9), (q, est, exact)
    assert row["count"] == 4000
    assert row["min_value"] == values.min()
    assert row["max_value"] == values.max()
    assert row["sum_value"] == pytest.approx(values.sum(), rel=1e-12, abs=1e-9)


def test_metric_keys_unit_type_resource_and_skipped_points() -> None:
    batch = metrics_to_batch(
        [
            Metric(
                "http.duration",
                MetricType.SUM,
                [NumberDataPoint(value=2, time_unix_nano=1 * S), NumberDataPoint(value=None, time_unix_nano=2 * S)],
                unit="ms",
                resource=Resource(attributes={"service.name": "a"}),
            ),
            Metric(
                "http.duration",
                MetricType.GAUGE,
                [
                    NumberDataPoint(value=4.0, time_unix_nano=3 * S),
                    NumberDataPoint(value=float("nan"), time_unix_nano=3 * S),
                    NumberDataPoint(value=9.0, time_unix_nano=3 * S, flags=1),  # NO_RECORDED_VALUE
                ],
                resource=Resource(attributes={"service.name": "b"}),
            ),
            Metric(
                "h",
                MetricType.HISTOGRAM,
                [HistogramDataPoint(count=2, sum=3.0, bucket_counts=[1, 1], explicit_bounds=[1.0], time_unix_nano=4)],
            ),
            Metric("s", MetricType.SUMMARY, [SummaryDataPoint(count=1, sum=1.0, time_unix_nano=5)]),
        ]
    )
    dims = ["service.name", "metric.name", "metric.unit", "metric.type", "resource.service.name"]
    p = StreamProcessor(Tumbling(10 * S), signal="metrics", group_by=dims)
    p.process(batch)
    assert _rows(p.flush(), *dims, "count", "sum_value") == [
        ("a", "http.duration", "ms", "SUM", "a", 1, 2.0),
        ("b", "http.duration", None, "GAUGE", "b", 1, 4.0),
    ]
    assert p.stats["events"] == 2
    assert p.stats["non_number_points"] == 2
    assert p.stats["no_value_points"] == 3


def test_metric_last_value_is_the_latest_event_time_across_batches_and_panes() -> None:
    cfg = WindowConfig(window=Sliding(20 * S, 10 * S), out_of_orderness=60 * S)
    p = StreamProcessor(cfg, signal="metrics", group_by=["metric.name"])
    p.process(points([("g", 1, 15 * S), ("g", 2, 3 * S)]))
    p.process(points([("g", 3, 12 * S), ("g", 4, 15 * S)]))  # same time as the first: the later arrival wins
    t = p.flush()
    assert _rows(t, "window_start_ns", "count", "last_value", "last_time_unix_nano", "min_value") == [
        (-10 * S, 1, 2.0, 3 * S, 2.0),
        (0, 4, 4.0, 15 * S, 1.0),
        (10 * S, 3, 4.0, 15 * S, 1.0),
    ]


def test_late_metric_points_and_sessions() -> None:
    cfg = WindowConfig(window=Session(5 * S))
    p = StreamProcessor(cfg, signal="metrics", group_by=["metric.name"])
    p.process(points([("g", 1, 1 * S), ("g", 2, 4 * S)]))
    p.process(points([("g", 5, 30 * S), ("g", 6, 31 * S)]))  # watermark 31s - 1: [1s, 9s) fires
    assert _rows(p.get_results(), "window_start_ns", "window_end_ns", "count", "sum_value", "last_value") == [
        (1 * S, 9 * S, 2, 3.0, 2.0)
    ]
    batch = metrics_to_batch(
        [
            Metric("g", MetricType.GAUGE, [NumberDataPoint(value=7, time_unix_nano=2 * S)]),
            Metric("h", MetricType.HISTOGRAM, [HistogramDataPoint(count=1, time_unix_nano=2 * S)]),
            Metric("g", MetricType.GAUGE, [NumberDataPoint(value=8, time_unix_nano=32 * S)]),
        ]
    )
    p.process(batch)
    assert p.stats["late_events"] == 1
    late = p.late_data()
    assert isinstance(late, MetricBatch)
    assert late.points.column("value_int").to_pylist() == [7]
    assert _rows(p.flush(), "window_start_ns", "window_end_ns", "count", "sum_value", "last_value") == [
        (30 * S, 37 * S, 3, 19.0, 8.0)
    ]


def test_metric_snapshot_and_merge_equal_one_processor() -> None:
    rng = np.random.default_rng(2)
    rows = [
        (f"m{rng.integers(3)}", float(rng.normal(0, 10)), int(rng.integers(S, 40 * S)), {"k": str(rng.integers(2))})
        for _ in range(300)
    ]
    for window in (Tumbling(10 * S), Sliding(20 * S, 10 * S), Session(S // 2)):
        cfg = WindowConfig(window=window, out_of_orderness=100 * S)
        one, left, right = (StreamProcessor(cfg, signal="metrics", group_by=["metric.name", "k"]) for _ in range(3))
        one.process(points(rows))
        left.process(points(rows[:150]))
        right.process(points(rows[150:]))
        left.merge(right.snapshot())
        cols = ("metric.name", "k", "window_start_ns", "count", "min_value", "max_value", "last_value", "p50_value")
        assert _rows(left.flush(), *cols) == _rows(one.flush(), *cols)
    logs_proc = StreamProcessor(Tumbling(10 * S), signal="logs")
    with pytest.raises(ValueError, match="merge: the snapshot windows metrics, not logs"):
        logs_proc.merge(StreamProcessor(Tumbling(10 * S), signal="metrics").snapshot())


def test_signal_mismatches_and_bad_time_fields_are_refused() -> None:
    p = StreamProcessor(Tumbling(10 * S), signal="logs")
    with pytest.raises(TypeError, match=r"StreamProcessor\(signal='logs'\) takes a LogBatch, got MetricBatch"):
        p.process(points([("g", 1, 1)]))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"WindowConfig\.time for logs must be 'time' or 'observed', got 'end'"):
        StreamProcessor(WindowConfig(window=Tumbling(10), time="end"), signal="logs")
    with pytest.raises(ValueError, match=r"WindowConfig\.time for traces must be 'end' or 'start', got 'observed'"):
        StreamProcessor(WindowConfig(window=Tumbling(10), time="observed"))
    with pytest.raises(ValueError, match="signal must be one of traces, logs, metrics"):
        StreamProcessor(Tumbling(10), signal="events")  # type: ignore[call-overload]
    assert StreamProcessor(Tumbling(10), signal="metrics").late_data() == MetricBatch.empty()


def test_log_snapshot_merge_and_metric_overflow_key() -> None:
    rng = np.random.default_rng(3)
    rows = [
        (
            f"s{rng.integers(3)}",
            int(rng.integers(1, 25)),
            "X",
            int(rng.integers(S, 40 * S)),
            {"n": int(rng.integers(9))},
        )
        for _ in range(200)
    ]
    agg = Aggregates(custom=(Custom("n_sum", "n", "sum"),))
    for window in (Tumbling(10 * S), Session(S)):
        cfg = WindowConfig(window=window, out_of_orderness=100 * S)
        one, left, right = (
            StreamProcessor(cfg, signal="logs", group_by=["service.name"], aggregates=agg) for _ in range(3)
        )
        one.process(logs(rows))
        left.process(logs(rows[:100]))
        right.process(logs(rows[100:]))
        left.merge(right.snapshot())
        cols = ("service.name", "window_start_ns", "window_end_ns", "count", "error_count", "n_sum")
        assert _rows(left.flush(), *cols) == _rows(one.flush(), *cols)
    p = StreamProcessor(WindowConfig(window=Tumbling(10 * S), max_keys=1), signal="metrics", group_by=["metric.name"])
    p.process(points([("a", 1, 1 * S), ("b", -4, 2 * S), ("c", 2.5, 3 * S), ("a", 3, 4 * S)]))
    assert _rows(p.flush(), "metric.name", "overflow", "overflow_keys", "count", "sum_value", "last_value") == [
        ("a", False, 0, 2, 4.0, 3.0),
        (None, True, 2, 2, -1.5, 2.5),
    ]
