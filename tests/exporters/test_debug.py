"""The debug exporter: exact output at each verbosity, on each output, and sampling."""

from __future__ import annotations

import logging

import pydantic
import pytest

from knhk_telemetry.component import CreateSettings
from knhk_telemetry.exporters import debug
from knhk_telemetry.exporters.debug import FACTORY, DebugConfig, DebugExporter, format_duration
from knhk_telemetry.model import schema as S
from knhk_telemetry.model.batch import LogBatch, MetricBatch, SpanBatch
from knhk_telemetry.model.values import AttributeBuilder, TableBuilder

T0 = 1_704_164_645_000_000_000  # 2024-01-02T03:04:05Z


def span_batch() -> SpanBatch:
    resources = TableBuilder(S.RESOURCES)
    resources.append()
    resource_attrs = AttributeBuilder()
    resource_attrs.add(0, "service.name", "checkout")
    scopes = TableBuilder(S.SCOPES)
    scopes.append(resource=0, name="lib", version="1.0")
    spans = TableBuilder(S.SPANS)
    spans.append(scope=0, trace_id=bytes(range(16)), span_id=bytes(range(8)), name="GET /users", kind=2,
                 start_time_unix_nano=T0, end_time_unix_nano=T0 + 1_500_000, status_code=2,
                 status_message="boom")  # fmt: skip
    spans.append(scope=0, trace_id=bytes(range(16)), span_id=b"\xab" * 8, parent_span_id=bytes(range(8)),
                 name='say "hi"', kind=3, start_time_unix_nano=T0 + 10, end_time_unix_nano=T0 + 260)  # fmt: skip
    span_attrs = AttributeBuilder()
    span_attrs.add_all(0, {"http.method": "GET", "http.status_code": 500})
    events = TableBuilder(S.EVENTS)
    events.append(span=0, time_unix_nano=T0 + 5, name="exception")
    event_attrs = AttributeBuilder()
    event_attrs.add(0, "exception.type", "ValueError")
    links = TableBuilder(S.LINKS)
    links.append(span=1, trace_id=b"\x11" * 16, span_id=b"\x22" * 8)
    return SpanBatch(
        {
            "resources": resources.build(),
            "resource_attributes": resource_attrs.build(),
            "scopes": scopes.build(),
            "spans": spans.build(),
            "span_attributes": span_attrs.build(),
            "events": events.build(),
            "event_attributes": event_attrs.build(),
            "links": links.build(),
        }
    )


def metric_batch() -> MetricBatch:
    resources = TableBuilder(S.RESOURCES)
    resources.append()
    scopes = TableBuilder(S.SCOPES)
    scopes.append(resource=0, name="meter")
    metrics = TableBuilder(S.METRICS)
    metrics.append(scope=0, name="cpu", type=5)
    metrics.append(scope=0, name="requests", type=7, aggregation_temporality=2, is_monotonic=True)
    metrics.append(scope=0, name="latency", type=9, aggregation_temporality=1)
    metrics.append(scope=0, name="rtt", type=11)
    points = TableBuilder(S.POINTS)
    points.append(metric=0, time_unix_nano=T0, value_kind=4, value_double=0.5)
    points.append(metric=0, time_unix_nano=T0, value_kind=4, value_double=0.25)
    points.append(metric=1, time_unix_nano=T0, value_kind=6, value_int=42)
    points.append(metric=2, time_unix_nano=T0, count=3, sum=12.5, bucket_counts=[1, 2], explicit_bounds=[5.0])
    points.append(metric=3, time_unix_nano=T0, count=10, quantile_values=[{"quantile": 0.5, "value": 0.2}])
    return MetricBatch(
        {"resources": resources.build(), "scopes": scopes.build(), "metrics": metrics.build(), "points": points.build()}
    )


def log_batch() -> LogBatch:
    resources = TableBuilder(S.RESOURCES)
    resources.append()
    scopes = TableBuilder(S.SCOPES)
    scopes.append(resource=0, name="logger")
    logs = TableBuilder(S.LOGS)
    logs.append(scope=0, time_unix_nano=T0, severity_number=9, severity_text="INFO", body_type=1, body_str="hello")
    logs.append(scope=0, severity_number=17, body_type=1, body_str="3")
    logs.append(scope=0, time_unix_nano=T0 + 1, body_type=3, body_int=3)
    logs.append(scope=0, time_unix_nano=T0 + 2, body_type=6, body_bytes=_kvlist({"a": 1}))
    log_attrs = AttributeBuilder()
    log_attrs.add(3, "job", "nightly")
    return LogBatch(
        {
            "resources": resources.build(),
            "scopes": scopes.build(),
            "logs": logs.build(),
            "log_attributes": log_attrs.build(),
        }
    )


