"""The spanmetrics connector: exact calls and exponential-histogram buckets, temporality,
dimensions, overflow, lifecycle and the OTLP round trip of what it emits."""

from __future__ import annotations

import math
import threading
from collections import Counter, defaultdict
from typing import Any

import pyarrow as pa
import pytest

from knhk_telemetry.component import CreateSettings
from knhk_telemetry.connectors.spanmetrics import FACTORY, SpanMetricsConfig, SpanMetricsConnector
from knhk_telemetry.errors import ConfigError
from knhk_telemetry.model.batch import Batch, MetricBatch, SpanBatch
from knhk_telemetry.model.edge import (
    ExponentialHistogramDataPoint,
    Metric,
    NumberDataPoint,
    Resource,
    Span,
    SpanStatus,
    batch_to_metrics,
    spans_to_batch,
)
from knhk_telemetry.model.schema import AggregationTemporality, MetricType, SpanKind
from knhk_telemetry.model.values import AttributeValue
from knhk_telemetry.otlp.proto import decode_metrics, encode_metrics
from knhk_telemetry.synth import synthetic_spans

T0 = 1_700_000_000_000_000_000
MS = 1_000_000
CHECKOUT = Resource(attributes={"service.name": "checkout", "deployment.environment": "prod"})
CART = Resource(attributes={"service.name": "cart"})


class Clock:
    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def span(
    name: str,
    duration_ns: int,
    *,
    resource: Resource = CHECKOUT,
    kind: SpanKind = SpanKind.SERVER,
    status: SpanStatus | None = None,
    attributes: dict[str, AttributeValue] | None = None,
) -> Span:
    return Span.new(
        name,
        kind=kind,
        start_time_unix_nano=T0,
        end_time_unix_nano=T0 + duration_ns,
        status=status,
        attributes=attributes,
        resource=resource,
    )


def ending_before_start(batch: SpanBatch, row: int, by_ns: int) -> SpanBatch:
    """The batch with span ``row`` ending ``by_ns`` before it starts (edge validation refuses that)."""
    spans = batch.spans
    end = spans.column("end_time_unix_nano").to_numpy().copy()
    end[row] = spans.column("start_time_unix_nano").to_numpy()[row] - by_ns
    i = spans.schema.get_field_index("end_time_unix_nano")
    return batch.with_table("spans", spans.set_column(i, spans.schema.field(i), pa.array(end, pa.uint64())))


def connector(
    out: list[Batch] | None = None, clock: Clock | None = None, **config: Any
) -> tuple[SpanMetricsConnector, list[Batch]]:
    received: list[Batch] = [] if out is None else out
    c = SpanMetricsConnector("spanmetrics", SpanMetricsConfig(**config), received.append, clock_ns=clock or Clock())
    return c, received


def by_attributes(metric: Metric) -> dict[tuple[tuple[str, AttributeValue], ...], Any]:
    return {tuple(p.attributes.items()): p for p in metric.points}


def metrics_named(batch: MetricBatch, name: str) -> list[Metric]:
    return [m for m in batch_to_metrics(batch) if m.name == name]


def point(batch: MetricBatch, name: str, **attrs: AttributeValue) -> Any:
    found = [
        p
        for m in metrics_named(batch, name)
        for p in m.points
        if all(p.attributes.get(k) == v for k, v in attrs.items())
    ]
    assert len(found) == 1, found
    return found[0]


def otel_index(value: float, scale: int) -> int:
    """Independent OTel bucket index: ceil(log2(v) * 2**scale) - 1, exact for powers of two."""
    mantissa, exponent = math.frexp(value)
    if mantissa == 0.5:  # value is 2**(exponent - 1): the bucket it closes
        return ((exponent - 1) << scale) - 1 if scale >= 0 else ((exponent - 1) >> -scale) - 1
    return math.ceil(math.log2(value) * 2.0**scale) - 1


def expected_buckets(values: list[float], max_size: int = 160) -> tuple[int, int, list[int]]:
    """``(scale, offset, counts)``: the finest scale <= 20 whose bucket range fits ``max_size``."""
    positive = [v for v in values if v > 0]
    for scale in range(20, -11, -1):
        idx = [otel_index(v, scale) for v in positive]
        if not idx or max(idx) - min(idx) + 1 <= max_size:
            break
    if not idx:
        return scale, 0, []
    counts = Counter(idx)
    lo, hi = min(idx), max(idx)
    return scale, lo, [counts.get(i, 0) for i in range(lo, hi + 1)]


