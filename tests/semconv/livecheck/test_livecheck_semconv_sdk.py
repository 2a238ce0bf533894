"""Real OTLP from the OpenTelemetry SDK, checked against the real semconv registry (../shared)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from knhk_telemetry.model.batch import SpanBatch
from knhk_telemetry.otlp.proto import decode_metrics, decode_traces
from knhk_telemetry.semconv.livecheck import BatchFindings, Finding, LiveChecker, LiveCheckReport
from knhk_telemetry.semconv.loader import load_registry
from knhk_telemetry.synth import synthetic_spans

SEMCONV = Path(__file__).resolve().parents[3] / ".." / "shared" / "semconv" / "model"
Listed = Callable[[BatchFindings], list[tuple[str, int, Finding]]]


@pytest.fixture(scope="module")
def checker() -> LiveChecker:
    if not SEMCONV.is_dir():
        pytest.skip("../shared/semconv is not available")
    result = load_registry([SEMCONV])
    assert result.errors == ()
    return LiveChecker(result.registry)


@pytest.fixture
def sdk_spans() -> bytes:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "shop", "service.version": "1.2"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test.instrumentation", "0.1")
    with tracer.start_as_current_span("GET /cart", kind=SpanKind.SERVER) as span:
        span.set_attributes({
            "http.request.method": "GET", "url.path": "/cart", "url.scheme": "https", "http.route": "/cart",
            "http.response.status_code": 200, "http.method": "GET", "app.cart.items": 3,
        })  # fmt: skip
    with tracer.start_as_current_span("fetch", kind=SpanKind.CLIENT) as span:
        span.set_attributes(
            {"http.request.method": "BREW", "url.full": "https://x/y", "server.address": "x", "server.port": "443"}
        )
    provider.shutdown()
    return encode_spans(exporter.get_finished_spans()).SerializeToString()


def test_sdk_spans_against_semconv(checker: LiveChecker, sdk_spans: bytes, findings_of: Listed) -> None:
    decoded = decode_traces(sdk_spans)
    bf = checker.check_spans(decoded.batch)
    got = {(t, i, f.id, f.level) for t, i, f in findings_of(bf)}
    # the server span matches span.http.server by its required attributes
    assert ("spans", 0, "recommended_attribute_not_present", "improvement") in got
    attrs = [(t, f.id, f.message) for t, _, f in findings_of(bf) if t == "span_attributes"]
    assert (
        "span_attributes",
        "deprecated",
        "Attribute 'http.method' is deprecated; reason = 'renamed', note = 'Replaced by `http.request.method`.'.",
    ) in attrs
    assert (
        "span_attributes",
        "missing_attribute",
        "Attribute 'app.cart.items' does not exist in the registry.",
    ) in attrs
    assert (
        "span_attributes",
        "undefined_enum_variant",
        "Enum attribute 'http.request.method' has value 'BREW' which is not documented.",
    ) in attrs
    assert (
        "span_attributes",
        "type_mismatch",
        "Attribute 'server.port' has type 'string'. Type should be 'int'.",
    ) in attrs
    # the client span matches span.http.client (its four required attributes are present)
    client = [f.message for t, i, f in findings_of(bf) if t == "spans" and i == 1]
    assert "Recommended attribute 'network.peer.address' is not present." in client
    assert not any("Required" in m for m in client)
    report = LiveCheckReport(checker.index)
    report.add(decoded.batch, bf)
    s = report.statistics()
    assert s["total_entities_by_type"] == {"attribute": 17, "instrumentation_scope": 1, "resource": 1, "span": 2}
    assert s["seen_registry_attributes"]["http.route"] == 1
    assert s["seen_non_registry_attributes"]["http.method"] == 1  # deprecated: not a registry entry (Weaver)


def test_sdk_metrics_against_semconv(checker: LiveChecker, findings_of: Listed) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "shop"}))
    meter = provider.get_meter("test")
    meter.create_histogram("http.server.request.duration", unit="ms").record(12.0, {"http.request.method": "GET"})
    meter.create_up_down_counter("custom.things", unit="1").add(1)
    data = reader.get_metrics_data()
    provider.shutdown()
    assert data is not None
    bf = checker.check_metrics(decode_metrics(encode_metrics(data).SerializeToString()).batch)
    metric = [(f.id, f.message) for t, _, f in findings_of(bf) if t == "metrics"]
    assert ("unit_mismatch", "Unit should be 's', but found 'ms'.") in metric
    assert ("missing_metric", "Metric does not exist in the registry.") in metric
    points = {f.message for t, _, f in findings_of(bf) if t == "points"}
    assert "Required attribute 'url.scheme' is not present." in points


def test_vectorised_equals_one_span_at_a_time(checker: LiveChecker, findings_of: Listed) -> None:
    """The columnar answer for a batch is the answer for each span checked alone."""
    batch = synthetic_spans(300, seed=4)
    whole = checker.check_spans(batch)
    per_item = [whole.item_ids(i) for i in range(len(batch))]
    alone = [checker.check_spans(batch.slice(i, 1)).item_ids(0) for i in range(0, 300, 37)]
    assert alone == per_item[0:300:37]
    assert isinstance(batch, SpanBatch)
