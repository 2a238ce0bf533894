"""StreamProcessor: firing, watermarks, lateness, idle timeout, overflow, processing time, state."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from knhk_telemetry.model.batch import SpanBatch
from knhk_telemetry.stream.aggregates import Aggregates, Custom
from knhk_telemetry.stream.processor import StreamProcessor, WindowConfig
from knhk_telemetry.stream.windows import Session, Sliding, Tumbling

MakeSpans = Callable[[Iterable[tuple[Any, ...]]], SpanBatch]
S = 1_000_000_000


def _rows(t: pa.Table, *cols: str) -> list[tuple[Any, ...]]:
    d = t.to_pydict()
    return sorted(zip(*(d[c] for c in cols), strict=True), key=lambda r: [(v is None, v) for v in r])


def test_tumbling_fires_when_the_watermark_passes_the_end(make_spans: MakeSpans) -> None:
    fired: list[pa.Table] = []
    p = StreamProcessor(Tumbling(10 * S), group_by=["service.name"], on_fire=fired.append)
    p.process(make_spans([("a", "op", 1 * S, 100, False), ("a", "op", 9 * S, 300, True), ("b", "op", 5 * S, 7, False)]))
    assert p.watermark == 9 * S - 1
    assert fired == []
    # max event time 10s -> watermark 10s - 1 = end - 1 of [0, 10s): fires
    p.process(make_spans([("a", "op", 10 * S, 50, False)]))
    assert len(fired) == 1
    assert _rows(fired[0], "service.name", "window_start_ns", "window_end_ns", "count", "error_count") == [
        ("a", 0, 10 * S, 2, 1),
        ("b", 0, 10 * S, 1, 0),
    ]
    row = fired[0].filter(pa.compute.equal(fired[0].column("service.name"), "a")).to_pylist()[0]
    assert row["sum_duration_ns"] == 400
    assert row["min_duration_ns"] == 100
    assert row["max_duration_ns"] == 300
    assert row["avg_duration_ns"] == 200.0
    assert row["error_rate"] == 0.5
    assert row["throughput_per_s"] == 0.2
    assert row["p50_ns"] == 100.0  # rank ceil(0.5 * 2) = 1 -> the min, exactly
    assert row["p99_ns"] == 300.0
    assert row["late"] is False
    rest = p.flush()
    assert _rows(rest, "service.name", "window_start_ns", "count") == [("a", 10 * S, 1)]
    assert p.get_results().num_rows == 3
    assert p.get_results().num_rows == 0  # drained


def test_out_of_orderness_delays_firing_and_keeps_late_events(make_spans: MakeSpans) -> None:
    p = StreamProcessor(WindowConfig(window=Tumbling(10 * S), out_of_orderness=3 * S), group_by=["service.name"])
    p.process(make_spans([("a", "op", 12 * S, 1, False)]))  # watermark 9s - 1: nothing fires
    assert p.get_results(clear=False).num_rows == 0
    p.process(make_spans([("a", "op", 8 * S, 1, False)]))  # out of order but within 3s: counted
    p.process(make_spans([("a", "op", 13 * S, 1, False)]))  # watermark 10s - 1: fires [0, 10s)
    t = p.get_results()
    assert _rows(t, "window_start_ns", "count", "late") == [(0, 1, False)]
    p.process(make_spans([("a", "op", 7 * S, 1, False)]))  # window gone: late side output
    assert p.stats["late_events"] == 1
    late = p.late_data()
    assert len(late) == 1
    assert late.spans.column("end_time_unix_nano").to_pylist() == [7 * S]
    assert p.flush().column("count").to_pylist() == [2]


def test_allowed_lateness_re_emits_updated_results(make_spans: MakeSpans) -> None:
    cfg = WindowConfig(window=Tumbling(10 * S), allowed_lateness=5 * S)
    p = StreamProcessor(cfg, group_by=["service.name"])
    p.process(make_spans([("a", "op", 1 * S, 10, False), ("b", "op", 2 * S, 10, False)]))
    p.process(make_spans([("a", "op", 11 * S, 10, False)]))  # fires [0,10): a=1, b=1
    first = p.get_results()
    assert _rows(first, "service.name", "count", "late", "update") == [("a", 1, False, 0), ("b", 1, False, 0)]
    p.process(make_spans([("a", "op", 3 * S, 30, True), ("a", "op", 4 * S, 20, False)]))  # late, within lateness
    upd = p.get_results()
    # only key "a" is re-emitted, with the whole window's content
    assert _rows(
        upd, "service.name", "window_start_ns", "count", "error_count", "max_duration_ns", "late", "update"
    ) == [("a", 0, 3, 1, 30, True, 1)]
    p.process(make_spans([("b", "op", 5 * S, 10, False)]))
    assert _rows(p.get_results(), "service.name", "count", "update") == [("b", 2, 1)]
    # watermark 15s - 1 >= 10s - 1 + 5s: the window is purged; later events go to the side output
    p.process(make_spans([("a", "op", 15 * S, 10, False)]))
    p.process(make_spans([("a", "op", 6 * S, 10, False), ("b", "op", 12 * S, 10, False)]))
    assert p.stats["late_events"] == 1
    assert p.stats["late_updates"] == 2
    assert len(p.late_data()) == 1
    assert p.latest().num_rows == 2


def test_sliding_windows_count_each_event_in_size_over_slide_windows(make_spans: MakeSpans) -> None:
    p = StreamProcessor(Sliding(30 * S, 10 * S), group_by=["service.name"])
    p.process(make_spans([("a", "op", 25 * S, 1, False), ("a", "op", 5 * S, 2, False)]))
    p.flush()
    t = p.get_results()
    assert _rows(t, "window_start_ns", "window_end_ns", "count", "sum_duration_ns") == [
        (-20 * S, 10 * S, 1, 2),
        (-10 * S, 20 * S, 1, 2),
        (0, 30 * S, 2, 3),
        (10 * S, 40 * S, 1, 1),
        (20 * S, 50 * S, 1, 1),
    ]


def test_sliding_late_event_updates_only_live_windows(make_spans: MakeSpans) -> None:
    p = StreamProcessor(WindowConfig(window=Sliding(20 * S, 10 * S), allowed_lateness=0), group_by=["service.name"])
    p.process(make_spans([("a", "op", 21 * S, 1, False)]))  # wm 21s-1: [0,20) fires (empty: nothing)
    p.process(make_spans([("a", "op", 15 * S, 1, False)]))  # [0,20) purged; [10,30) live: assigned there
    assert p.stats["late_events"] == 0
    assert p.stats["dropped_window_assignments"] == 1
    p.flush()
    t = p.get_results()
    assert _rows(t, "window_start_ns", "count") == [(10 * S, 2), (20 * S, 1)]


def test_sessions_merge_when_exactly_gap_apart(make_spans: MakeSpans) -> None:
    p = StreamProcessor(WindowConfig(window=Session(5 * S), out_of_orderness=60 * S), group_by=["service.name"])
    p.process(make_spans([("a", "op", 1, 1, False), ("a", "op", 5 * S + 1, 1, False), ("b", "op", 3 * S, 1, False)]))
    p.process(make_spans([("a", "op", 10 * S + 1, 1, False), ("a", "op", 16 * S, 1, False)]))  # 10s+1: touches
    t = p.flush()
    assert _rows(t, "service.name", "window_start_ns", "window_end_ns", "count") == [
        ("a", 1, 15 * S + 1, 3),
        ("a", 16 * S, 21 * S, 1),
        ("b", 3 * S, 8 * S, 1),
    ]


def test_session_bridged_by_a_later_batch_merges_two_sessions(make_spans: MakeSpans) -> None:
    p = StreamProcessor(WindowConfig(window=Session(2 * S), out_of_orderness=100 * S), group_by=["service.name"])
    p.process(make_spans([("a", "op", 1 * S, 1, False), ("a", "op", 6 * S, 2, False)]))
    p.process(make_spans([("a", "op", 3 * S, 4, False), ("a", "op", 5 * S, 8, False)]))  # bridges 1s..6s
    t = p.flush()
    assert _rows(t, "window_start_ns", "window_end_ns", "count", "sum_duration_ns") == [(1 * S, 8 * S, 4, 15)]


def test_session_late_event_updates_fired_session_within_lateness(make_spans: MakeSpans) -> None:
    p = StreamProcessor(WindowConfig(window=Session(2 * S), allowed_lateness=10 * S), group_by=["service.name"])
    p.process(make_spans([("a", "op", 1, 1, False)]))
    p.process(make_spans([("a", "op", 5 * S, 1, False)]))  # wm 5s-1 >= 2s: session [1ns, 2s+1ns) fires
    assert _rows(p.get_results(), "window_start_ns", "window_end_ns", "count", "late") == [(1, 2 * S + 1, 1, False)]
    p.process(make_spans([("a", "op", 1 * S, 1, False)]))  # late, merges into [1ns, 3s): re-emitted
    assert _rows(p.get_results(), "window_start_ns", "window_end_ns", "count", "late", "update") == [
        (1, 3 * S, 2, True, 1)
    ]
    p.process(make_spans([("a", "op", 30 * S, 1, False)]))  # purges everything before
    p.process(make_spans([("a", "op", 1 * S, 1, False), ("a", "op", 29 * S, 1, False)]))
    assert p.stats["late_events"] == 1  # 1s: no live session near it; 29s touches [30s, 32s)
    assert len(p.late_data()) == 1


def test_idle_timeout_advances_the_watermark_with_processing_time(make_spans: MakeSpans) -> None:
    now = [1_000 * S]
    cfg = WindowConfig(window=Tumbling(10 * S), idle_timeout=30 * S)
    p = StreamProcessor(cfg, group_by=["service.name"], clock=lambda: now[0])
    p.process(make_spans([("a", "op", 5 * S, 1, False)]))
    now[0] += 20 * S
    assert p.on_idle().num_rows == 0  # idle 20s < 30s
    now[0] += 10 * S
    t = p.on_idle()  # idle 30s: watermark = 5s + 30s - 1 -> [0,10s) fires
    assert _rows(t, "window_start_ns", "count") == [(0, 1)]
    assert p.watermark == 35 * S - 1


def test_processing_time_windows_use_the_injected_clock(make_spans: MakeSpans) -> None:
    now = [100 * S + 1]
    p = StreamProcessor(
        WindowConfig(window=Tumbling(10 * S), domain="processing"), group_by=["service.name"], clock=lambda: now[0]
    )
    p.process(make_spans([("a", "op", 1, 1, False), ("b", "op", 999 * S, 1, False)]))  # event times ignored
    now[0] = 105 * S
    p.process(make_spans([("a", "op", 1, 1, False)]))
    assert p.get_results(clear=False).num_rows == 0
    now[0] = 110 * S
    t = p.on_idle()
    assert _rows(t, "service.name", "window_start_ns", "count") == [("a", 100 * S, 2), ("b", 100 * S, 1)]


def test_cardinality_limit_folds_extra_keys_into_the_overflow_key(make_spans: MakeSpans) -> None:
    cfg = WindowConfig(window=Tumbling(10 * S), max_keys=2)
    p = StreamProcessor(cfg, group_by=["service.name"])
    p.process(make_spans([("a", "op", 1, 1, False), ("b", "op", 2, 1, False)]))
    p.process(make_spans([("c", "op", 8, 5, True), ("d", "op", 4, 1, False), ("a", "op", 5, 1, False)]))
    t = p.flush()
    assert _rows(t, "service.name", "overflow", "overflow_keys", "count", "error_count") == [
        ("a", False, 0, 2, 0),
        ("b", False, 0, 1, 0),
        (None, True, 2, 2, 1),
    ]
    assert p.stats["overflow_keys"] == 2


def test_custom_aggregations_and_attribute_group_by(make_spans: MakeSpans) -> None:
    agg = Aggregates(
        quantiles=(0.5,),
        custom=(Custom("bytes_sum", "http.response.size", "sum"), Custom("bytes_max", "http.response.size", "max")),
    )
    p = StreamProcessor(Tumbling(10 * S), group_by=["http.route"], aggregates=agg)
    p.process(
        make_spans(
            [
                ("a", "op", 1, 1, False, {"http.route": "/x", "http.response.size": 10}),
                ("a", "op", 2, 1, False, {"http.route": "/x", "http.response.size": 2.5}),
                ("a", "op", 3, 1, False, {"http.route": "/y"}),
                ("a", "op", 4, 1, False, {}),
            ]
        )
    )
    t = p.flush()
    assert _rows(t, "http.route", "count", "bytes_sum", "bytes_max") == [
        ("/x", 2, 12.5, 10.0),
        ("/y", 1, None, None),
        (None, 1, None, None),
    ]
    assert t.column_names[-4:] == ["bytes_sum", "bytes_max", "late", "update"]


def test_snapshot_and_merge_equal_one_processor_over_all_data(make_spans: MakeSpans) -> None:
    rng = np.random.default_rng(1)
    rows = [
        (f"s{rng.integers(3)}", "op", int(rng.integers(S, 40 * S)), int(rng.integers(1, 10**6)), False)
        for _ in range(300)
    ]
    for window in (Tumbling(10 * S), Sliding(20 * S, 10 * S), Session(S // 2)):
        cfg = WindowConfig(window=window, out_of_orderness=100 * S)
        one, left, right = (StreamProcessor(cfg, group_by=["service.name"]) for _ in range(3))
        one.process(make_spans(rows))
        left.process(make_spans(rows[:150]))
        right.process(make_spans(rows[150:]))
        left.merge(right.snapshot())
        cols = ("service.name", "window_start_ns", "window_end_ns", "count", "sum_duration_ns", "p50_ns", "p99_ns")
        assert _rows(left.flush(), *cols) == _rows(one.flush(), *cols)


def test_bad_config_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"Tumbling\.size"):
        Tumbling(0)
    with pytest.raises(ValueError, match="offset"):
        Sliding(10, 5, offset=5)
    with pytest.raises(ValueError, match="allowed_lateness"):
        WindowConfig(window=Tumbling(10), allowed_lateness=-1)
    with pytest.raises(ValueError, match="group_by has duplicates"):
        StreamProcessor(Tumbling(10), group_by=["a", "a"])