def test_exact_calls_and_exponential_buckets_for_a_known_input() -> None:
    c, out = connector()
    spans = [
        *(span("GET /a", d * MS // 2, status=SpanStatus.ok()) for d in (2, 4, 6, 3)),  # 1, 2, 3, 1.5 ms
        span("GET /a", 10 * MS, status=SpanStatus.error("boom")),
        span("SELECT", 0, resource=CART, kind=SpanKind.CLIENT),
        span("SELECT", 250_000, resource=CART, kind=SpanKind.CLIENT),
        span("SELECT", MS, resource=CART, kind=SpanKind.CLIENT),
    ]
    c.consume_spans(ending_before_start(spans_to_batch(spans), 7, 5 * MS))  # counts as 0
    batch = c.flush()
    assert batch is not None
    assert out == [batch]
    calls = "traces.span.metrics.calls"
    duration = "traces.span.metrics.duration"
    assert [m.name for m in batch_to_metrics(batch)] == [calls, duration, calls, duration]
    ok = point(batch, calls, **{"span.name": "GET /a", "status.code": "STATUS_CODE_OK"})
    assert isinstance(ok, NumberDataPoint)
    assert ok.value == 4
    assert ok.attributes == {
        "service.name": "checkout",
        "span.name": "GET /a",
        "span.kind": "SPAN_KIND_SERVER",
        "status.code": "STATUS_CODE_OK",
    }
    assert point(batch, calls, **{"status.code": "STATUS_CODE_ERROR"}).value == 1
    assert point(batch, calls, **{"service.name": "cart"}).value == 3

    hist = point(batch, duration, **{"status.code": "STATUS_CODE_OK"})
    assert isinstance(hist, ExponentialHistogramDataPoint)
    scale, offset, counts = expected_buckets([1.0, 2.0, 3.0, 1.5])
    assert (hist.scale, hist.positive.offset, hist.positive.bucket_counts) == (scale, offset, counts)
    assert scale == 6  # indices -1..101 at scale 6; at scale 7 -1..202 would need 204 > 160 buckets
    assert (hist.count, hist.sum, hist.min, hist.max, hist.zero_count) == (4, 7.5, 1.0, 3.0, 0)
    assert hist.negative is None
    one = point(batch, duration, **{"status.code": "STATUS_CODE_ERROR"})
    assert (one.scale, one.positive.offset, one.positive.bucket_counts) == (20, otel_index(10.0, 20), [1])
    cart = point(batch, duration, **{"service.name": "cart"})
    assert (cart.count, cart.zero_count, cart.sum, cart.min, cart.max) == (3, 2, 0.25, 0.0, 0.25)
    assert (cart.scale, cart.positive.offset, cart.positive.bucket_counts) == (20, -(2 << 20) - 1, [1])

    metrics = batch_to_metrics(batch)
    assert metrics[0].resource.attributes == {"service.name": "checkout"}
    assert metrics[0].scope.name == "spanmetricsconnector"
    assert metrics[0].type == MetricType.SUM
    assert metrics[0].is_monotonic
    assert metrics[0].aggregation_temporality == AggregationTemporality.CUMULATIVE
    assert metrics[1].type == MetricType.EXPONENTIAL_HISTOGRAM
    assert metrics[1].unit == "ms"


def test_buckets_match_an_independent_computation_over_many_batches() -> None:
    spans = synthetic_spans(6000, services=3, seed=7, attributes_per_span=4)
    c, _ = connector(histogram={"unit": "s", "exponential": {"max_size": 40}})
    for part in spans.split(700):
        c.consume_spans(part)
    batch = c.flush()
    assert batch is not None
    # the reference: a plain loop over the spans, grouped by the same four dimensions
    durations = spans.durations_ns()
    names = spans.spans.column("name").to_pylist()
    kinds = spans.spans.column("kind").to_pylist()
    status = spans.spans.column("status_code").to_pylist()
    res = spans.item_resource_index()
    services = {r: a["service.name"] for r, a in enumerate(_resource_attributes(spans))}
    groups: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    for i in range(len(spans)):
        key = (services[res[i]], names[i], f"SPAN_KIND_{SpanKind(kinds[i]).name}", _status_name(status[i]))
        groups[key].append(max(int(durations[i]), 0) / 1e9)
    points = {
        tuple(p.attributes.values()): p for m in metrics_named(batch, "traces.span.metrics.duration") for p in m.points
    }
    calls = {
        tuple(p.attributes.values()): p.value
        for m in metrics_named(batch, "traces.span.metrics.calls")
        for p in m.points
    }
    assert set(points) == set(groups)
    assert calls == {k: len(v) for k, v in groups.items()}
    for key, values in groups.items():
        p = points[key]
        assert (p.scale, p.positive.offset, p.positive.bucket_counts) == expected_buckets(values, 40), key
        assert p.count == len(values)
        assert p.sum == pytest.approx(sum(values))
        assert (p.min, p.max) == (min(values), max(values))


def _resource_attributes(batch: Any) -> list[dict[str, AttributeValue]]:
    from knhk_telemetry.model.values import attributes_by_row

    return attributes_by_row(batch.table("resource_attributes"), batch.resources.num_rows)


def _status_name(code: int | None) -> str:
    return {None: "STATUS_CODE_UNSET", 0: "STATUS_CODE_UNSET", 1: "STATUS_CODE_OK", 2: "STATUS_CODE_ERROR"}[code]


def test_cumulative_keeps_totals_and_start_time_across_flushes() -> None:
    clock = Clock()
    c, out = connector(clock=clock)
    c.consume_spans(spans_to_batch([span("a", MS), span("b", 2 * MS)]))
    clock.now = T0 + 15 * 10**9
    first = c.flush()
    c.consume_spans(spans_to_batch([span("a", 4 * MS)]))
    clock.now = T0 + 30 * 10**9
    second = c.flush()
    assert first is not None
    assert second is not None
    a1 = point(first, "traces.span.metrics.calls", **{"span.name": "a"})
    a2 = point(second, "traces.span.metrics.calls", **{"span.name": "a"})
    b2 = point(second, "traces.span.metrics.calls", **{"span.name": "b"})
    assert (a1.value, a2.value, b2.value) == (1, 2, 1)
    assert (a1.start_time_unix_nano, a1.time_unix_nano) == (T0, T0 + 15 * 10**9)
    assert (a2.start_time_unix_nano, a2.time_unix_nano) == (T0, T0 + 30 * 10**9)
    h2 = point(second, "traces.span.metrics.duration", **{"span.name": "a"})
    assert (h2.count, h2.sum, h2.min, h2.max) == (2, 5.0, 1.0, 4.0)
    assert len(out) == 2


def test_delta_reports_each_interval_and_forgets_idle_series() -> None:
    clock = Clock()
    c, _ = connector(clock=clock, aggregation_temporality="AGGREGATION_TEMPORALITY_DELTA")
    c.consume_spans(spans_to_batch([span("a", MS), span("b", 2 * MS)]))
    clock.now = T0 + 15 * 10**9
    first = c.flush()
    c.consume_spans(spans_to_batch([span("a", 4 * MS)]))
    clock.now = T0 + 30 * 10**9
    second = c.flush()
    assert first is not None
    assert second is not None
    a1 = point(first, "traces.span.metrics.calls", **{"span.name": "a"})
    assert (a1.value, a1.start_time_unix_nano, a1.time_unix_nano) == (1, T0, T0 + 15 * 10**9)
    assert [m.aggregation_temporality for m in batch_to_metrics(second)] == [AggregationTemporality.DELTA] * 2
    a2 = point(second, "traces.span.metrics.calls", **{"span.name": "a"})
    assert (a2.value, a2.start_time_unix_nano, a2.time_unix_nano) == (1, T0 + 15 * 10**9, T0 + 30 * 10**9)
    h2 = point(second, "traces.span.metrics.duration", **{"span.name": "a"})
    assert (h2.count, h2.sum, h2.positive.bucket_counts) == (1, 4.0, [1])
    assert not [p for m in batch_to_metrics(second) for p in m.points if p.attributes["span.name"] == "b"]
    assert c.flush() is None  # nothing new: nothing sent


def test_extra_dimensions_defaults_and_exclusions() -> None:
    c, _ = connector(
        dimensions=[
            {"name": "http.response.status_code"},  # typed: stays an int
            {"name": "deployment.environment"},  # from the resource when the span lacks it
            {"name": "region", "default": "unknown"},  # default when missing everywhere
            {"name": "absent"},  # no default: left out
        ],
        exclude_dimensions=["span.kind"],
    )
    c.consume_spans(
        spans_to_batch(
            [
                span("GET", MS, attributes={"http.response.status_code": 200, "deployment.environment": "canary"}),
                span("GET", MS, attributes={"http.response.status_code": 200}),
                span("GET", MS, attributes={"http.response.status_code": "200", "region": "eu"}),
                span("GET", MS, resource=CART),
            ]
        )
    )
    batch = c.flush()
    assert batch is not None
    calls = [(p.attributes, p.value) for m in metrics_named(batch, "traces.span.metrics.calls") for p in m.points]
    base = {"service.name": "checkout", "span.name": "GET", "status.code": "STATUS_CODE_UNSET"}
    assert calls == [
        ({**base, "http.response.status_code": 200, "deployment.environment": "canary", "region": "unknown"}, 1),
        ({**base, "http.response.status_code": 200, "deployment.environment": "prod", "region": "unknown"}, 1),
        ({**base, "http.response.status_code": "200", "deployment.environment": "prod", "region": "eu"}, 1),
        ({**base, "service.name": "cart", "region": "unknown"}, 1),
    ]


def test_overflow_series_beyond_the_cardinality_limit() -> None:
    c, _ = connector(aggregation_cardinality_limit=2)
    c.consume_spans(spans_to_batch([span(name, MS) for name in ("a", "b", "a", "c", "d", "c")]))
    c.consume_spans(spans_to_batch([span("b", 3 * MS), span("e", 2 * MS)]))
    batch = c.flush()
    assert batch is not None
    calls = [(p.attributes, p.value) for m in metrics_named(batch, "traces.span.metrics.calls") for p in m.points]
    assert [(a.get("span.name"), v) for a, v in calls] == [("a", 2), ("b", 2), (None, 4)]
    assert calls[2][0] == {"otel.metric.overflow": True}
    overflow = point(batch, "traces.span.metrics.duration", **{"otel.metric.overflow": True})
    assert (overflow.count, overflow.sum) == (4, 5.0)
    assert batch_to_metrics(batch)[-1].resource.attributes == {}
    samples = {(name, tuple(sorted(labels.items()))): v for name, _t, _h, labels, v in c.self_metrics()}
    assert samples[("knhk_telemetry_connector_overflow_items_total", (("connector", "spanmetrics"),))] == 4.0
    assert samples[("knhk_telemetry_connector_series", (("connector", "spanmetrics"),))] == 3.0


def test_spans_without_service_name_are_skipped_and_counted() -> None:
    c, _ = connector()
    c.consume_spans(spans_to_batch([span("a", MS, resource=Resource()), span("b", MS)]))
    batch = c.flush()
    assert batch is not None
    names = [p.attributes["span.name"] for m in metrics_named(batch, "traces.span.metrics.calls") for p in m.points]
    assert names == ["b"]
    assert c.spans_without_service == 1


def test_emitted_batch_round_trips_through_otlp_protobuf() -> None:
    c, _ = connector(dimensions=[{"name": "http.route"}, {"name": "http.request.method", "default": "GET"}])
    c.consume_spans(synthetic_spans(3000, seed=3))
    batch = c.flush()
    assert batch is not None
    decoded = decode_metrics(encode_metrics(batch))
    assert decoded.rejected.total == 0
    assert decoded.batch == batch


def test_namespace_unit_and_disabled_histogram() -> None:
    c, _ = connector(namespace="", histogram={"disable": True})
    c.consume_spans(spans_to_batch([span("a", MS)]))
    batch = c.flush()
    assert batch is not None
    assert [m.name for m in batch_to_metrics(batch)] == ["calls"]
    c2, _ = connector(namespace="span.metrics", histogram={"unit": "s"})
    c2.consume_spans(spans_to_batch([span("a", 500 * MS)]))
    batch2 = c2.flush()
    assert batch2 is not None
    metrics = batch_to_metrics(batch2)
    assert [(m.name, m.unit) for m in metrics] == [("span.metrics.calls", ""), ("span.metrics.duration", "s")]
    assert metrics[1].points[0].sum == 0.5


def test_timer_emits_and_shutdown_flushes_once() -> None:
    got = threading.Event()
    out: list[Batch] = []

    def consume(batch: Batch) -> None:
        out.append(batch)
        got.set()

    c = SpanMetricsConnector("spanmetrics", SpanMetricsConfig(metrics_flush_interval="10ms"), consume)
    c.start()
    c.consume_spans(spans_to_batch([span("a", MS)]))
    assert got.wait(30), "the flush timer never emitted"
    c.shutdown()
    c.shutdown()
    emitted = len(out)
    c.consume_spans(spans_to_batch([span("late", MS)]))
    assert len(out) == emitted
    assert c.spans_after_shutdown == 1
    last = out[-1]
    assert isinstance(last, MetricBatch)
    assert point(last, "traces.span.metrics.calls", **{"span.name": "a"}).value == 1


def test_shutdown_without_start_flushes_what_it_holds() -> None:
    c, out = connector()
    c.consume_spans(spans_to_batch([span("a", MS)]))
    c.shutdown()
    assert len(out) == 1


def test_a_refusing_consumer_is_counted_and_cumulative_totals_come_again() -> None:
    calls = 0

    def refuse_once(batch: Batch) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("downstream full")

    c = SpanMetricsConnector("spanmetrics", SpanMetricsConfig(), refuse_once, clock_ns=Clock())
    c.consume_spans(spans_to_batch([span("a", MS)]))
    assert c.flush() is None
    resent = c.flush()
    assert resent is not None
    assert point(resent, "traces.span.metrics.calls", **{"span.name": "a"}).value == 1
    assert (c.emit_failures, c.points_lost) == (1, 0)


def test_factory_and_config_validation() -> None:
    assert FACTORY.type == "spanmetrics"
    assert FACTORY.kind == "connector"
    assert FACTORY.signals() == ("traces",)
    cfg = SpanMetricsConfig(metrics_flush_interval="5s", dimensions=[{"name": "region", "default": "eu"}])
    assert cfg.metrics_flush_interval == 5.0
    assert cfg.dimensions[0].default == "eu"
    out: list[Batch] = []
    component = FACTORY.create("traces", CreateSettings("spanmetrics/red", "traces", out.append), cfg)
    assert isinstance(component, SpanMetricsConnector)
    component.shutdown()
    with pytest.raises(ConfigError, match="needs a metrics pipeline"):
        FACTORY.create("traces", CreateSettings("spanmetrics", "traces"), cfg)
    with pytest.raises(
        ConfigError, match=r"connectors\.x\.dimensions\[0\]\.name: duplicate dimension name 'span\.name'"
    ):
        SpanMetricsConfig(dimensions=[{"name": "span.name"}]).validate_config("connectors.x")
    with pytest.raises(ConfigError, match=r"exclude_dimensions\[0\]: 'http\.route' is not a default dimension"):
        SpanMetricsConfig(exclude_dimensions=["http.route"]).validate_config("connectors.x")
    with pytest.raises(ValueError, match="aggregation_temporality"):
        SpanMetricsConfig(aggregation_temporality="DELTA")


def test_batches_are_reduced_without_a_python_loop_per_span() -> None:
    # 20k spans, 4 series: the per-series loop runs 4 times, not 20k (counted via the clock,
    # which _series_ids reads once per batch)
    reads = 0

    def counting_clock() -> int:
        nonlocal reads
        reads += 1
        return T0

    out: list[Batch] = []
    c = SpanMetricsConnector("spanmetrics", SpanMetricsConfig(), out.append, clock_ns=counting_clock)
    before = reads
    c.consume_spans(synthetic_spans(20_000, services=2, seed=1, attributes_per_span=0))
    assert reads - before == 1
    assert c.spans_received == 20_000
    batch = c.flush()
    assert batch is not None
    assert sum(p.value for m in metrics_named(batch, "traces.span.metrics.calls") for p in m.points) == 20_000