def _kvlist(value: dict[str, int]) -> bytes:
    from knhk_telemetry.model.values import python_to_columns

    cell: bytes = python_to_columns(value)[2]
    return cell


def stdout_exporter(verbosity: str, **options: object) -> DebugExporter:
    return DebugExporter("debug/x", DebugConfig.model_validate({"verbosity": verbosity, "output": "stdout", **options}))


# -- verbosity ---------------------------------------------------------------------------------
def test_basic_logs_one_summary_line_per_batch(caplog: pytest.LogCaptureFixture) -> None:
    exporter = DebugExporter("debug", DebugConfig())
    with caplog.at_level(logging.INFO, logger="knhk_telemetry.exporters.debug"):
        exporter.consume_spans(span_batch())
        exporter.consume_metrics(metric_batch())
        exporter.consume_logs(log_batch())
        exporter.consume_spans(SpanBatch.empty())
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        ("knhk_telemetry.exporters.debug", logging.INFO, "traces: 2 spans, 1 resources"),
        ("knhk_telemetry.exporters.debug", logging.INFO, "metrics: 5 data points, 4 metrics, 1 resources"),
        ("knhk_telemetry.exporters.debug", logging.INFO, "logs: 4 log records, 1 resources"),
        ("knhk_telemetry.exporters.debug", logging.INFO, "traces: 0 spans, 0 resources"),
    ]
    assert caplog.records[0].exporter == "debug"  # type: ignore[attr-defined]


