"""The compiled metrics encoder writes exactly the bytes of the reference encoder."""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Exemplar,
    ExponentialHistogramDataPoint,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    SummaryDataPoint,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from otlp_strategies import metric_requests, with_containers_present

from knhk_telemetry.model import edge
from knhk_telemetry.model.batch import MetricBatch
from knhk_telemetry.otlp import fastenc, proto

SPAN = bytes.fromhex("eee19b7ec3c1b174")
TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")
#: a NaN with payload bits, to see the bits copied as they are
ODD_NAN = struct.unpack("<d", bytes.fromhex("0100000000fcff7f"))[0]


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    fastenc.warmup()


def _same(batch: MetricBatch) -> bytes:
    """Assert fast == reference for ``batch`` and return the bytes."""
    expected = proto.encode_metrics(batch)
    assert fastenc.encode_metrics(batch) == expected
    assert fastenc.encode(batch) == expected
    return expected


def _batch(msg: ExportMetricsServiceRequest) -> MetricBatch:
    decoded = proto.decode_metrics(msg.SerializeToString())
    assert not decoded.rejected
    return decoded.batch


def _set(batch: MetricBatch, table: str, column: str, values: pa.Array) -> MetricBatch:
    t = batch.table(table)
    return batch.with_table(table, t.set_column(t.schema.get_field_index(column), column, values))


# -- random requests --------------------------------------------------------------------


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(metric_requests())
def test_random_requests_match_reference(msg: ExportMetricsServiceRequest) -> None:
    """Both encoders agree, and (with resource and scope present) reproduce the request."""
    batch = _batch(msg)
    assert _same(batch) == with_containers_present(msg).SerializeToString()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(metric_requests(), metric_requests())
def test_concat_slice_filter_of_random_batches(a: ExportMetricsServiceRequest, b: ExportMetricsServiceRequest) -> None:
    """Chunked columns (lists and dictionaries per chunk), sliced list columns with Arrow
    offsets and taken rows all encode as the reference does."""
    x = proto.decode_metrics(a.SerializeToString()).batch
    y = proto.decode_metrics(b.SerializeToString()).batch
    both = MetricBatch.concat([x, y], combine=False)
    _same(both)
    n = len(both)
    for start in range(0, n, 3):
        _same(both.slice(start, 3))
    _same(both.filter(np.arange(n) % 2 == 1))
    _same(MetricBatch.concat([y, x], combine=True))


# -- every field, by hand ---------------------------------------------------------------


def _attrs(**kv: Any) -> list[KeyValue]:
    out = []
    for k, v in kv.items():
        if v is None:
            out.append(KeyValue(key=k))
        elif isinstance(v, str):
            out.append(KeyValue(key=k, value=AnyValue(string_value=v)))
        elif isinstance(v, float):
            out.append(KeyValue(key=k, value=AnyValue(double_value=v)))
        else:
            out.append(KeyValue(key=k, value=AnyValue(int_value=v)))
    return out


