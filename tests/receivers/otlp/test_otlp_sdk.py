"""The real OpenTelemetry SDK exporters (gRPC and HTTP) -> ``knhk-telemetry run`` -> the file exporter.

The SDK's own in-memory records are the expected side: every span, metric point and log
record the SDK exported must come out of the file exporter with the same content.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from knhk_telemetry.exporters.file import read_otlp_json_lines
from knhk_telemetry.model import edge
from knhk_telemetry.otlp.json import decode_json

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "knhk_telemetry.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Running:
    proc: subprocess.Popen[str]
    grpc_port: int
    http_port: int
    out: Path

    def stop(self) -> str:
        """SIGTERM, wait for a clean exit; the process's stderr."""
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0, err
        return err

    def exported(self) -> dict[str, list[Any]]:
        """What the file exporter wrote, as edge objects per signal."""
        out: dict[str, list[Any]] = {"traces": [], "metrics": [], "logs": []}
        convert = {"traces": edge.batch_to_spans, "metrics": edge.batch_to_metrics, "logs": edge.batch_to_logs}
        for sig, line in read_otlp_json_lines(self.out):
            decoded = decode_json(sig, line)
            assert not decoded.rejected
            out[sig].extend(convert[sig](decoded.batch))  # type: ignore[operator]
        return out


@pytest.fixture
def knhk(tmp_path: Path) -> Iterator[Running]:
    grpc_port, http_port = _free_port(), _free_port()
    out = tmp_path / "out.jsonl"
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc_port}"}}
      http: {{endpoint: "127.0.0.1:{http_port}"}}
processors:
  batch: {{send_batch_size: 1000, timeout: 50ms}}
exporters:
  file: {{path: "{out}"}}
service:
  telemetry:
    metrics: {{enabled: false}}
  pipelines:
    traces: {{receivers: [otlp], processors: [batch], exporters: [file]}}
    metrics: {{receivers: [otlp], processors: [batch], exporters: [file]}}
    logs: {{receivers: [otlp], processors: [batch], exporters: [file]}}
