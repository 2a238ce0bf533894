"""The ``file`` exporter: exact OTLP/JSON lines, signals side by side, rotation, compression."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pydantic
import pytest
import zstandard

from knhk_telemetry.component import CreateSettings
from knhk_telemetry.errors import ConfigError, DecodeError, ExportError, PipelineClosedError
from knhk_telemetry.exporters.file import (
    FACTORY,
    FileExporter,
    FileExporterConfig,
    RotationConfig,
    detect_signal,
    read_otlp_json_lines,
)
from knhk_telemetry.exporters.file.exporter import backup_name, list_backups, split_name
from knhk_telemetry.exporters.file.lines import LineBuffer, sniff_compression
from knhk_telemetry.model import schema as S
from knhk_telemetry.model.batch import LogBatch, MetricBatch, SpanBatch
from knhk_telemetry.model.values import AttributeBuilder, TableBuilder
from knhk_telemetry.otlp.json import decode_json, encode_json

TRACE_ID = bytes(range(16))
SPAN_ID = bytes(range(8))


def spans(*names: str) -> SpanBatch:
    resources = TableBuilder(S.RESOURCES)
    resources.append()
    resource_attributes = AttributeBuilder()
    resource_attributes.add(0, "service.name", "checkout")
    scopes = TableBuilder(S.SCOPES)
    scopes.append(resource=0, name="lib", version="1.0")
    table = TableBuilder(S.SPANS)
    attributes = AttributeBuilder()
    for i, name in enumerate(names):
        table.append(
            scope=0,
            trace_id=TRACE_ID,
            span_id=SPAN_ID[:-1] + bytes([i]),
            name=name,
            kind=2,
            start_time_unix_nano=1_000 + i,
            end_time_unix_nano=2_000 + i,
        )
        attributes.add(i, "http.status_code", 200)
    return SpanBatch(
        {
            "resources": resources.build(),
            "resource_attributes": resource_attributes.build(),
            "scopes": scopes.build(),
            "spans": table.build(),
            "span_attributes": attributes.build(),
        }
    )


def logs(*bodies: str) -> LogBatch:
    resources = TableBuilder(S.RESOURCES)
    resources.append()
    scopes = TableBuilder(S.SCOPES)
    scopes.append(resource=0, name="lib")
    table = TableBuilder(S.LOGS)
    for i, body in enumerate(bodies):
        table.append(scope=0, time_unix_nano=5_000 + i, severity_number=9, body_type=1, body_str=body)
    return LogBatch({"resources": resources.build(), "scopes": scopes.build(), "logs": table.build()})


def gauge(name: str, *values: float) -> MetricBatch:
    resources = TableBuilder(S.RESOURCES)
    resources.append()
    scopes = TableBuilder(S.SCOPES)
    scopes.append(resource=0, name="lib")
    metrics = TableBuilder(S.METRICS)
    metrics.append(scope=0, name=name, unit="1", type=int(S.MetricType.GAUGE))
    points = TableBuilder(S.POINTS)
    for i, value in enumerate(values):
        points.append(metric=0, time_unix_nano=7_000 + i, value_kind=int(S.NumberKind.DOUBLE), value_double=value)
    return MetricBatch(
        {"resources": resources.build(), "scopes": scopes.build(), "metrics": metrics.build(), "points": points.build()}
    )


def exporter(path: Path, **options: Any) -> FileExporter:
    options.setdefault("flush_interval", 0)
    return FileExporter("file", FileExporterConfig(path=str(path), **options))


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def span_names(line: bytes | str) -> list[str]:
    batch = decode_json("traces", line).batch
    return [str(n) for n in batch.spans.column("name").to_pylist()]


EXPECTED_ONE_SPAN = {
    "resourceSpans": [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
            "scopeSpans": [
                {
                    "scope": {"name": "lib", "version": "1.0"},
                    "spans": [
                        {
                            "traceId": "000102030405060708090a0b0c0d0e0f",
                            "spanId": "0001020304050600",
                            "name": "GET /cart",
                            "kind": 2,
                            "startTimeUnixNano": "1000",
                            "endTimeUnixNano": "2000",
                            "attributes": [{"key": "http.status_code", "value": {"intValue": "200"}}],
                        }
                    ],
                }
            ],
        }
    ]
}


# -- content --------------------------------------------------------------------------------


def test_one_batch_is_one_exact_json_line(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    exp = exporter(path)
    exp.start()
    exp.consume_spans(spans("GET /cart"))
    exp.shutdown()
    raw = path.read_bytes()
    assert raw.endswith(b"\n")
    assert raw.count(b"\n") == 1
    assert lines_of(path) == [EXPECTED_ONE_SPAN]


def test_signals_interleave_in_one_file_in_order(tmp_path: Path) -> None:
    path = tmp_path / "all.json"
    exp = exporter(path)
    exp.start()
    exp.consume_spans(spans("a", "b"))
    exp.consume_logs(logs("hello"))
    exp.consume_metrics(gauge("queue.depth", 1.5, 2.5))
    exp.consume_spans(spans("c"))
    exp.shutdown()
    docs = lines_of(path)
    assert [next(iter(d)) for d in docs] == ["resourceSpans", "resourceLogs", "resourceMetrics", "resourceSpans"]
    assert docs[1]["resourceLogs"][0]["scopeLogs"][0]["logRecords"] == [
        {"timeUnixNano": "5000", "severityNumber": 9, "body": {"stringValue": "hello"}}
    ]
    metric = docs[2]["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]
    assert metric == {
        "name": "queue.depth",
        "unit": "1",
        "gauge": {"dataPoints": [{"timeUnixNano": "7000", "asDouble": 1.5}, {"timeUnixNano": "7001", "asDouble": 2.5}]},
    }
    read = list(read_otlp_json_lines(path))
    assert [signal for signal, _ in read] == ["traces", "logs", "metrics", "traces"]
    assert span_names(read[0][1]) == ["a", "b"]
    assert span_names(read[3][1]) == ["c"]


def test_per_signal_paths(tmp_path: Path) -> None:
    exp = exporter(tmp_path / "rest.json", traces_path=str(tmp_path / "spans" / "traces.json"))
    exp.start()
    exp.consume_spans(spans("a"))
    exp.consume_logs(logs("x"))
    exp.consume_metrics(gauge("m", 1.0))
    exp.shutdown()
    assert [s for s, _ in read_otlp_json_lines(tmp_path / "spans" / "traces.json")] == ["traces"]
    assert [s for s, _ in read_otlp_json_lines(tmp_path / "rest.json")] == ["logs", "metrics"]
    assert exp.path_of("traces") == tmp_path / "spans" / "traces.json"
    assert exp.path_of("logs") == tmp_path / "rest.json"


def test_empty_batch_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    exp = exporter(path)
    exp.consume_spans(SpanBatch.empty())
    exp.shutdown()
    assert not path.exists()


def test_flush_interval_zero_makes_each_line_visible_at_once(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    exp = exporter(path)
    exp.start()
    exp.consume_spans(spans("a"))
    assert [s for s, _ in read_otlp_json_lines(path)] == ["traces"]
    exp.consume_logs(logs("b"))
    assert [s for s, _ in read_otlp_json_lines(path)] == ["traces", "logs"]
    exp.shutdown()


def test_truncates_unless_append(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    for _ in range(2):
        exp = exporter(path)
        exp.start()
        exp.consume_spans(spans("a"))
        exp.shutdown()
    assert len(lines_of(path)) == 1
    exp = exporter(path, append=True)
    exp.start()
    exp.consume_spans(spans("b"))
    exp.shutdown()
    assert [span_names(line) for _, line in read_otlp_json_lines(path)] == [["a"], ["b"]]


def test_concurrent_writers_never_interleave_lines(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    exp = exporter(path, flush_interval=0.05)
    exp.start()
    batch = spans("x", "y", "z")

    def write() -> None:
        for _ in range(50):
            exp.consume_spans(batch)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    exp.shutdown()
    docs = lines_of(path)
    assert len(docs) == 200
    assert all(len(d["resourceSpans"][0]["scopeSpans"][0]["spans"]) == 3 for d in docs)
    metrics = {(m[0], m[3].get("signal")): m[4] for m in exp.self_metrics()}
    assert metrics["knhk_telemetry_exporter_sent_items_total", "traces"] == 600.0
    assert metrics["knhk_telemetry_exporter_send_failed_items_total", "traces"] == 0.0
    line_len = len(encode_json(batch)) + 1
    assert metrics["knhk_telemetry_exporter_file_written_bytes_total", None] == 200.0 * line_len


# -- rotation -------------------------------------------------------------------------------

_BACKUP = re.compile(r"out-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}\.json")


def _rotation_run(tmp_path: Path, max_backups: int, n: int) -> tuple[FileExporter, int]:
    path = tmp_path / "out.json"
    exp = exporter(path, rotation=RotationConfig(max_megabytes=0.001, max_backups=max_backups))
    exp.start()
    for i in range(n):
        exp.consume_spans(spans(f"span-{i:02d}"))
    exp.shutdown()
    line = len(encode_json(spans("span-00"))) + 1
    assert 1048 // 3 < line <= 1048 // 2, "the expectations below assume two lines per file"
    return exp, line


def test_rotation_keeps_exactly_max_backups(tmp_path: Path) -> None:
    exp, _ = _rotation_run(tmp_path, max_backups=2, n=7)
    # files of two lines: [00 01] [02 03] [04 05] [06]: three rotations, the oldest backup deleted
    backups = list_backups(tmp_path / "out.json")
    assert len(backups) == 2
    assert all(_BACKUP.fullmatch(p.name) for _, p in backups)
    newest_first = [[span_names(line)[0] for _, line in read_otlp_json_lines(p)] for _, p in backups]
    assert newest_first == [["span-04", "span-05"], ["span-02", "span-03"]]
    assert [span_names(line)[0] for _, line in read_otlp_json_lines(tmp_path / "out.json")] == ["span-06"]
    assert sorted(os.listdir(tmp_path)) == sorted([p.name for _, p in backups] + ["out.json"])
    metrics = {m[0]: m[4] for m in exp.self_metrics()}
    assert metrics["knhk_telemetry_exporter_file_rotations_total"] == 3.0


def test_rotation_max_backups_zero_keeps_all(tmp_path: Path) -> None:
    _rotation_run(tmp_path, max_backups=0, n=7)
    backups = list_backups(tmp_path / "out.json")
    assert len(backups) == 3
    every = [span_names(line)[0] for _, p in reversed(backups) for _, line in read_otlp_json_lines(p)]
    assert every == [f"span-{i:02d}" for i in range(6)]


def test_rotation_deletes_backups_older_than_max_days(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    old = backup_name(path, datetime.now(UTC) - timedelta(days=3))
    recent = backup_name(path, datetime.now(UTC) - timedelta(hours=1))
    unrelated = tmp_path / "other-2020-01-01T00-00-00.000.json"
    for p in (old, recent, unrelated):
        p.write_text("{}\n")
    exp = exporter(path, rotation=RotationConfig(max_megabytes=0.001, max_days=2, max_backups=0))
    exp.serve("traces")
    exp.start()
    assert not old.exists()  # pruned when the file is opened
    for i in range(3):
        exp.consume_spans(spans(f"span-{i:02d}"))
    exp.shutdown()
    assert recent.exists()
    assert unrelated.exists()
    assert len(list_backups(path)) == 2  # the recent one and the one rotation made


def test_backup_names_are_unique_and_keep_compound_suffixes(tmp_path: Path) -> None:
    when = datetime(2026, 11, 27, 14, 55, 0, 123456, tzinfo=UTC)
    assert backup_name(tmp_path / "spans.json.gz", when).name == "spans-2026-11-27T14-55-00.123.json.gz"
    assert backup_name(tmp_path / "out", when).name == "out-2026-11-27T14-55-00.123"
    assert split_name("a.b.json") == ("a.b", ".json")
    assert split_name("x.jsonl.zst") == ("x", ".jsonl.zst")
    # many rotations within one millisecond still give distinct names, in order
    exp = exporter(tmp_path / "out.json", rotation=RotationConfig(max_megabytes=0.0001, max_backups=0))
    for i in range(20):
        exp.consume_spans(spans(f"span-{i:02d}"))
    exp.shutdown()
    backups = list_backups(tmp_path / "out.json")
    assert len(backups) == 19
    firsts = [span_names(line)[0] for _, p in reversed(backups) for _, line in read_otlp_json_lines(p)]
    assert firsts == [f"span-{i:02d}" for i in range(19)]


# -- compression ----------------------------------------------------------------------------


def _zstd_text(path: Path) -> bytes:
    with path.open("rb") as fh:
        return zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True).read()


@pytest.mark.parametrize(("compression", "suffix"), [("gzip", ".gz"), ("zstd", ".zst")])
def test_compressed_stream_of_json_lines(tmp_path: Path, compression: str, suffix: str) -> None:
    path = tmp_path / f"out.json{suffix}"
    exp = exporter(path, compression=compression, flush_interval=1.0)
    exp.start()
    exp.consume_spans(spans("a"))
    exp.consume_logs(logs("b"))
    exp.consume_spans(spans("c"))
    exp.shutdown()
    raw = path.read_bytes()
    assert sniff_compression(raw) == compression
    text = gzip.decompress(raw) if compression == "gzip" else _zstd_text(path)
    assert [next(iter(json.loads(line))) for line in text.splitlines()] == [
        "resourceSpans",
        "resourceLogs",
        "resourceSpans",
    ]
    assert text == b"".join(encode_json(b) + b"\n" for b in (spans("a"), logs("b"), spans("c")))
    assert [s for s, _ in read_otlp_json_lines(path)] == ["traces", "logs", "traces"]
    tool = "gzip" if compression == "gzip" else "zstd"
    if shutil.which(tool):
        out = subprocess.run([tool, "-dc", str(path)], check=True, capture_output=True).stdout
        assert out == text


@pytest.mark.parametrize(("compression", "suffix"), [("gzip", ".gz"), ("zstd", ".zst")])
def test_compressed_files_are_complete_after_rotation_and_append(tmp_path: Path, compression: str, suffix: str) -> None:
    path = tmp_path / f"out.json{suffix}"
    rotation = RotationConfig(max_megabytes=0.00025, max_backups=0)  # ~2 similar lines once compressed
    exp = exporter(path, compression=compression, rotation=rotation)
    exp.start()
    for i in range(20):
        exp.consume_spans(spans(f"span-{i:02d}"))
    exp.shutdown()
    exp = exporter(path, compression=compression, rotation=rotation, append=True)
    exp.consume_spans(spans("span-20"))  # appends a second gzip member / zstd frame
    exp.shutdown()
    backups = list_backups(path)
    assert len(backups) >= 2
    files = [p for _, p in reversed(backups)] + [path]
    names = [span_names(line)[0] for p in files for _, line in read_otlp_json_lines(p)]
    assert names == [f"span-{i:02d}" for i in range(21)]
    for p in files:  # every file is a finished stream on its own
        text = gzip.decompress(p.read_bytes()) if compression == "gzip" else _zstd_text(p)
        assert text.endswith(b"\n")


# -- lifecycle and errors -------------------------------------------------------------------


def test_shutdown_twice_and_without_start(tmp_path: Path) -> None:
    exp = exporter(tmp_path / "out.json")
    exp.shutdown()
    exp.shutdown()
    exp = exporter(tmp_path / "out.json")
    exp.start()
    exp.consume_spans(spans("a"))
    exp.shutdown()
    exp.shutdown()
    with pytest.raises(PipelineClosedError, match="file exporter file is shut down"):
        exp.consume_spans(spans("b"))
    assert len(lines_of(tmp_path / "out.json")) == 1


def test_shutdown_flushes_buffered_lines(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    exp = exporter(path, flush_interval=3600)
    exp.start()
    for name in ("a", "b"):
        exp.consume_spans(spans(name))
    exp.shutdown()
    assert [span_names(line) for _, line in read_otlp_json_lines(path)] == [["a"], ["b"]]


def test_unwritable_directory_raises_export_error_naming_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    path = blocker / "out.json"
    exp = exporter(path)
    exp.serve("traces")
    with pytest.raises(ExportError, match=re.escape(f"file exporter file: cannot open {path}")):
        exp.start()
    with pytest.raises(ExportError, match=re.escape(str(path))):
        exp.consume_spans(spans("a"))
    metrics = {(m[0], m[3].get("signal")): m[4] for m in exp.self_metrics()}
    assert metrics["knhk_telemetry_exporter_send_failed_items_total", "traces"] == 1.0
    exp.shutdown()


def test_one_instance_serves_every_signal_attached_to_it(tmp_path: Path) -> None:
    config = FileExporterConfig(path=str(tmp_path / "out.json"), flush_interval=0)
    exporter = FACTORY.create("traces", CreateSettings("file/x", "traces"), config)
    assert isinstance(exporter, FileExporter)
    exporter.attach(CreateSettings("file/x", "logs"))  # as the service does for a shared factory
    exporter.start()
    assert (tmp_path / "out.json").read_bytes() == b""  # opened at start
    exporter.consume_spans(spans("a"))
    exporter.consume_logs(logs("b"))
    exporter.shutdown()
    assert [s for s, _ in read_otlp_json_lines(tmp_path / "out.json")] == ["traces", "logs"]
    assert FACTORY.type == "file"
    assert FACTORY.signals() == ("traces", "metrics", "logs")


def test_config_defaults_and_validation() -> None:
    config = FACTORY.default_config()
    assert isinstance(config, FileExporterConfig)
    assert config.flush_interval == 1.0
    assert config.compression == "none"
    assert config.rotation is None
    with pytest.raises(ConfigError, match=r"^exporters\.file\.path: is required"):
        config.validate_config("exporters.file")
    FileExporterConfig(traces_path="t", metrics_path="m", logs_path="l").validate_config("exporters.file")
    with pytest.raises(ConfigError, match=r"^exporters\.file\.traces_path: 'out/' names a directory"):
        FileExporterConfig(path="x", traces_path="out/").validate_config("exporters.file")
    rotation = RotationConfig()
    assert (rotation.max_megabytes, rotation.max_days, rotation.max_backups, rotation.localtime) == (
        100.0,
        0,
        100,
        False,
    )
    assert RotationConfig(max_megabytes=0.001).max_bytes == 1048


@pytest.mark.parametrize(("given", "seconds"), [("200ms", 0.2), ("1m30s", 90.0), ("1.5s", 1.5), (2, 2.0), ("0", 0.0)])
def test_flush_interval_accepts_go_durations(given: object, seconds: float) -> None:
    assert FileExporterConfig.model_validate({"path": "x", "flush_interval": given}).flush_interval == seconds


@pytest.mark.parametrize("given", ["soon", "5 parsecs", "-1s", -1])
def test_flush_interval_refuses_non_durations(given: object) -> None:
    with pytest.raises(pydantic.ValidationError, match="flush_interval"):
        FileExporterConfig.model_validate({"path": "x", "flush_interval": given})


def test_config_refuses_unknown_keys_and_formats() -> None:
    with pytest.raises(pydantic.ValidationError, match="group_by"):
        FileExporterConfig.model_validate({"path": "x", "group_by": {}})
    with pytest.raises(pydantic.ValidationError, match="format"):
        FileExporterConfig.model_validate({"path": "x", "format": "proto"})


# -- reading --------------------------------------------------------------------------------


def test_reader_names_file_and_line_of_a_non_otlp_line(tmp_path: Path) -> None:
    path = tmp_path / "mixed.json"
    good = encode_json(spans("a"))
    path.write_bytes(good + b"\n\n" + b'{"hello": 1}\n' + encode_json(logs("b")))  # no final newline
    with pytest.raises(DecodeError, match=re.escape(f"{path}:3: not an OTLP/JSON request")):
        list(read_otlp_json_lines(path))
    unknown: list[tuple[int, bytes]] = []
    read = list(read_otlp_json_lines(path, on_unknown=lambda n, line: unknown.append((n, line))))
    assert [s for s, _ in read] == ["traces", "logs"]
    assert unknown == [(3, b'{"hello": 1}')]
    with pytest.raises(DecodeError, match=re.escape(f"{tmp_path / 'missing.json'}: cannot open")):
        list(read_otlp_json_lines(tmp_path / "missing.json"))


def test_reader_reports_a_corrupt_stream(tmp_path: Path) -> None:
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(b"x" * 100)[:10] + b"garbage!" * 10)
    with pytest.raises(DecodeError, match=re.escape(f"{path}: corrupt gzip stream")):
        list(read_otlp_json_lines(path))


def test_detect_signal() -> None:
    assert detect_signal(b'{"resourceSpans":[]}') == "traces"
    assert detect_signal(b' { "resourceMetrics" : [] }') == "metrics"
    assert detect_signal(b'{"resource_logs":[]}') == "logs"
    assert detect_signal(b'{"x": 1, "resourceLogs": []}') == "logs"
    assert detect_signal(b'{"resourceSpansX": []}') is None
    assert detect_signal(b"[1, 2]") is None
    assert detect_signal(b"not json") is None


def test_sniff_compression_waits_for_enough_bytes() -> None:
    assert sniff_compression(b"") is None
    assert sniff_compression(b"\x1f") is None
    assert sniff_compression(b"\x28\xb5") is None
    assert sniff_compression(b"\x1f\x8b\x08") == "gzip"
    assert sniff_compression(b"\x28\xb5\x2f\xfd") == "zstd"
    assert sniff_compression(b"{") == "none"


def test_line_buffer_keeps_unfinished_lines_and_drops_long_ones() -> None:
    buffer = LineBuffer(max_line_bytes=5)
    assert buffer.push(b"ab") == []
    assert buffer.push(b"c\nde") == [b"abc"]
    assert buffer.rest == b"de"
    assert buffer.push(b"fghij") == []  # too long: discarded as it arrives
    assert buffer.rest == b""
    assert buffer.push(b"k\nok\n") == [None, b"ok"]
    assert buffer.push(b"123456\n") == [None]