def every_field_request() -> ExportMetricsServiceRequest:
    """All five metric types with edge values: NaN and -0.0 doubles, present-but-zero optional
    doubles, absent vs present-empty exponential buckets, int/double/unset number values and
    exemplars with and without ids."""
    ex_full = Exemplar(
        time_unix_nano=7, as_double=-0.0, span_id=SPAN, trace_id=TRACE, filtered_attributes=_attrs(user="u")
    )
    ex_int = Exemplar(as_int=-(2**63), filtered_attributes=_attrs(n=None))
    ex_none = Exemplar(time_unix_nano=2**64 - 1)
    gauge = Metric(name="g", description="a gauge", unit="1", metadata=_attrs(origin="x", weight=0.5))
    gauge.gauge.data_points.extend(
        [
            NumberDataPoint(as_double=0.0, time_unix_nano=1, exemplars=[ex_full, ex_none], attributes=_attrs(a="b")),
            NumberDataPoint(as_int=-1, start_time_unix_nano=3, flags=1),
            NumberDataPoint(as_double=ODD_NAN, flags=2**32 - 1, exemplars=[ex_int]),
            NumberDataPoint(),
        ]
    )
    total = Metric(name="s", unit="By")
    total.sum.aggregation_temporality = 2
    total.sum.is_monotonic = True
    total.sum.data_points.extend([NumberDataPoint(as_int=2**63 - 1), NumberDataPoint(as_double=-math.inf)])
    falling = Metric(name="s2")
    falling.sum.aggregation_temporality = 1
    falling.sum.SetInParent()
    hist = Metric(name="h", unit="ms")
    hist.histogram.aggregation_temporality = 1
    hist.histogram.data_points.extend(
        [
            HistogramDataPoint(
                count=3,
                sum=-0.0,
                min=0.0,
                max=math.nan,
                bucket_counts=[0, 2**64 - 1, 1],
                explicit_bounds=[-0.0, 5.5],
                exemplars=[ex_full],
                attributes=_attrs(route="/a", code=200),
                flags=1,
            ),
            HistogramDataPoint(time_unix_nano=9),
            HistogramDataPoint(bucket_counts=[4], sum=1.5),
        ]
    )
    expo = Metric(name="e")
    expo.exponential_histogram.aggregation_temporality = 2
    p1 = ExponentialHistogramDataPoint(
        count=10, sum=2.5, scale=-3, zero_count=1, zero_threshold=-0.0, min=-1.0, max=0.0, exemplars=[ex_int]
    )
    p1.positive.offset = -2
    p1.positive.bucket_counts.extend([1, 0, 300, 2**64 - 1])
    p1.negative.SetInParent()  # present but empty
    p2 = ExponentialHistogramDataPoint(scale=2**31 - 1, zero_threshold=1e-9, attributes=_attrs(k=1))
    p2.negative.offset = 2**31 - 1
    p3 = ExponentialHistogramDataPoint(scale=-(2**31))
    p3.positive.offset = -(2**31)
    p3.positive.bucket_counts.append(0)
    expo.exponential_histogram.data_points.extend([p1, p2, p3])
    summary = Metric(name="q", description="quantiles")
    summary.summary.data_points.extend(
        [
            SummaryDataPoint(
                count=5,
                sum=-0.0,
                quantile_values=[
                    SummaryDataPoint.ValueAtQuantile(quantile=0.0, value=0.0),
                    SummaryDataPoint.ValueAtQuantile(quantile=0.5, value=ODD_NAN),
                    SummaryDataPoint.ValueAtQuantile(quantile=1.0, value=-0.0),
                ],
                attributes=_attrs(x="y"),
                flags=3,
            ),
            SummaryDataPoint(sum=math.nan),
        ]
    )
    empty = Metric(name="none", metadata=_attrs(k="v"))
    no_points = Metric(name="")
    no_points.summary.SetInParent()
    return ExportMetricsServiceRequest(
        resource_metrics=[
            ResourceMetrics(
                resource=Resource(attributes=_attrs(**{"service.name": "svc"}), dropped_attributes_count=1),
                schema_url="https://opentelemetry.io/schemas/1.26.0",
                scope_metrics=[
                    ScopeMetrics(
                        scope=InstrumentationScope(name="lib", version="1.0", attributes=_attrs(s=1)),
                        metrics=[gauge, total, falling, hist],
                        schema_url="s",
                    ),
                    ScopeMetrics(scope=InstrumentationScope(), metrics=[expo, summary, empty, no_points]),
                ],
            ),
            ResourceMetrics(resource=Resource(), scope_metrics=[ScopeMetrics(scope=InstrumentationScope())]),
        ]
    )


def test_every_field_is_reproduced_exactly() -> None:
    msg = every_field_request()
    batch = _batch(msg)
    assert len(batch) == 14
    assert _same(batch) == msg.SerializeToString()


def test_every_field_through_slices_chunks_and_filters() -> None:
    batch = _batch(every_field_request())
    n = len(batch)
    for size in (1, 2, 5):
        parts = batch.split(size)
        for part in parts:
            _same(part)
        _same(MetricBatch.concat(parts, combine=False))
        _same(MetricBatch.concat(parts[::-1], combine=False))
    _same(batch.filter(np.arange(n) % 3 == 0))
    _same(batch.take([0, 7, 13]))