"""
    )
    proc = subprocess.Popen([*CLI, "run", "--config", str(cfg)], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (_port_open(grpc_port) and _port_open(http_port)):
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the otlp receiver did not start listening"
            time.sleep(0.05)
        yield Running(proc, grpc_port, http_port, out)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


RESOURCE = Resource.create({"service.name": "checkout", "deployment.environment.name": "test"})


# -- traces -----------------------------------------------------------------------------------
def _make_spans() -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("shop.tracer", "1.2.3")
    for transport in ("grpc", "http"):
        with tracer.start_as_current_span(
            f"GET /cart via {transport}",
            kind=SpanKind.SERVER,
            attributes={"http.request.method": "GET", "http.response.status_code": 500, "retry": True},
        ) as root:
            root.add_event("cache miss", {"cache.key": "cart:42", "cache.size": 1.5})
            root.set_status(Status(StatusCode.ERROR, "backend timed out"))
            with tracer.start_as_current_span(
                "SELECT carts",
                kind=SpanKind.CLIENT,
                attributes={"db.system.name": "postgresql", "db.tags": ("a", "b")},
                links=[Link(root.get_span_context(), {"link.kind": "retry-of"})],
            ) as child:
                child.set_status(Status(StatusCode.OK))
            with tracer.start_as_current_span("enqueue", kind=SpanKind.PRODUCER):
                pass
    spans = list(memory.get_finished_spans())
    provider.shutdown()
    return spans


def _attrs(attributes: Any) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple | list) else v for k, v in (attributes or {}).items()}


def _expected_span(span: ReadableSpan) -> dict[str, Any]:
    ctx = span.get_span_context()
    assert ctx is not None
    return {
        "trace_id": ctx.trace_id.to_bytes(16, "big"),
        "span_id": ctx.span_id.to_bytes(8, "big"),
        "parent_span_id": span.parent.span_id.to_bytes(8, "big") if span.parent else None,
        "name": span.name,
        "kind": span.kind.value + 1,  # the SDK's enum starts at INTERNAL=0, OTLP's at UNSPECIFIED=0
        "start": span.start_time,
        "end": span.end_time,
        "attributes": _attrs(span.attributes),
        "events": [(e.name, e.timestamp, _attrs(e.attributes)) for e in span.events],
        "links": [
            (
                link.context.trace_id.to_bytes(16, "big"),
                link.context.span_id.to_bytes(8, "big"),
                _attrs(link.attributes),
            )
            for link in span.links
        ],
        "status": (span.status.status_code.value, span.status.description or ""),
        "resource": _attrs(span.resource.attributes),
        "scope": (span.instrumentation_scope.name, span.instrumentation_scope.version)
        if span.instrumentation_scope
        else None,
    }


def _got_span(span: Any) -> dict[str, Any]:
    return {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "name": span.name,
        "kind": int(span.kind),
        "start": span.start_time_unix_nano,
        "end": span.end_time_unix_nano,
        "attributes": _attrs(span.attributes),
        "events": [(e.name, e.time_unix_nano, _attrs(e.attributes)) for e in span.events],
        "links": [(link.trace_id, link.span_id, _attrs(link.attributes)) for link in span.links],
        "status": (int(span.status.code), span.status.message),
        "resource": _attrs(span.resource.attributes),
        "scope": (span.scope.name, span.scope.version),
    }


# -- metrics ----------------------------------------------------------------------------------
def _make_metrics() -> tuple[MetricsData, MetricsData]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], resource=RESOURCE)
    meter = provider.get_meter("shop.meter", "0.1.0")
    requests = meter.create_counter("http.server.requests", unit="{request}", description="Requests served.")
    latency = meter.create_histogram("http.server.request.duration", unit="s")
    inflight = meter.create_up_down_counter("http.server.active_requests")
    requests.add(5, {"http.route": "/cart"})
    requests.add(2, {"http.route": "/pay"})
    for value in (0.004, 0.02, 0.3):
        latency.record(value, {"http.route": "/cart"})
    inflight.add(3)
    first = reader.get_metrics_data()
    requests.add(1, {"http.route": "/cart"})
    inflight.add(-1)
    second = reader.get_metrics_data()
    provider.shutdown()
    assert first is not None
    assert second is not None
    return first, second


def _expected_points(data: MetricsData) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for p in metric.data.data_points:
                    key = (
                        metric.name,
                        metric.unit or "",
                        tuple(sorted(_attrs(p.attributes).items())),
                        p.time_unix_nano,
                    )
                    if isinstance(p, NumberDataPoint):
                        out.append((*key, p.value))
                    else:
                        assert isinstance(p, HistogramDataPoint)
                        hist = (p.count, p.sum, list(p.bucket_counts), list(p.explicit_bounds), p.min, p.max)
                        out.append((*key, hist))
    return out


def _got_points(metrics: Sequence[Any]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for metric in metrics:
        for p in metric.points:
            key = (metric.name, metric.unit, tuple(sorted(_attrs(p.attributes).items())), p.time_unix_nano)
            if isinstance(p, edge.NumberDataPoint):
                out.append((*key, p.value))
            else:
                assert isinstance(p, edge.HistogramDataPoint)
                hist = (p.count, p.sum, list(p.bucket_counts), list(p.explicit_bounds), p.min, p.max)
                out.append((*key, hist))
    return out


# -- logs -------------------------------------------------------------------------------------
def _make_logs() -> list[ReadableLogRecord]:
    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    logger = provider.get_logger("shop.logger", "2.0.0")
    entries = [
        ("cart loaded", SeverityNumber.INFO, "INFO", {"cart.items": 3}),
        ("payment declined", SeverityNumber.ERROR, "ERROR", {"payment.provider": "acme", "retryable": False}),
        ("slow query", SeverityNumber.WARN, "WARN", {"db.duration_ms": 812.5}),
        ("bye", SeverityNumber.DEBUG, "DEBUG", {}),
    ]
    for i, (body, number, text, attributes) in enumerate(entries):
        logger.emit(
            timestamp=1_700_000_000_000_000_000 + i,
            body=body,
            severity_number=number,
            severity_text=text,
            attributes=attributes,
        )
    records = list(memory.get_finished_logs())
    provider.shutdown()
    return records


def _expected_log(record: ReadableLogRecord) -> tuple[Any, ...]:
    log = record.log_record
    assert log.severity_number is not None
    return (log.body, log.severity_number.value, log.severity_text, _attrs(log.attributes), log.timestamp)


def _got_log(entry: Any) -> tuple[Any, ...]:
    return (entry.body, entry.severity_number, entry.severity_text, _attrs(entry.attributes), entry.time_unix_nano)


# -- the test ---------------------------------------------------------------------------------
def test_sdk_exporters_over_grpc_and_http_reach_the_file_exporter_intact(knhk: Running) -> None:
    grpc_target = f"127.0.0.1:{knhk.grpc_port}"
    http_base = f"http://127.0.0.1:{knhk.http_port}"
    spans = _make_spans()
    assert len(spans) == 6
    first_metrics, second_metrics = _make_metrics()
    logs = _make_logs()

    grpc_spans = GrpcSpanExporter(endpoint=grpc_target, insecure=True, compression=grpc.Compression.Gzip)
    http_spans = HttpSpanExporter(endpoint=f"{http_base}/v1/traces", compression=HttpCompression.Gzip)
    assert grpc_spans.export(spans[:3]) is SpanExportResult.SUCCESS
    assert http_spans.export(spans[3:]) is SpanExportResult.SUCCESS
    grpc_metrics = GrpcMetricExporter(endpoint=grpc_target, insecure=True)
    http_metrics = HttpMetricExporter(endpoint=f"{http_base}/v1/metrics", compression=HttpCompression.Deflate)
    assert grpc_metrics.export(first_metrics) is MetricExportResult.SUCCESS
    assert http_metrics.export(second_metrics) is MetricExportResult.SUCCESS
    grpc_logs = GrpcLogExporter(endpoint=grpc_target, insecure=True)
    http_logs = HttpLogExporter(endpoint=f"{http_base}/v1/logs")
    assert grpc_logs.export(logs[:2]) is LogRecordExportResult.SUCCESS
    assert http_logs.export(logs[2:]) is LogRecordExportResult.SUCCESS
    for exporter in (grpc_spans, http_spans, grpc_metrics, http_metrics, grpc_logs, http_logs):
        exporter.shutdown()

    knhk.stop()
    exported = knhk.exported()

    got_spans = {s.span_id: _got_span(s) for s in exported["traces"]}
    assert len(exported["traces"]) == 6
    assert got_spans == {e["span_id"]: e for e in map(_expected_span, spans)}

    expected_points = sorted(_expected_points(first_metrics) + _expected_points(second_metrics), key=repr)
    assert len(expected_points) == 8  # 2 + 1 + 1 points, collected twice
    assert sorted(_got_points(exported["metrics"]), key=repr) == expected_points
    by_name = {m.name: m for m in exported["metrics"]}
    assert by_name["http.server.requests"].description == "Requests served."
    assert by_name["http.server.requests"].is_monotonic is True

    assert sorted(map(_got_log, exported["logs"]), key=repr) == sorted(map(_expected_log, logs), key=repr)
    assert {entry.scope.name for entry in exported["logs"]} == {"shop.logger"}
    assert {entry.resource.attributes["service.name"] for entry in exported["logs"]} == {"checkout"}
