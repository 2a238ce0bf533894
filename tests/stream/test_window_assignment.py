"""Property tests: every event lands in exactly the right windows (tumbling, sliding, sessions)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knhk_telemetry.stream.processor import StreamProcessor, WindowConfig
from knhk_telemetry.stream.windows import (
    Session,
    Sliding,
    Tumbling,
    assign_windows,
    parse_window,
    session_ids,
    window_start,
)

timestamps = st.lists(st.integers(min_value=-(10**12), max_value=10**12), min_size=1, max_size=60)


@st.composite
def sliding_specs(draw: st.DrawFn) -> Sliding:
    slide = draw(st.integers(1, 50))
    size = draw(st.integers(1, 200))
    offset = draw(st.integers(-slide + 1, slide - 1))
    return Sliding(size, slide, offset)


def _brute(ts: int, w: Sliding) -> set[int]:
    # every start s = offset + k * slide with s <= ts < s + size
    k_hi = (ts - w.offset) // w.slide
    return {w.offset + k * w.slide for k in range(k_hi - w.size // w.slide - 2, k_hi + 1)} & {
        s for s in range(ts - w.size + 1 - w.slide, ts + 1) if (s - w.offset) % w.slide == 0 and s <= ts < s + w.size
    }


@settings(max_examples=150, deadline=None)
@given(ts=timestamps, w=sliding_specs())
def test_sliding_assignment_matches_the_definition(ts: list[int], w: Sliding) -> None:
    idx, starts = assign_windows(np.array(ts), w)
    for i, t in enumerate(ts):
        got = starts[idx == i].tolist()
        assert len(got) == len(set(got))
        assert set(got) == _brute(t, w)
        if w.size % w.slide == 0:
            assert len(got) == w.size // w.slide
        assert got == sorted(got, reverse=True)


@settings(max_examples=100, deadline=None)
@given(ts=timestamps, size=st.integers(1, 10**6), data=st.data())
def test_tumbling_start_is_floormod_aligned(ts: list[int], size: int, data: st.DataObject) -> None:
    offset = data.draw(st.integers(-size + 1, size - 1))
    w = Tumbling(size, offset)
    starts = window_start(np.array(ts), offset, size)
    idx, assigned = assign_windows(np.array(ts), w)
    assert idx.tolist() == list(range(len(ts)))
    assert assigned.tolist() == starts.tolist()
    for t, s in zip(ts, starts.tolist(), strict=True):
        assert s <= t < s + size
        assert (s - offset) % size == 0
        assert s == t - (t - offset) % size  # Python's % on ints is floor-mod


def _brute_sessions(ts: list[int], gap: int) -> list[tuple[int, int, int]]:
    """(start, end, count): merge [t, t + gap) intervals that overlap or touch, one at a time."""
    sessions: list[list[int]] = []
    for t in ts:  # any order: merging is order-independent
        win = [t, t + gap, 1]
        keep = []
        for s in sessions:
            if s[0] <= win[1] and win[0] <= s[1]:  # Flink TimeWindow.intersects (inclusive)
                win = [min(s[0], win[0]), max(s[1], win[1]), s[2] + win[2]]
            else:
                keep.append(s)
        sessions = [*keep, win]
        # a grown window may now touch others: repeat until stable
        changed = True
        while changed:
            changed = False
            for i in range(len(sessions)):
                for j in range(i + 1, len(sessions)):
                    a, b = sessions[i], sessions[j]
                    if a[0] <= b[1] and b[0] <= a[1]:
                        sessions[i] = [min(a[0], b[0]), max(a[1], b[1]), a[2] + b[2]]
                        del sessions[j]
                        changed = True
                        break
                if changed:
                    break
    return sorted((s[0], s[1], s[2]) for s in sessions)


@settings(max_examples=150, deadline=None)
@given(ts=st.lists(st.integers(0, 200), min_size=1, max_size=40), gap=st.integers(1, 20))
def test_session_ids_merge_overlapping_and_touching_windows(ts: list[int], gap: int) -> None:
    t = np.sort(np.array(ts))
    sid = session_ids(t, gap)
    got = sorted((int(t[sid == k].min()), int(t[sid == k].max()) + gap, int((sid == k).sum())) for k in np.unique(sid))
    assert got == _brute_sessions(ts, gap)


@settings(max_examples=60, deadline=None)
@given(
    events=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 300)), min_size=1, max_size=60),
    gap=st.integers(1, 30),
    n_batches=st.integers(1, 4),
)
def test_processor_sessions_equal_the_brute_force_per_key(
    events: list[tuple[int, int]], gap: int, n_batches: int
) -> None:
    """Batches in any order (no lateness: out-of-orderness covers all) give the definition's sessions."""
    p = StreamProcessor(WindowConfig(window=Session(gap), out_of_orderness=10**6), group_by=[])
    ks = np.array([k for k, _ in events], dtype=np.int64)
    ts = np.array([t for _, t in events], dtype=np.int64)
    key_ids = np.array([p.keys.id_of((f"k{k}",)) for k in range(3)], dtype=np.int64)
    for part in np.array_split(np.arange(len(events)), n_batches):
        p.process_events(
            ts=ts[part],
            key_codes=ks[part],
            key_ids=key_ids,
            durations=np.ones(part.size, np.int64),
            errors=np.zeros(part.size, np.bool_),
        )
    p.flush()
    t = p.get_results().to_pydict()
    got = sorted(zip(t["key_id"], t["window_start_ns"], t["window_end_ns"], t["count"], strict=True))
    want = sorted(
        (int(key_ids[k]), *s) for k in range(3) for s in _brute_sessions([x for kk, x in events if kk == k], gap)
    )
    assert got == want


@settings(max_examples=60, deadline=None)
@given(ts=st.lists(st.integers(0, 10**4), min_size=1, max_size=80), w=sliding_specs(), n_batches=st.integers(1, 4))
def test_processor_sliding_counts_equal_the_definition(ts: list[int], w: Sliding, n_batches: int) -> None:
    p = StreamProcessor(WindowConfig(window=w, out_of_orderness=10**6), group_by=[])
    arr = np.array(ts, dtype=np.int64)
    key_ids = np.array([p.keys.id_of(())], dtype=np.int64)
    for part in np.array_split(np.arange(arr.size), n_batches):
        p.process_events(
            ts=arr[part],
            key_codes=np.zeros(part.size, np.int64),
            key_ids=key_ids,
            durations=arr[part] + 1,
            errors=np.zeros(part.size, np.bool_),
        )
    p.flush()
    t = p.get_results().to_pydict()
    got = dict(zip(t["window_start_ns"], zip(t["count"], t["sum_duration_ns"], strict=True), strict=True))
    want: dict[int, tuple[int, int]] = {}
    for x in ts:
        for s in _brute(x, w):
            c, total = want.get(s, (0, 0))
            want[s] = (c + 1, total + x + 1)
    assert got == want
    assert p.stats["unassigned_events"] == sum(1 for x in ts if not _brute(x, w))


def test_parse_window_forms() -> None:
    assert parse_window("tumbling:10s") == Tumbling(10_000_000_000)
    assert parse_window("tumbling:1m@15s") == Tumbling(60_000_000_000, 15_000_000_000)
    assert parse_window("sliding:30s/10s") == Sliding(30_000_000_000, 10_000_000_000)
    assert parse_window("session:500ms") == Session(500_000_000)
    for bad in ("tumbling", "tumbling:10s/5s", "sliding:30s", "session:1s/2s", "cron:5s", "tumbling:abc"):
        with pytest.raises(ValueError, match="window"):
            parse_window(bad)