def test_other_list_layouts_encode_alike() -> None:
    """Large lists and list views (what other Arrow producers may hand over) read as lists."""
    msg = every_field_request()
    batch = _batch(msg)
    points = batch.points
    for name in ("bucket_counts", "explicit_bounds", "positive_bucket_counts", "negative_bucket_counts"):
        column = points.column(name)
        points = points.set_column(
            points.schema.get_field_index(name), name, column.cast(pa.large_list(column.type.value_type))
        )
    quantiles = points.column("quantile_values")
    points = points.set_column(
        points.schema.get_field_index("quantile_values"),
        "quantile_values",
        quantiles.cast(pa.large_list(quantiles.type.value_type)),
    )
    odd = MetricBatch({**batch.tables, "points": points}, check=False)
    assert fastenc.encode_metrics(odd) == msg.SerializeToString()


def test_negative_enums_are_ten_byte_varints() -> None:
    """Open proto3 enums: a negative temporality is sign-extended to 64 bits, as protobuf does."""
    batch = _batch(every_field_request())
    temporality = pa.array([-1, -128, 1, 1, 127, None, None, None], pa.int8())
    _same(_set(batch, "metrics", "aggregation_temporality", temporality))


def test_null_cells_encode_as_the_reference_defaults() -> None:
    """Nulls where the decoder never puts them (e.g. a null count or value of a set kind)."""
    batch = _batch(every_field_request())
    n = len(batch)
    for column in ("count", "value_double", "value_int", "zero_threshold", "scale", "flags", "start_time_unix_nano"):
        _same(_set(batch, "points", column, pa.nulls(n, batch.points.schema.field(column).type)))
    for column in ("is_monotonic", "type", "name", "unit"):
        metrics = batch.metrics
        _same(_set(batch, "metrics", column, pa.nulls(len(metrics), metrics.schema.field(column).type)))
    # every metric a summary: histogram and number points lose their exemplars and lists
    as_summaries = _set(batch, "metrics", "type", pa.array([11] * len(batch.metrics), pa.int8()))
    data = _same(as_summaries)
    request = ExportMetricsServiceRequest.FromString(data)
    gauge_points = request.resource_metrics[0].scope_metrics[0].metrics[0].summary.data_points
    assert [p.flags for p in gauge_points] == [0, 1, 2**32 - 1, 0]
    ex = batch.table("exemplars")
    _same(_set(batch, "exemplars", "value_double", pa.nulls(len(ex), pa.float64())))
    _same(_set(batch, "exemplars", "span_id", pa.nulls(len(ex), pa.binary(8))))


# -- realistic batches from the edge API ---------------------------------------------------


def sdk_like_metrics(n_services: int = 3) -> list[edge.Metric]:
    """What an SDK exports: counters, gauges and histograms with a few attribute sets each."""
    out: list[edge.Metric] = []
    for s in range(n_services):
        resource = edge.Resource({"service.name": f"svc-{s}", "host.name": "h1"})
        scope = edge.InstrumentationScope("io.opentelemetry.http", "1.2.0")
        for route in ("/a", "/b"):
            attributes = {"http.route": route, "http.request.method": "GET", "http.response.status_code": 200}
            out.append(
                edge.Metric.counter("http.requests", 10 + s, attributes=attributes, resource=resource, scope=scope)
            )
            out.append(
                edge.Metric.histogram(
                    "http.server.request.duration",
                    [0.5, 3.0, 12.0, 700.0, float(s)],
                    attributes=attributes,
                    unit="ms",
                    time_unix_nano=1_700_000_000_000_000_000,
                    resource=resource,
                    scope=scope,
                )
            )
        out.append(edge.Metric.gauge("process.cpu.utilization", 0.25 * s, resource=resource, scope=scope))
        out.append(
            edge.Metric(
                "queue.latency",
                edge.MetricType.EXPONENTIAL_HISTOGRAM,
                [
                    edge.ExponentialHistogramDataPoint(
                        count=6, sum=3.5, scale=3, zero_count=1, positive=(4, [1, 2, 0, 2]), negative=None
                    )
                ],
                aggregation_temporality=edge.AggregationTemporality.DELTA,
                resource=resource,
                scope=scope,
            )
        )
        out.append(
            edge.Metric(
                "rpc.duration",
                edge.MetricType.SUMMARY,
                [edge.SummaryDataPoint(count=3, sum=6.0, quantile_values=[(0.5, 2.0), (0.99, 3.0)])],
                resource=resource,
                scope=scope,
            )
        )
    return out