def test_basic_never_reads_items(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def refuse(batch: object) -> list[str]:
        raise AssertionError("basic verbosity must not format items")

    monkeypatch.setattr(debug, "normal_lines", refuse)
    monkeypatch.setattr(debug, "detailed_lines", refuse)
    monkeypatch.setattr(debug, "flatten", refuse)
    stdout_exporter("basic").consume_spans(span_batch())
    assert capsys.readouterr().out == "traces: 2 spans, 1 resources\n"


def test_normal_spans(capsys: pytest.CaptureFixture[str]) -> None:
    stdout_exporter("normal").consume_spans(span_batch())
    assert capsys.readouterr().out.splitlines() == [
        "traces: 2 spans, 1 resources",
        '  span trace_id=000102030405060708090a0b0c0d0e0f span_id=0001020304050607 name="GET /users" duration=1.5ms',
        '  span trace_id=000102030405060708090a0b0c0d0e0f span_id=abababababababab name="say \\"hi\\"" duration=250ns',
    ]


def test_normal_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    stdout_exporter("normal").consume_metrics(metric_batch())
    assert capsys.readouterr().out.splitlines() == [
        "metrics: 5 data points, 4 metrics, 1 resources",
        '  point metric="cpu" type=GAUGE value=0.5',
        '  point metric="cpu" type=GAUGE value=0.25',
        '  point metric="requests" type=SUM value=42',
        '  point metric="latency" type=HISTOGRAM count=3 sum=12.5',
        '  point metric="rtt" type=SUMMARY count=10 sum=null',
    ]


def test_normal_logs(capsys: pytest.CaptureFixture[str]) -> None:
    stdout_exporter("normal").consume_logs(log_batch())
    assert capsys.readouterr().out.splitlines() == [
        "logs: 4 log records, 1 resources",
        '  log time=2024-01-02T03:04:05.000000000Z severity=INFO body="hello"',
        '  log time=unset severity=17 body="3"',
        "  log time=2024-01-02T03:04:05.000000001Z severity=unset body=3",
        '  log time=2024-01-02T03:04:05.000000002Z severity=unset body={"a":1}',
    ]


def test_detailed_spans(capsys: pytest.CaptureFixture[str]) -> None:
    stdout_exporter("detailed").consume_spans(span_batch())
    assert capsys.readouterr().out.splitlines() == [
        "traces: 2 spans, 1 resources",
        "  span #0",
        "    trace_id: 000102030405060708090a0b0c0d0e0f",
        "    span_id: 0001020304050607",
        "    name: GET /users",
        "    kind: 2",
        "    kind_name: SERVER",
        "    start_time: 2024-01-02T03:04:05.000000000Z",
        "    end_time: 2024-01-02T03:04:05.001500000Z",
        "    start_time_unix_nano: 1704164645000000000",
        "    end_time_unix_nano: 1704164645001500000",
        "    duration_ns: 1500000",
        "    status_code: 2",
        "    status_code_name: ERROR",
        "    status_message: boom",
        '    attributes: {"http.method": "GET", "http.status_code": "500"}',
        "    events: 1",
        '      - {"time": "2024-01-02T03:04:05.000000005Z", "time_unix_nano": 1704164645000000005, "name": "exception",'
        ' "attributes": {"exception.type": "ValueError"}, "dropped_attributes_count": null}',
        "    links: 0",
        "    service_name: checkout",
        '    resource_attributes: {"service.name": "checkout"}',
        "    scope_name: lib",
        "    scope_version: 1.0",
        "    scope_attributes: {}",
        "  span #1",
        "    trace_id: 000102030405060708090a0b0c0d0e0f",
        "    span_id: abababababababab",
        "    parent_span_id: 0001020304050607",
        '    name: say "hi"',
        "    kind: 3",
        "    kind_name: CLIENT",
        "    start_time: 2024-01-02T03:04:05.000000010Z",
        "    end_time: 2024-01-02T03:04:05.000000260Z",
        "    start_time_unix_nano: 1704164645000000010",
        "    end_time_unix_nano: 1704164645000000260",
        "    duration_ns: 250",
        "    attributes: {}",
        "    events: 0",
        "    links: 1",
        '      - {"trace_id": "11111111111111111111111111111111", "span_id": "2222222222222222", "trace_state": null,'
        ' "attributes": {}, "dropped_attributes_count": null, "flags": null}',
        "    service_name: checkout",
        '    resource_attributes: {"service.name": "checkout"}',
        "    scope_name: lib",
        "    scope_version: 1.0",
        "    scope_attributes: {}",
    ]


def test_detailed_metrics_and_logs(capsys: pytest.CaptureFixture[str]) -> None:
    exporter = stdout_exporter("detailed")
    exporter.consume_metrics(metric_batch().slice(3, 2))
    exporter.consume_logs(log_batch().slice(3))
    assert capsys.readouterr().out.splitlines() == [
        "metrics: 2 data points, 2 metrics, 1 resources",
        "  point #0",
        "    metric_name: latency",
        "    metric_type: HISTOGRAM",
        "    aggregation_temporality: DELTA",
        "    metric_metadata: {}",
        "    time: 2024-01-02T03:04:05.000000000Z",
        "    time_unix_nano: 1704164645000000000",
        "    count: 3",
        "    sum: 12.5",
        "    bucket_counts: [1, 2]",
        "    explicit_bounds: [5.0]",
        "    attributes: {}",
        "    exemplars: 0",
        "    resource_attributes: {}",
        "    scope_name: meter",
        "    scope_attributes: {}",
        "  point #1",
        "    metric_name: rtt",
        "    metric_type: SUMMARY",
        "    metric_metadata: {}",
        "    time: 2024-01-02T03:04:05.000000000Z",
        "    time_unix_nano: 1704164645000000000",
        "    count: 10",
        "    quantile_values: 1",
        '      - {"quantile": 0.5, "value": 0.2}',
        "    attributes: {}",
        "    exemplars: 0",
        "    resource_attributes: {}",
        "    scope_name: meter",
        "    scope_attributes: {}",
        "logs: 1 log records, 1 resources",
        "  log #0",
        "    time: 2024-01-02T03:04:05.000000002Z",
        "    time_unix_nano: 1704164645000000002",
        '    body: {"a":1}',
        "    body_type: KVLIST",
        '    attributes: {"job": "nightly"}',
        "    resource_attributes: {}",
        "    scope_name: logger",
        "    scope_attributes: {}",
    ]


# -- outputs and sampling ------------------------------------------------------------------------
def test_stderr_output(capsys: pytest.CaptureFixture[str]) -> None:
    DebugExporter("debug", DebugConfig(output="stderr")).consume_logs(log_batch())
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "logs: 4 log records, 1 resources\n")


