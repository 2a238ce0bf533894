"""The ``otlpjsonfile`` receiver: tailing, routing by signal, refusals, backpressure, rotation."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pydantic
import pytest

from knhk_telemetry.component import CreateSettings, Signal
from knhk_telemetry.errors import BackpressureError, ConfigError, PipelineClosedError
from knhk_telemetry.exporters.file import FileExporter, FileExporterConfig, RotationConfig
from knhk_telemetry.model import schema as S
from knhk_telemetry.model.batch import Batch, LogBatch, SpanBatch
from knhk_telemetry.model.values import TableBuilder
from knhk_telemetry.otlp.json import encode_json
from knhk_telemetry.receivers.otlpjsonfile import FACTORY, OtlpJsonFileConfig, OtlpJsonFileReceiver
from knhk_telemetry.receivers.otlpjsonfile import receiver as receiver_module

TRACE_ID = bytes(range(1, 17))


def spans(*names: str) -> SpanBatch:
    resources = TableBuilder(S.RESOURCES)
    resources.append()
    scopes = TableBuilder(S.SCOPES)
    scopes.append(resource=0, name="lib")
    table = TableBuilder(S.SPANS)
    for i, name in enumerate(names):
        table.append(
            scope=0,
            trace_id=TRACE_ID,
            span_id=bytes([1, 2, 3, 4, 5, 6, 7, i + 1]),
            name=name,
            start_time_unix_nano=1_000,
            end_time_unix_nano=2_000,
        )
    return SpanBatch({"resources": resources.build(), "scopes": scopes.build(), "spans": table.build()})


def logs(*bodies: str) -> LogBatch:
    resources = TableBuilder(S.RESOURCES)
    resources.append()
    scopes = TableBuilder(S.SCOPES)
    scopes.append(resource=0, name="lib")
    table = TableBuilder(S.LOGS)
    for body in bodies:
        table.append(scope=0, time_unix_nano=5_000, body_type=1, body_str=body)
    return LogBatch({"resources": resources.build(), "scopes": scopes.build(), "logs": table.build()})


def line(batch: Batch) -> bytes:
    return encode_json(batch) + b"\n"


def names(batches: list[Batch]) -> list[list[str]]:
    out = []
    for b in batches:
        items = b.items
        column = "name" if isinstance(b, SpanBatch) else "body_str"
        out.append([str(v) for v in items.column(column).to_pylist()])
    return out


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll ``condition``; the timeout only keeps a broken receiver from hanging the test run."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.005)


class Collect:
    """A next_consumer that keeps what it is given (thread-safe)."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self._lock = threading.Lock()

    def __call__(self, batch: Batch) -> None:
        with self._lock:
            self.batches.append(batch)

    def count(self) -> int:
        with self._lock:
            return len(self.batches)


def metrics_of(receiver: OtlpJsonFileReceiver) -> dict[tuple[str, str, str], float]:
    return {
        (name, labels.get("signal", ""), labels.get("reason", "")): v
        for name, _, _, labels, v in receiver.self_metrics()
    }


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as fh:
        fh.write(data)


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Callable[..., OtlpJsonFileReceiver]]:
    """Receivers built through the factory; shut down at the end of the test."""
    made: list[OtlpJsonFileReceiver] = []

    def build(
        consumers: dict[Signal, Callable[[Batch], None]], *, component_id: str = "otlpjsonfile", **options: Any
    ) -> OtlpJsonFileReceiver:
        options.setdefault("include", [str(tmp_path / "*.json*")])
        options.setdefault("poll_interval", "10ms")
        config = OtlpJsonFileConfig.model_validate(options)
        config.validate_config("receivers.otlpjsonfile")
        receiver = None
        for signal, consumer in consumers.items():
            settings = CreateSettings(component_id, signal, consumer)
            if receiver is None:  # as the service does with a shared factory
                receiver = FACTORY.create(signal, settings, config)
            else:
                receiver.attach(settings)
        assert isinstance(receiver, OtlpJsonFileReceiver)
        made.append(receiver)
        return receiver

    yield build
    for receiver in made:
        receiver.shutdown()