def test_edge_metrics_match_reference() -> None:
    batch = edge.metrics_to_batch(sdk_like_metrics())
    assert len(batch) == 21
    data = _same(batch)
    request = ExportMetricsServiceRequest.FromString(data)
    assert [m.name for m in request.resource_metrics[0].scope_metrics[0].metrics] == [
        "http.requests",
        "http.server.request.duration",
        "http.requests",
        "http.server.request.duration",
        "process.cpu.utilization",
        "queue.latency",
        "rpc.duration",
    ]
    hist = request.resource_metrics[0].scope_metrics[0].metrics[1].histogram.data_points[0]
    assert list(hist.bucket_counts) == [1, 2, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    assert list(hist.explicit_bounds) == list(edge.DEFAULT_HISTOGRAM_BOUNDS)
    expo = request.resource_metrics[0].scope_metrics[0].metrics[5].exponential_histogram.data_points[0]
    assert (expo.positive.offset, list(expo.positive.bucket_counts), expo.HasField("negative")) == (
        4,
        [1, 2, 0, 2],
        False,
    )
    _same(MetricBatch.concat(batch.split(4), combine=False))


def test_empty_metric_batch() -> None:
    assert fastenc.encode_metrics(MetricBatch.empty()) == b""


# -- errors --------------------------------------------------------------------------------


def test_unknown_metric_type_is_refused_like_the_reference() -> None:
    batch = _batch(every_field_request())
    types = pa.array([5, 3, 7, 9, 10, 11, 0, 11], pa.int8())
    bad = _set(batch, "metrics", "type", types)
    with pytest.raises(ValueError, match=r"^metrics row 1: unknown metric type 3$"):
        proto.encode_metrics(bad)
    with pytest.raises(ValueError, match=r"^metrics row 1: unknown metric type 3$"):
        fastenc.encode_metrics(bad)


def test_unknown_value_type_in_exemplar_attributes_names_the_row() -> None:
    batch = _batch(every_field_request())
    n = len(batch.table("exemplar_attributes"))
    types = pa.array([1] * (n - 1) + [42], pa.int8())
    bad = _set(batch, "exemplar_attributes", "type", types)
    with pytest.raises(ValueError, match=rf"^exemplar_attributes row {n - 1}: unknown value type 42$"):
        fastenc.encode_metrics(bad)


def test_unsorted_points_are_refused() -> None:
    batch = _batch(every_field_request())
    metric = np.asarray(batch.points.column("metric").to_numpy())[::-1].copy()
    bad = MetricBatch({**batch.tables, "points": batch.points.set_column(0, "metric", pa.array(metric))}, check=False)
    with pytest.raises(ValueError, match=r"^points\.metric row 2 is out of order or points outside metrics"):
        fastenc.encode_metrics(bad)


# -- one compiled signature --------------------------------------------------------------


def test_every_metric_batch_shape_uses_the_one_compiled_signature() -> None:
    from knhk_telemetry.otlp.fastenc import _metrics

    batch = _batch(every_field_request())
    gauges_only = edge.metrics_to_batch([edge.Metric.gauge("g", 1.0)])  # all list columns null
    shapes = [
        batch,
        batch.slice(3, 6),
        MetricBatch.concat(batch.split(5), combine=False),
        MetricBatch.empty(),
        gauges_only,
        gauges_only.slice(0, 0),
    ]
    for shape in shapes:
        _same(shape)
    kernels: tuple[Any, ...] = (_metrics.check, _metrics.sizes, _metrics.write)
    for kernel in kernels:
        assert len(kernel.signatures) == 1, kernel.py_func.__qualname__
