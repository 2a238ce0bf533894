"""The ``windows`` command on log and metric OTLP/JSON lines against DuckDB SQL over the same data."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner, Result

from knhk_telemetry.model.edge import LogEntry, Metric, NumberDataPoint, Resource, logs_to_batch, metrics_to_batch
from knhk_telemetry.model.schema import MetricType
from knhk_telemetry.otlp.json import decode_json, encode_json
from knhk_telemetry.stream.cli import windows_command
from knhk_telemetry.stream.sketch import relative_error_bound
from knhk_telemetry.synth import synthetic_spans

S = 1_000_000_000
T0 = 1_700_000_000 * S
BOUND = relative_error_bound(7)
SEVERITIES = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
BUCKET_10S = (
    "epoch_us(time_bucket(INTERVAL 10 SECOND, make_timestamp({t} // 1000), TIMESTAMP '1970-01-01 00:00:00')) * 1000"
)


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(windows_command, list(args))


def _run(*args: str) -> tuple[list[dict[str, Any]], str]:
    result = _invoke(*args)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()], result.stderr


# ---------------------------------------------------------------------------------------- logs
@pytest.fixture(scope="module")
def log_data() -> dict[str, np.ndarray[Any, Any]]:
    rng = np.random.default_rng(7)
    n = 700
    sev = rng.integers(1, 25, n)
    t_us = T0 // 1000 + rng.integers(0, 60_000_000, n)
    obs_us = t_us + rng.integers(0, 3_000_000, n)
    t_us[rng.random(n) < 0.05] = 0  # no time: the observed time is the event time
    return {"svc": rng.integers(0, 3, n), "sev": sev, "t": t_us * 1000, "obs": obs_us * 1000}


@pytest.fixture(scope="module")
def log_file(tmp_path_factory: pytest.TempPathFactory, log_data: dict[str, np.ndarray[Any, Any]]) -> Path:
    entries = [
        LogEntry(
            time_unix_nano=int(t),
            observed_time_unix_nano=int(o),
            severity_number=int(s),
            severity_text=SEVERITIES[(int(s) - 1) // 4],
            body="hello",
            resource=Resource(attributes={"service.name": f"svc-{v}"}),
        )
        for v, s, t, o in zip(log_data["svc"], log_data["sev"], log_data["t"], log_data["obs"], strict=True)
    ]
    path = tmp_path_factory.mktemp("logwindows") / "logs.jsonl"
    with path.open("wb") as fh:
        for i in range(0, len(entries), 101):
            fh.write(encode_json(logs_to_batch(entries[i : i + 101])) + b"\n")
    return path


@pytest.fixture(scope="module")
def log_con(log_data: dict[str, np.ndarray[Any, Any]]) -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    c.register(
        "logs",
        pa.table(
            {
                "service": pa.array([f"svc-{v}" for v in log_data["svc"]]),
                "sev": pa.array(log_data["sev"], pa.int64()),
                "sev_text": pa.array([SEVERITIES[(int(s) - 1) // 4] for s in log_data["sev"]]),
                "t": pa.array(log_data["t"], pa.int64()),
                "obs": pa.array(log_data["obs"], pa.int64()),
            }
        ),
    )
    return c


def test_log_tumbling_counts_and_errors_match_duckdb(log_file: Path, log_con: duckdb.DuckDBPyConnection) -> None:
    sql = f"""
        WITH l AS (SELECT *, CASE WHEN t = 0 THEN obs ELSE t END AS ts FROM logs)
        SELECT {BUCKET_10S.format(t="ts")} AS ws, service, sev_text, count(*) AS n, sum((sev >= 17)::INT) AS errors
        FROM l GROUP BY ALL ORDER BY ALL"""
    expected = log_con.execute(sql).fetchall()
    rows, stderr = _run("--input", str(log_file), "--window", "tumbling:10s", "--out-of-orderness", "1h")
    assert "windows: 700 log records, " in stderr
    got = {(r["window_start_ns"], r["key"]["service.name"], r["key"]["severity_text"]): r for r in rows}
    assert len(got) == len(rows) == len(expected) > 100
    for ws, svc, text, n, errors in expected:
        r = got[(ws, svc, text)]
        assert r["window_end_ns"] == ws + 10 * S
        assert (r["count"], r["error_count"], r["error_rate"]) == (n, errors, errors / n)
        assert r["throughput_per_s"] == n / 10
        assert r["late"] is False
    assert list(rows[0]) == [
        "window_start_ns",
        "window_end_ns",
        "key",
        "count",
        "error_count",
        "error_rate",
        "throughput_per_s",
        "late",
        "update",
    ]


def test_log_windows_by_severity_number_with_observed_time(log_file: Path, log_con: duckdb.DuckDBPyConnection) -> None:
    sql = f"""
        SELECT {BUCKET_10S.format(t="obs")} AS ws, sev, count(*) AS n FROM logs GROUP BY ALL ORDER BY ALL"""
    expected = log_con.execute(sql).fetchall()
    rows, _ = _run(
        "--input",
        str(log_file),
        "--signal",
        "logs",
        "--window",
        "tumbling:10s",
        "--group-by",
        "severity_number",
        "--time",
        "observed",
        "--out-of-orderness",
        "1h",
    )
    assert sorted((r["window_start_ns"], r["key"]["severity_number"], r["count"]) for r in rows) == expected


def test_late_logs_from_the_command(log_file: Path, tmp_path: Path) -> None:
    late = tmp_path / "late.jsonl"
    rows, stderr = _run("--input", str(log_file), "--window", "tumbling:10s", "--late-output", str(late))
    m = re.search(r"windows: (\d+) log records, (\d+) results, (\d+) late log records", stderr)
    assert m is not None
    n_late = int(m.group(3))
    assert n_late > 0
    assert sum(r["count"] for r in rows) + n_late == 700
    assert len(decode_json("logs", late.read_bytes().strip()).batch) == n_late


# ------------------------------------------------------------------------------------- metrics
@pytest.fixture(scope="module")
def metric_data() -> dict[str, np.ndarray[Any, Any]]:
    rng = np.random.default_rng(11)
    n = 700
    t_us = T0 // 1000 + rng.choice(60_000_000, n, replace=False)  # distinct times: "last" is unambiguous
    is_int = rng.random(n) < 0.3
    value = np.where(is_int, np.round(rng.normal(0, 100, n)), rng.normal(5, 20, n))
    value[rng.random(n) < 0.05] = 0.0
    return {"name": rng.integers(0, 3, n), "host": rng.integers(0, 2, n), "t": t_us * 1000, "v": value, "int": is_int}


@pytest.fixture(scope="module")
def metric_file(tmp_path_factory: pytest.TempPathFactory, metric_data: dict[str, np.ndarray[Any, Any]]) -> Path:
    d = metric_data
    metrics = [
        Metric(
            f"m{k}",
            MetricType.GAUGE if k != 2 else MetricType.SUM,
            [NumberDataPoint(value=int(v) if i else float(v), time_unix_nano=int(t), attributes={"host": f"h{h}"})],
            unit="ms",
            resource=Resource(attributes={"service.name": "svc"}),
        )
        for k, h, t, v, i in zip(d["name"], d["host"], d["t"], d["v"], d["int"], strict=True)
    ]
    path = tmp_path_factory.mktemp("metricwindows") / "metrics.jsonl"
    with path.open("wb") as fh:
        for i in range(0, len(metrics), 89):
            fh.write(encode_json(metrics_to_batch(metrics[i : i + 89])) + b"\n")
    return path


@pytest.fixture(scope="module")
def metric_con(metric_data: dict[str, np.ndarray[Any, Any]]) -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    d = metric_data
    c.register(
        "points",
        pa.table(
            {
                "name": pa.array([f"m{k}" for k in d["name"]]),
                "host": pa.array([f"h{h}" for h in d["host"]]),
                "t": pa.array(d["t"], pa.int64()),
                "v": pa.array(d["v"], pa.float64()),
            }
        ),
    )
    return c


METRIC_AGG = (
    "count(*) AS n, sum(v) AS total, min(v) AS lo, max(v) AS hi, arg_max(v, t) AS last, max(t) AS last_t, "
    "quantile_disc(v, 0.5) AS p50, quantile_disc(v, 0.95) AS p95, quantile_disc(v, 0.99) AS p99"
)


def _compare_metrics(rows: list[dict[str, Any]], expected: list[tuple[Any, ...]]) -> None:
    got = {(r["window_start_ns"], r["window_end_ns"], r["key"]["metric.name"], r["key"]["host"]): r for r in rows}
    assert len(got) == len(rows) == len(expected)
    for ws, we, name, host, n, total, lo, hi, last, last_t, p50, p95, p99 in expected:
        r = got[(ws, we, name, host)]
        assert (r["count"], r["min_value"], r["max_value"], r["last_value"]) == (n, lo, hi, last)
        assert r["last_time_unix_nano"] == last_t
        assert r["sum_value"] == pytest.approx(total, rel=1e-12, abs=1e-9)
        assert r["avg_value"] == pytest.approx(total / n, rel=1e-12, abs=1e-9)
        assert r["throughput_per_s"] == n / ((we - ws) / 1e9)
        for est, exact in ((r["p50_value"], p50), (r["p95_value"], p95), (r["p99_value"], p99)):
            assert abs(est - exact) <= BOUND * abs(exact) * (1 + 1e-9)


def test_metric_tumbling_matches_duckdb(metric_file: Path, metric_con: duckdb.DuckDBPyConnection) -> None:
    sql = f"""
        SELECT {BUCKET_10S.format(t="t")} AS ws, ws + {10 * S} AS we, name, host, {METRIC_AGG}
        FROM points GROUP BY ALL ORDER BY ALL"""
    expected = metric_con.execute(sql).fetchall()
    rows, stderr = _run(
        "--input",
        str(metric_file),
        "--window",
        "tumbling:10s",
        "--group-by",
        "metric.name,host",
        "--out-of-orderness",
        "1h",
    )
    assert len(expected) > 30
    _compare_metrics(rows, expected)
    assert "windows: 700 points, " in stderr
    assert "0 non-number points and 0 points without a value skipped" in stderr
    assert list(rows[0])[3:] == [
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


def test_metric_sliding_matches_a_duckdb_hop_join(metric_file: Path, metric_con: duckdb.DuckDBPyConnection) -> None:
    size, slide = 30 * S, 10 * S
    sql = f"""
        WITH w AS (SELECT range AS ws FROM range({T0 - size}, {T0 + 70 * S}, {slide}))
        SELECT ws, ws + {size} AS we, name, host, {METRIC_AGG}
        FROM points JOIN w ON w.ws <= t AND t < w.ws + {size} GROUP BY ALL ORDER BY ALL"""
    expected = metric_con.execute(sql).fetchall()
    rows, _ = _run(
        "--input",
        str(metric_file),
        "--signal",
        "metrics",
        "--window",
        "sliding:30s/10s",
        "--group-by",
        "metric.name,host",
        "--out-of-orderness",
        "1h",
    )
    _compare_metrics(rows, expected)


def test_signal_detection_mixed_files_and_bad_options(tmp_path: Path, metric_file: Path, log_file: Path) -> None:
    mixed = tmp_path / "mixed.jsonl"
    spans = encode_json(synthetic_spans(30, seed=1)) + b"\n"
    mixed.write_bytes(metric_file.read_bytes().splitlines(keepends=True)[0] + spans + log_file.read_bytes())
    rows, stderr = _run("--input", str(mixed), "--window", "tumbling:1m", "--group-by", "metric.name")
    assert "windows: 89 points, " in stderr  # the first line's signal; the rest skipped
    assert "8 lines of other signals skipped" in stderr
    assert sum(r["count"] for r in rows) == 89
    rows, stderr = _run("--input", str(mixed), "--signal", "traces", "--window", "tumbling:1h", "--group-by", "")
    assert "windows: 30 spans, " in stderr
    assert sum(r["count"] for r in rows) == 30
    bad = _invoke("--input", str(log_file), "--window", "tumbling:10s", "--time", "end")
    assert bad.exit_code == 2
    assert "WindowConfig.time for logs must be 'time' or 'observed', got 'end'" in bad.output
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    rows, stderr = _run("--input", str(empty), "--window", "tumbling:10s")
    assert rows == []
    assert "windows: 0 spans, 0 results" in stderr