def test_reads_existing_lines_and_lines_appended_later(tmp_path: Path, make: Callable[..., Any]) -> None:
    path = tmp_path / "spans.json"
    path.write_bytes(line(spans("a", "b")) + line(spans("c")))
    got = Collect()
    receiver = make({"traces": got})
    receiver.start()
    wait_until(lambda: got.count() == 2, "the two existing lines")
    assert names(got.batches) == [["a", "b"], ["c"]]
    append(path, line(spans("d", "e", "f")))
    wait_until(lambda: got.count() == 3, "the appended line")
    assert names(got.batches) == [["a", "b"], ["c"], ["d", "e", "f"]]
    receiver.shutdown()
    assert metrics_of(receiver)["knhk_telemetry_receiver_accepted_items_total", "traces", ""] == 6.0


def test_files_created_later_are_picked_up(tmp_path: Path, make: Callable[..., Any]) -> None:
    got = Collect()
    receiver = make({"traces": got}, include=[str(tmp_path / "**" / "*.json")])
    receiver.start()
    (tmp_path / "later" / "deeper").mkdir(parents=True)
    (tmp_path / "later" / "deeper" / "x.json").write_bytes(line(spans("late")))
    wait_until(lambda: got.count() == 1, "the new file")
    assert names(got.batches) == [["late"]]


def test_exclude_wins_over_include(tmp_path: Path, make: Callable[..., Any]) -> None:
    (tmp_path / "keep.json").write_bytes(line(spans("kept")))
    (tmp_path / "skip.json").write_bytes(line(spans("skipped")))
    got = Collect()
    receiver = make({"traces": got}, exclude=[str(tmp_path / "skip*")])
    receiver.start()
    receiver.shutdown()  # the final poll reads everything there is
    assert names(got.batches) == [["kept"]]


def test_garbage_lines_are_counted_and_reading_goes_on(
    tmp_path: Path, make: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "spans.json"
    path.write_bytes(
        line(spans("a"))
        + b"this is not json\n"
        + b'{"resourceSpans": [{"scopeSpans": 5}]}\n'
        + b"\n"
        + line(spans("b"))
    )
    got = Collect()
    receiver = make({"traces": got})
    with caplog.at_level(logging.WARNING, logger="knhk_telemetry.receivers.otlpjsonfile"):
        receiver.start()
        wait_until(lambda: got.count() == 2, "the good lines")
        receiver.shutdown()
    assert names(got.batches) == [["a"], ["b"]]
    m = metrics_of(receiver)
    assert m["knhk_telemetry_receiver_refused_lines_total", "", "unknown_signal"] == 1.0
    assert m["knhk_telemetry_receiver_refused_lines_total", "traces", "decode_error"] == 1.0
    assert m["knhk_telemetry_receiver_accepted_items_total", "traces", ""] == 2.0
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"{path}:2: unknown_signal: not an OTLP/JSON request" in msg for msg in messages)
    assert any(f"{path}:3: decode_error:" in msg for msg in messages)


def test_refused_items_inside_a_line_are_counted_by_reason(tmp_path: Path, make: Callable[..., Any]) -> None:
    bad_id = {"traceId": "0102", "spanId": "0102030405060708", "name": "short-trace-id"}
    good = {"traceId": "0102030405060708090a0b0c0d0e0f10", "spanId": "0102030405060708", "name": "ok"}
    doc = b'{"resourceSpans":[{"scopeSpans":[{"spans":[%s,%s]}]}]}\n' % (
        str(bad_id).replace("'", '"').encode(),
        str(good).replace("'", '"').encode(),
    )
    (tmp_path / "spans.json").write_bytes(doc)
    got = Collect()
    receiver = make({"traces": got})
    receiver.start()
    receiver.shutdown()
    assert names(got.batches) == [["ok"]]
    assert metrics_of(receiver)["knhk_telemetry_receiver_refused_items_total", "traces", "invalid_trace_id"] == 1.0