def test_sampling_per_second_like_the_collector(capsys: pytest.CaptureFixture[str]) -> None:
    now = [0.0]
    config = DebugConfig(output="stdout", sampling_initial=2, sampling_thereafter=3)
    exporter = DebugExporter("debug", config, clock=lambda: now[0])
    written = []
    for _ in range(10):
        exporter.consume_spans(span_batch())
        written.append(bool(capsys.readouterr().out))
        now[0] += 0.05  # all ten within one second
    # first two of the second, then every third after them: batches 1, 2, 5, 8
    assert written == [True, True, False, False, True, False, False, True, False, False]
    now[0] = 1.5  # a new second starts the count again
    exporter.consume_spans(span_batch())
    assert capsys.readouterr().out == "traces: 2 spans, 1 resources\n"
    sampled_out = {
        labels["signal"]: value
        for name, _, _, labels, value in exporter.self_metrics()
        if name == "knhk_telemetry_exporter_sampled_out_batches_total"
    }
    assert sampled_out == {"traces": 6.0, "metrics": 0.0, "logs": 0.0}


def test_sampling_thereafter_zero_writes_only_the_initial_batches(capsys: pytest.CaptureFixture[str]) -> None:
    exporter = DebugExporter(
        "debug", DebugConfig(output="stdout", sampling_initial=1, sampling_thereafter=0), clock=lambda: 7.0
    )
    for _ in range(3):
        exporter.consume_logs(log_batch())
    assert capsys.readouterr().out == "logs: 4 log records, 1 resources\n"


def test_self_metrics_count_items_and_batches(capsys: pytest.CaptureFixture[str]) -> None:
    exporter = stdout_exporter("basic")
    exporter.consume_spans(span_batch())
    exporter.consume_spans(span_batch())
    exporter.consume_logs(log_batch())
    capsys.readouterr()
    assert [(n, t, labels, v) for n, t, _, labels, v in exporter.self_metrics()] == [
        ("knhk_telemetry_exporter_sent_items_total", "counter", {"exporter": "debug/x", "signal": "traces"}, 4.0),
        ("knhk_telemetry_exporter_sent_batches_total", "counter", {"exporter": "debug/x", "signal": "traces"}, 2.0),
        ("knhk_telemetry_exporter_sampled_out_batches_total", "counter", {"exporter": "debug/x", "signal": "traces"},
         0.0),
        ("knhk_telemetry_exporter_sent_items_total", "counter", {"exporter": "debug/x", "signal": "metrics"}, 0.0),
        ("knhk_telemetry_exporter_sent_batches_total", "counter", {"exporter": "debug/x", "signal": "metrics"}, 0.0),
        ("knhk_telemetry_exporter_sampled_out_batches_total", "counter", {"exporter": "debug/x", "signal": "metrics"},
         0.0),
        ("knhk_telemetry_exporter_sent_items_total", "counter", {"exporter": "debug/x", "signal": "logs"}, 4.0),
        ("knhk_telemetry_exporter_sent_batches_total", "counter", {"exporter": "debug/x", "signal": "logs"}, 1.0),
        ("knhk_telemetry_exporter_sampled_out_batches_total", "counter", {"exporter": "debug/x", "signal": "logs"},
         0.0),
    ]  # fmt: skip


# -- helpers, config, factory ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"), (1, "1ns"), (999, "999ns"), (1_000, "1µs"), (1_500, "1.5µs"), (12_345_678, "12.345678ms"),
        (2_000_000_000, "2s"), (61_000_000_001, "61.000000001s"), (-1_500_000, "-1.5ms"),
    ],
)  # fmt: skip
def test_format_duration(ns: int, text: str) -> None:
    assert format_duration(ns) == text


def test_config_defaults_and_refusals() -> None:
    config = FACTORY.default_config()
    assert config == DebugConfig(verbosity="basic", sampling_initial=2, sampling_thereafter=1, output="log")
    with pytest.raises(pydantic.ValidationError, match="verbosity"):
        DebugConfig.model_validate({"verbosity": "loud"})
    with pytest.raises(pydantic.ValidationError, match="sampling_initial"):
        DebugConfig(sampling_initial=-1)
    with pytest.raises(pydantic.ValidationError, match="extra"):
        DebugConfig.model_validate({"color": True})


def test_factory_and_lifecycle(capsys: pytest.CaptureFixture[str]) -> None:
    assert (FACTORY.type, FACTORY.kind, FACTORY.signals()) == ("debug", "exporter", ("traces", "metrics", "logs"))
    exporter = FACTORY.create("metrics", CreateSettings("debug/m", "metrics"), DebugConfig(output="stdout"))
    assert isinstance(exporter, DebugExporter)
    exporter.start()
    exporter.consume_metrics(MetricBatch.empty())
    exporter.shutdown()
    exporter.shutdown()
    assert capsys.readouterr().out == "metrics: 0 data points, 0 metrics, 0 resources\n"
