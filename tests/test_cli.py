"""The ``knhk-telemetry`` command, run as a real process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

from knhk_telemetry import __version__
from knhk_telemetry.otlp.json import encode_json
from knhk_telemetry.synth import synthetic_spans

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "knhk_telemetry.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False)


def test_version() -> None:
    out = _cli("version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"knhk-telemetry {__version__}"


def test_validate_config_ok(tmp_path: Path) -> None:
    cfg = tmp_path / "ok.yaml"
    cfg.write_text(
        "receivers: {otlpjsonfile: {include: [in/*.jsonl]}}\n"
        "exporters: {nop: {}}\n"
        "service: {pipelines: {traces: {receivers: [otlpjsonfile], exporters: [nop]}}}\n"
    )
    out = _cli("validate-config", "--config", str(cfg))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"{cfg}: valid (1 pipeline(s): traces)"


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("receivers: [\n", "invalid YAML"),
        ("exporters: {kafka: {}}\n", "exporters.kafka"),
        ("exporters: {nop: {colour: red}}\n", "exporters.nop.colour"),
        (
            "receivers: {otlpjsonfile: {include: [a]}}\nexporters: {nop: {}}\n"
            "service: {pipelines: {traces: {receivers: [otlpjsonfile], exporters: [nope]}}}\n",
            "service.pipelines.traces.exporters[0]",
        ),
    ],
)
def test_validate_config_bad_input_exits_3_naming_the_key(tmp_path: Path, yaml_text: str, expected: str) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml_text)
    out = _cli("validate-config", "--config", str(cfg))
    assert out.returncode == 3
    assert expected in out.stderr
    assert "Traceback" not in out.stderr


def test_unknown_option_is_usage_error() -> None:
    assert _cli("run", "--no-such-flag").returncode == 2


def _wait_for(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def test_run_feeds_a_file_through_to_parquet_and_file_and_stops_cleanly(tmp_path: Path) -> None:
    """OTLP/JSON lines in -> pipeline -> parquet + file exporters; SIGTERM drains everything."""
    port = _free_port()
    inbox = tmp_path / "in"
    inbox.mkdir()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"""
receivers:
  otlpjsonfile:
    include: ["{inbox}/*.jsonl"]
    poll_interval: 50ms
processors:
  batch: {{send_batch_size: 500, timeout: 100ms}}
exporters:
  parquet: {{path: "{tmp_path / "pq"}"}}
  file: {{path: "{tmp_path / "out.jsonl"}"}}
service:
  telemetry:
    metrics: {{address: "127.0.0.1:{port}"}}
    logs: {{level: info, encoding: json}}
  pipelines:
    traces: {{receivers: [otlpjsonfile], processors: [batch], exporters: [parquet, file]}}
"""
    )
    batch = synthetic_spans(2000, seed=11)
    lines = b"".join(encode_json(part) + b"\n" for part in batch.split(250))
    (inbox / "a.jsonl").write_bytes(lines[: len(lines) // 2 + 7])  # a partial last line waits for its newline
    proc = subprocess.Popen(
        [*CLI, "run", "--config", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        _wait_for(lambda: _port_open(port))
        with (inbox / "a.jsonl").open("ab") as f:
            f.write(lines[len(lines) // 2 + 7 :])
        _wait_for(
            lambda: (
                'knhk_telemetry_pipeline_accepted_items_total{pipeline="traces",signal="traces"} 2000.0'
                in _scrape(port)
            )
        )
        metrics = _scrape(port)
        assert "# TYPE knhk_telemetry_pipeline_batch_latency_seconds summary" in metrics
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(rec["message"] == "stopped cleanly" for rec in logs)
    # everything accepted reached both exporters
    rows = duckdb.sql(
        f"select count(*), count(distinct span_id), sum(duration_ns) from read_parquet('{tmp_path}/pq/**/*.parquet')"
    ).fetchall()[0]
    durations = batch.durations_ns()
    assert rows == (2000, 2000, int(durations.sum()))
    out_spans = sum(
        len(ss["spans"])
        for line in (tmp_path / "out.jsonl").read_text().splitlines()
        for rs in json.loads(line)["resourceSpans"]
        for ss in rs["scopeSpans"]
    )
    assert out_spans == 2000


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_run_with_a_port_in_use_exits_4(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = tmp_path / "c.yaml"
        cfg.write_text(
            f"receivers: {{otlpjsonfile: {{include: ['{tmp_path}/*.jsonl']}}}}\nexporters: {{nop: {{}}}}\n"
            f"service:\n  telemetry: {{metrics: {{address: '127.0.0.1:{port}'}}}}\n"
            "  pipelines: {traces: {receivers: [otlpjsonfile], exporters: [nop]}}\n"
        )
        out = _cli("run", "--config", str(cfg))
    assert out.returncode == 4
    assert f"127.0.0.1:{port}" in out.stderr


def test_run_default_config_starts_and_stops(tmp_path: Path) -> None:
    """The embedded default (what README's first command runs) starts in an empty directory."""
    env = {**os.environ}
    proc = subprocess.Popen([*CLI, "run"], cwd=tmp_path, stderr=subprocess.PIPE, text=True, env=env)
    try:
        _wait_for(lambda: _port_open(9464))
        assert "knhk_telemetry_pipeline_queue_capacity_items" in _scrape(9464)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err


def test_registry_check_is_wired_into_the_main_command() -> None:
    out = _cli("registry", "check", "--registry", "semconv")
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip().startswith("0 error(s), 0 warning(s); 943 attributes")


def test_live_check_is_wired_into_the_main_command(tmp_path: Path) -> None:
    src = tmp_path / "spans.jsonl"
    src.write_bytes(encode_json(synthetic_spans(50, seed=3)) + b"\n")
    out = _cli("live-check", "--input", str(src), "--format", "json", "--fail-on", "none")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["statistics"]["total_entities_by_type"]["span"] == 50


@pytest.mark.timeout(1200)  # a cold cache compiles for minutes (CI warms it first)
def test_warmup_reports_each_kernel_cache() -> None:
    out = subprocess.run([*CLI, "warmup"], capture_output=True, text=True, timeout=1100, check=False)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    if lines[0].startswith("compiled: "):  # a cold cache: child processes compiled first
        assert lines.pop(0).endswith("processes (cold cache)")
    assert [line.split(":")[0] for line in lines] == ["decoder", "encoder", "windows"]
    assert all(", cache " in line for line in lines)