def test_start_at_end_skips_what_files_hold(tmp_path: Path, make: Callable[..., Any]) -> None:
    path = tmp_path / "spans.json"
    path.write_bytes(line(spans("old-1")) + line(spans("old-2")))
    got = Collect()
    receiver = make({"traces": got}, start_at="end")
    receiver.start()
    size = path.stat().st_size
    read = "knhk_telemetry_receiver_read_bytes_total", "", ""
    wait_until(lambda: metrics_of(receiver)[read] == size, "the first poll")
    append(path, line(spans("new")))
    wait_until(lambda: got.count() == 1, "the appended line")
    receiver.shutdown()
    assert names(got.batches) == [["new"]]


def test_an_unfinished_line_waits_for_its_newline(tmp_path: Path, make: Callable[..., Any]) -> None:
    path = tmp_path / "spans.json"
    second = line(spans("second"))
    path.write_bytes(line(spans("first")) + second[:20])
    got = Collect()
    receiver = make({"traces": got})
    receiver.start()
    read = "knhk_telemetry_receiver_read_bytes_total", "", ""
    wait_until(lambda: metrics_of(receiver)[read] == path.stat().st_size, "every byte to be read")
    assert names(got.batches) == [["first"]]  # and the unfinished second line is not taken
    append(path, second[20:])
    wait_until(lambda: got.count() == 2, "the completed line")
    assert names(got.batches) == [["first"], ["second"]]


def test_shutdown_takes_a_last_line_without_newline_only_if_whole(tmp_path: Path, make: Callable[..., Any]) -> None:
    (tmp_path / "whole.json").write_bytes(line(spans("a")) + encode_json(spans("no-newline")))
    (tmp_path / "cut.json").write_bytes(line(spans("b")) + encode_json(spans("cut"))[:30])
    got = Collect()
    receiver = make({"traces": got})
    receiver.start()
    receiver.shutdown()
    assert sorted(names(got.batches)) == [["a"], ["b"], ["no-newline"]]
    assert ("knhk_telemetry_receiver_refused_lines_total", "traces", "decode_error") not in metrics_of(receiver)


def test_backpressure_retries_the_same_batch_until_taken(tmp_path: Path, make: Callable[..., Any]) -> None:
    (tmp_path / "spans.json").write_bytes(line(spans("a")) + line(spans("b")))
    got = Collect()
    refusals = [3]

    def busy(batch: Batch) -> None:
        if refusals[0]:
            refusals[0] -= 1
            raise BackpressureError("queue full")
        got(batch)

    receiver = make({"traces": busy})
    receiver.start()
    wait_until(lambda: got.count() == 2, "both lines")
    receiver.shutdown()
    assert names(got.batches) == [["a"], ["b"]]
    m = metrics_of(receiver)
    assert m["knhk_telemetry_receiver_backpressure_retries_total", "traces", ""] == 3.0
    assert m["knhk_telemetry_receiver_accepted_items_total", "traces", ""] == 2.0


