"""The ``windows`` command against DuckDB SQL over the same random spans (tumbling, hop, sessions)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from knhk_telemetry.model.batch import SpanBatch
from knhk_telemetry.otlp.json import decode_json, encode_json
from knhk_telemetry.stream.cli import windows_command
from knhk_telemetry.stream.sketch import relative_error_bound

MakeSpans = Callable[[Iterable[tuple[Any, ...]]], SpanBatch]
S = 1_000_000_000
T0 = 1_700_000_000 * S
BOUND = relative_error_bound(7)
AGG_SQL = (
    "count(*) AS n, sum(err::INT) AS errors, sum(dur) AS total, min(dur) AS lo, max(dur) AS hi, "
    "quantile_disc(dur, 0.5) AS p50, quantile_disc(dur, 0.95) AS p95, quantile_disc(dur, 0.99) AS p99"
)


@pytest.fixture(scope="module")
def data() -> list[tuple[Any, ...]]:
    rng = np.random.default_rng(42)
    n = 600
    svc = rng.integers(0, 3, n)
    name = rng.integers(0, 3, n)
    end_us = T0 // 1000 + rng.integers(0, 60_000_000, n)  # microseconds: time_bucket works in µs
    dur = np.exp(rng.normal(np.log(2e7), 1.0, n)).astype(np.int64) + 1
    err = rng.random(n) < 0.1
    rows = [
        (f"svc-{s}", f"op-{o}", int(e) * 1000, int(d), bool(x))
        for s, o, e, d, x in zip(svc, name, end_us, dur, err, strict=True)
    ]
    # events exactly one session gap (1s) after others share their session
    rows += [(s, o, e + S, d, x) for s, o, e, d, x in rows[:20]]
    return rows


@pytest.fixture(scope="module")
def con(data: list[tuple[Any, ...]]) -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    cols = list(zip(*data, strict=True))
    table = pa.table(
        {
            "service": pa.array(cols[0]),
            "name": pa.array(cols[1]),
            "end_ns": pa.array(cols[2], pa.int64()),
            "dur": pa.array(cols[3], pa.int64()),
            "err": pa.array(cols[4]),
        }
    )
    c.register("spans", table)
    return c


@pytest.fixture(scope="module")
def otlp_file(tmp_path_factory: pytest.TempPathFactory, data: list[tuple[Any, ...]], make_spans: MakeSpans) -> Path:
    path = tmp_path_factory.mktemp("windows") / "spans.jsonl"
    with path.open("wb") as fh:
        for i in range(0, len(data), 97):
            fh.write(encode_json(make_spans(data[i : i + 97])) + b"\n")
    return path


def _run(path: Path, window: str, *extra: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(
        windows_command,
        [
            "--input",
            str(path),
            "--window",
            window,
            "--group-by",
            "service.name,span.name",
            "--out-of-orderness",
            "1h",
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def _compare(rows: list[dict[str, Any]], sql_rows: list[tuple[Any, ...]]) -> None:
    got = {(r["window_start_ns"], r["window_end_ns"], r["key"]["service.name"], r["key"]["span.name"]): r for r in rows}
    assert len(got) == len(rows)
    assert set(got) == {tuple(s[:4]) for s in sql_rows}
    for ws, we, svc, op, n, errors, total, lo, hi, p50, p95, p99 in sql_rows:
        r = got[(ws, we, svc, op)]
        assert (r["count"], r["error_count"], r["sum_duration_ns"], r["min_duration_ns"], r["max_duration_ns"]) == (
            n,
            errors,
            total,
            lo,
            hi,
        )
        assert r["error_rate"] == errors / n
        assert r["avg_duration_ns"] == total / n
        assert r["throughput_per_s"] == n / ((we - ws) / 1e9)
        assert r["late"] is False
        for est, exact in ((r["p50_ns"], p50), (r["p95_ns"], p95), (r["p99_ns"], p99)):
            assert abs(est - exact) <= BOUND * exact * (1 + 1e-9)


def test_tumbling_matches_duckdb_time_bucket(otlp_file: Path, con: duckdb.DuckDBPyConnection) -> None:
    sql = f"""
        SELECT epoch_us(time_bucket(INTERVAL 10 SECOND, make_timestamp(end_ns // 1000),
                                    TIMESTAMP '1970-01-01 00:00:00')) * 1000 AS ws,
               ws + 10000000000 AS we, service, name, {AGG_SQL}
        FROM spans GROUP BY ALL ORDER BY ALL"""
    expected = con.execute(sql).fetchall()
    rows = _run(otlp_file, "tumbling:10s")
    assert len(rows) == len(expected) > 18
    _compare(rows, expected)


def test_sliding_matches_a_duckdb_hop_join(otlp_file: Path, con: duckdb.DuckDBPyConnection) -> None:
    size, slide = 30 * S, 10 * S
    sql = f"""
        WITH w AS (SELECT range AS ws FROM range({T0 - size}, {T0 + 70 * S}, {slide}))
        SELECT ws, ws + {size} AS we, service, name, {AGG_SQL}
        FROM spans JOIN w ON w.ws <= end_ns AND end_ns < w.ws + {size}
        GROUP BY ALL ORDER BY ALL"""
    expected = con.execute(sql).fetchall()
    rows = _run(otlp_file, "sliding:30s/10s")
    assert len(rows) == len(expected)
    _compare(rows, expected)
    assert sum(r["count"] for r in rows) == 3 * con.execute("SELECT count(*) FROM spans").fetchone()[0]  # type: ignore[index]


def test_sessions_match_duckdb_lag_gap_sessions(otlp_file: Path, con: duckdb.DuckDBPyConnection) -> None:
    gap = S
    sql = f"""
        WITH o AS (
            SELECT *, CASE WHEN end_ns - lag(end_ns) OVER (PARTITION BY service, name ORDER BY end_ns) <= {gap}
                      THEN 0 ELSE 1 END AS brk FROM spans),
        s AS (SELECT *, sum(brk) OVER (PARTITION BY service, name ORDER BY end_ns
                                       ROWS UNBOUNDED PRECEDING) AS sid FROM o)
        SELECT min(end_ns) AS ws, max(end_ns) + {gap} AS we, service, name, {AGG_SQL}
        FROM s GROUP BY service, name, sid ORDER BY ALL"""
    expected = con.execute(sql).fetchall()
    rows = _run(otlp_file, "session:1s")
    assert len(rows) == len(expected) > 100
    _compare(rows, expected)


def test_command_writes_a_file_and_reports_bad_windows(otlp_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    late = tmp_path / "late.jsonl"
    result = CliRunner().invoke(
        windows_command,
        [
            "--input",
            str(otlp_file),
            "--window",
            "tumbling:10s",
            "--group-by",
            "service.name",
            "--output",
            str(out),
            "--late-output",
            str(late),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    # no out-of-orderness: spans behind the watermark of earlier lines are late; each is counted once
    m = re.search(r"windows: (\d+) spans, (\d+) results, (\d+) late spans", result.stderr)
    assert m is not None
    n_late = int(m.group(3))
    assert int(m.group(1)) == 620
    assert n_late > 0
    assert sum(r["count"] for r in rows) + n_late == 620
    assert len(rows) == int(m.group(2))
    late_spans = decode_json("traces", late.read_bytes().strip()).batch
    assert len(late_spans) == n_late
    assert set(rows[0]) >= {"window_start_ns", "window_end_ns", "key", "count", "p99_ns", "throughput_per_s", "late"}
    bad = CliRunner().invoke(windows_command, ["--input", str(otlp_file), "--window", "weekly:1d"])
    assert bad.exit_code == 2
    assert "--window" in bad.output
    missing = CliRunner().invoke(windows_command, ["--input", str(tmp_path / "nope"), "--window", "session:1s"])
    assert missing.exit_code == 1
    assert "cannot open" in missing.output