def test_backpressure_past_the_drain_timeout_is_counted_as_dropped(
    tmp_path: Path, make: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(receiver_module, "DRAIN_TIMEOUT_S", 0.0)
    (tmp_path / "spans.json").write_bytes(line(spans("a", "b")))
    tried = threading.Event()

    def full(batch: Batch) -> None:
        tried.set()
        raise BackpressureError("queue full")

    receiver = make({"traces": full})
    receiver.start()
    wait_until(tried.is_set, "a first delivery attempt")
    receiver.shutdown()
    m = metrics_of(receiver)
    assert m["knhk_telemetry_receiver_dropped_items_total", "traces", "shutdown"] == 2.0
    assert ("knhk_telemetry_receiver_accepted_items_total", "traces", "") in m


def test_a_closed_or_failing_pipeline_does_not_stop_the_reader(tmp_path: Path, make: Callable[..., Any]) -> None:
    (tmp_path / "spans.json").write_bytes(line(spans("closed")) + line(spans("boom")) + line(spans("ok")))
    got = Collect()

    def flaky(batch: Batch) -> None:
        name = names([batch])[0][0]
        if name == "closed":
            raise PipelineClosedError("pipeline traces is shut down")
        if name == "boom":
            raise RuntimeError("bug in a processor")
        got(batch)

    receiver = make({"traces": flaky})
    receiver.start()
    receiver.shutdown()
    assert names(got.batches) == [["ok"]]
    m = metrics_of(receiver)
    assert m["knhk_telemetry_receiver_dropped_items_total", "traces", "pipeline_closed"] == 1.0
    assert m["knhk_telemetry_receiver_dropped_items_total", "traces", "consumer_error"] == 1.0


def test_one_shared_instance_routes_each_line_by_signal(tmp_path: Path, make: Callable[..., Any]) -> None:
    (tmp_path / "mixed.json").write_bytes(
        line(spans("s1"))
        + line(logs("l1"))
        + b'{"resourceMetrics":[{"scopeMetrics":[]}]}\n'
        + b'{"resourceMetrics":[]}\n'
        + b"{}\n"
        + line(spans("s2"))
    )
    traces, logs_got = Collect(), Collect()
    receiver = make({"traces": traces, "logs": logs_got})
    assert receiver.signals() == ("traces", "logs")
    receiver.start()
    receiver.shutdown()
    assert names(traces.batches) == [["s1"], ["s2"]]
    assert names(logs_got.batches) == [["l1"]]
    m = metrics_of(receiver)
    assert m["knhk_telemetry_receiver_refused_lines_total", "metrics", "no_pipeline"] == 2.0
    assert m["knhk_telemetry_receiver_refused_lines_total", "", "unknown_signal"] == 1.0
    assert m["knhk_telemetry_receiver_accepted_items_total", "logs", ""] == 1.0


def test_two_consumers_of_one_signal_both_get_every_batch(tmp_path: Path, make: Callable[..., Any]) -> None:
    (tmp_path / "spans.json").write_bytes(line(spans("a")))
    first, second = Collect(), Collect()
    config = OtlpJsonFileConfig(include=(str(tmp_path / "*.json"),), poll_interval=0.01)
    receiver = FACTORY.create("traces", CreateSettings("otlpjsonfile/two", "traces", first), config)
    receiver.attach(CreateSettings("otlpjsonfile/two", "traces", second))
    receiver.attach(CreateSettings("otlpjsonfile/two", "traces", second))  # the same consumer once
    receiver.start()
    receiver.shutdown()
    assert names(first.batches) == names(second.batches) == [["a"]]


def test_rotated_files_are_read_once_each(tmp_path: Path, make: Callable[..., Any]) -> None:
    out = tmp_path / "out.json"
    writer = FileExporter(
        "file",
        FileExporterConfig(
            path=str(out), flush_interval=0, rotation=RotationConfig(max_megabytes=0.001, max_backups=0)
        ),
    )
    got = Collect()
    receiver = make({"traces": got}, include=[str(tmp_path / "out*.json")])
    receiver.start()
    expected = []
    for i in range(30):
        writer.consume_spans(spans(f"span-{i:02d}"))
        expected.append([f"span-{i:02d}"])
        if i % 7 == 0:
            wait_until(lambda n=i + 1: got.count() == n, f"{i + 1} batches")
    writer.shutdown()
    wait_until(lambda: got.count() == 30, "all 30 batches")
    receiver.shutdown()
    assert sorted(names(got.batches)) == expected
    assert len([p for p in os.listdir(tmp_path) if p.startswith("out-")]) >= 5


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_tails_a_compressed_file_while_it_is_written(
    tmp_path: Path, make: Callable[..., Any], compression: str
) -> None:
    path = tmp_path / f"out.json.{'gz' if compression == 'gzip' else 'zst'}"
    writer = FileExporter("file", FileExporterConfig(path=str(path), flush_interval=0, compression=compression))
    got = Collect()
    receiver = make({"traces": got})
    receiver.start()
    writer.consume_spans(spans("a"))
    wait_until(lambda: got.count() == 1, "the first flushed line")
    writer.consume_spans(spans("b", "c"))
    wait_until(lambda: got.count() == 2, "the second flushed line")
    writer.shutdown()
    receiver.shutdown()
    assert names(got.batches) == [["a"], ["b", "c"]]


def test_a_truncated_file_is_read_again_from_its_start(tmp_path: Path, make: Callable[..., Any]) -> None:
    path = tmp_path / "spans.json"
    path.write_bytes(line(spans("a", "b", "c")) + line(spans("d")))
    got = Collect()
    receiver = make({"traces": got})
    receiver.start()
    wait_until(lambda: got.count() == 2, "the first lines")
    with path.open("r+b") as fh:
        fh.truncate(0)
        fh.write(line(spans("e")))
    wait_until(lambda: got.count() == 3, "the line after truncation")
    assert names(got.batches)[2] == ["e"]


def test_too_long_lines_are_refused(tmp_path: Path, make: Callable[..., Any]) -> None:
    good = line(spans("ok"))
    (tmp_path / "spans.json").write_bytes(b"x" * 5000 + b"\n" + good)
    got = Collect()
    receiver = make({"traces": got}, max_line_bytes=len(good) + 10)
    receiver.start()
    receiver.shutdown()
    assert names(got.batches) == [["ok"]]
    assert metrics_of(receiver)["knhk_telemetry_receiver_refused_lines_total", "", "line_too_long"] == 1.0


def test_corrupt_compressed_file_is_refused_once(tmp_path: Path, make: Callable[..., Any]) -> None:
    (tmp_path / "bad.json.gz").write_bytes(b"\x1f\x8b" + b"\xff" * 64)
    (tmp_path / "good.json").write_bytes(line(spans("ok")))
    got = Collect()
    receiver = make({"traces": got})
    receiver.start()
    receiver.shutdown()
    assert names(got.batches) == [["ok"]]
    assert metrics_of(receiver)["knhk_telemetry_receiver_refused_lines_total", "", "corrupt_stream"] == 1.0


def test_lifecycle_shutdown_twice_and_without_start(tmp_path: Path) -> None:
    config = OtlpJsonFileConfig(include=(str(tmp_path / "*.json"),))
    receiver = OtlpJsonFileReceiver("otlpjsonfile", config)
    receiver.shutdown()
    receiver.shutdown()
    receiver = OtlpJsonFileReceiver("otlpjsonfile", config)
    receiver.start()
    receiver.start()
    receiver.shutdown()
    receiver.shutdown()
    m = metrics_of(receiver)
    assert m["knhk_telemetry_receiver_open_files", "", ""] == 0.0


def test_factory_needs_a_consumer(tmp_path: Path) -> None:
    config = OtlpJsonFileConfig(include=(str(tmp_path / "*.json"),))
    with pytest.raises(ConfigError, match="receiver otlpjsonfile/x needs a next consumer for traces"):
        FACTORY.create("traces", CreateSettings("otlpjsonfile/x", "traces"), config)
    first = FACTORY.create("traces", CreateSettings("otlpjsonfile/x", "traces", Collect()), config)
    with pytest.raises(ConfigError, match="receiver otlpjsonfile/x needs a next consumer for logs"):
        first.attach(CreateSettings("otlpjsonfile/x", "logs"))
    first.shutdown()


def test_config_defaults_and_validation() -> None:
    config = FACTORY.default_config()
    assert isinstance(config, OtlpJsonFileConfig)
    assert (config.include, config.exclude, config.start_at, config.poll_interval) == ((), (), "beginning", 0.2)
    with pytest.raises(ConfigError, match=r"^receivers\.otlpjsonfile\.include: needs at least one glob"):
        config.validate_config("receivers.otlpjsonfile")
    with pytest.raises(ConfigError, match=r"^receivers\.otlpjsonfile\.poll_interval: must be greater than 0"):
        OtlpJsonFileConfig(include=("x",), poll_interval=0).validate_config("receivers.otlpjsonfile")
    with pytest.raises(ConfigError, match=r"^receivers\.otlpjsonfile\.exclude: holds an empty pattern"):
        OtlpJsonFileConfig(include=("x",), exclude=(" ",)).validate_config("receivers.otlpjsonfile")
    parsed = OtlpJsonFileConfig.model_validate({"include": ["a/*.json"], "poll_interval": "1s", "start_at": "end"})
    assert (parsed.include, parsed.poll_interval, parsed.start_at) == (("a/*.json",), 1.0, "end")
    with pytest.raises(pydantic.ValidationError, match="start_at"):
        OtlpJsonFileConfig.model_validate({"include": ["x"], "start_at": "middle"})
