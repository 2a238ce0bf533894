"""``fast.decode_metrics`` against the reference: same batches, refusals and errors.

Written as the acceptance harness for the compiled metrics kernel: every presence rule of the
metrics model (optional sum/min/max, absent exponential-histogram buckets, value kinds,
columns that do not apply, exemplar ids) is exercised on the wire in canonical and
rewritten forms, and corrupt input must fail with the reference's exact ``DecodeError``.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from fast_wire_mutations import rewrite, tag, varint
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AGGREGATION_TEMPORALITY_CUMULATIVE,
    AGGREGATION_TEMPORALITY_DELTA,
    Exemplar,
    ExponentialHistogramDataPoint,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
    Summary,
    SummaryDataPoint,
)
from otlp_strategies import metric_requests

from knhk_telemetry.errors import DecodeError
from knhk_telemetry.model.rejections import INVALID_SPAN_ID, INVALID_TRACE_ID, Decoded
from knhk_telemetry.otlp import fast, proto
from knhk_telemetry.otlp.fast import _batch, _metrics
from knhk_telemetry.otlp.fast._schema import SCHEMA

MANY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOME = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN = bytes.fromhex("eee19b7ec3c1b174")


def outcome(data: bytes, decoder: Any) -> tuple[str, Any]:
    try:
        return "ok", decoder(data)
    except DecodeError as exc:
        return "error", str(exc)


def assert_same(data: bytes) -> Decoded[Any] | None:
    """Fast and reference agree: equal batches (and schemas) and refusals, or the same error."""
    kind_f, fast_out = outcome(data, fast.decode_metrics)
    kind_r, ref_out = outcome(data, proto.decode_metrics)
    assert kind_f == kind_r, f"fast: {fast_out!r}\nreference: {ref_out!r}"
    if kind_f == "error":
        assert fast_out == ref_out
        return None
    assert fast_out.batch == ref_out.batch
    for name, table in fast_out.batch.tables.items():
        assert table.schema == ref_out.batch.table(name).schema, name
    assert fast_out.rejected.counts == ref_out.rejected.counts
    assert fast_out.rejected.messages == ref_out.rejected.messages
    result: Decoded[Any] = fast_out
    return result


def _kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def mixed_request() -> ExportMetricsServiceRequest:
    """One metric of every type, with the optional fields both present and absent."""
    gauge = Metric(
        name="temp",
        unit="C",
        metadata=[_kv("m", "1")],
        gauge=Gauge(
            data_points=[
                NumberDataPoint(
                    time_unix_nano=5,
                    as_double=1.5,
                    attributes=[_kv("room", "a")],
                    exemplars=[Exemplar(time_unix_nano=4, as_int=3, trace_id=TRACE, span_id=SPAN)],
                ),
                NumberDataPoint(time_unix_nano=6),  # no value at all
            ]
        ),
    )
    total = Metric(
        name="requests",
        sum=Sum(
            aggregation_temporality=AGGREGATION_TEMPORALITY_CUMULATIVE,
            is_monotonic=True,
            data_points=[NumberDataPoint(as_int=-7, flags=1)],
        ),
    )
    hist = Metric(
        name="latency",
        histogram=Histogram(
            aggregation_temporality=AGGREGATION_TEMPORALITY_DELTA,
            data_points=[
                HistogramDataPoint(count=3, sum=2.5, bucket_counts=[1, 2, 0], explicit_bounds=[0.5, 1.0]),
                HistogramDataPoint(count=0, min=1.0),
            ],
        ),
    )
    point = ExponentialHistogramDataPoint(count=4, scale=-2, zero_count=1, zero_threshold=0.25, max=9.0)
    point.positive.CopyFrom(ExponentialHistogramDataPoint.Buckets(offset=-3, bucket_counts=[1, 2]))
    expo = Metric(name="sizes")
    expo.exponential_histogram.aggregation_temporality = AGGREGATION_TEMPORALITY_CUMULATIVE
    expo.exponential_histogram.data_points.append(point)
    summary = Metric(
        name="rtt",
        summary=Summary(
            data_points=[
                SummaryDataPoint(
                    count=2,
                    sum=3.0,
                    quantile_values=[SummaryDataPoint.ValueAtQuantile(quantile=0.5, value=1.0)],
                )
            ]
        ),
    )
    return ExportMetricsServiceRequest(
        resource_metrics=[
            ResourceMetrics(
                scope_metrics=[ScopeMetrics(metrics=[gauge, total, hist, expo, summary, Metric(name="empty")])]
            )
        ]
    )


def test_mixed_request_matches_reference_and_keeps_presence() -> None:
    decoded = assert_same(mixed_request().SerializeToString())
    assert decoded is not None
    batch = decoded.batch
    assert batch.table("metrics").column("name").to_pylist() == [
        "temp",
        "requests",
        "latency",
        "sizes",
        "rtt",
        "empty",
    ]
    assert batch.table("metrics").column("is_monotonic").to_pylist() == [None, True, None, None, None, None]
    points = batch.table("points")
    assert points.column("value_double").to_pylist()[:3] == [1.5, None, None]
    assert points.column("value_int").to_pylist()[:3] == [None, None, -7]
    assert points.column("sum").to_pylist()[3:7] == [2.5, None, None, 3.0]
    assert points.column("min").to_pylist()[3:6] == [None, 1.0, None]
    assert points.column("bucket_counts").to_pylist()[3:5] == [[1, 2, 0], []]
    assert points.column("explicit_bounds").to_pylist()[3] == [0.5, 1.0]
    assert points.column("positive_offset").to_pylist()[5] == -3
    assert points.column("negative_offset").to_pylist()[5] is None
    assert points.column("negative_bucket_counts").to_pylist()[5] is None
    assert batch.table("exemplars").column("trace_id").to_pylist() == [TRACE]


@MANY
@given(metric_requests(allow_nan=False))
def test_random_metric_requests_match_reference(msg: ExportMetricsServiceRequest) -> None:
    assert_same(msg.SerializeToString())


@SOME
@given(metric_requests(allow_nan=False), st.integers(0, 2**32))
def test_rewritten_metric_requests_match_reference(msg: ExportMetricsServiceRequest, seed: int) -> None:
    """Unknown fields, shuffled order, unpacked bucket_counts/explicit_bounds, split submessages."""
    assert_same(rewrite(msg.SerializeToString(), msg.DESCRIPTOR, random.Random(seed)))


def test_unpacked_buckets_and_bounds_decode_like_packed() -> None:
    point = HistogramDataPoint(count=3, bucket_counts=[1, 2], explicit_bounds=[0.5])
    packed = point.SerializeToString()
    unpacked = (
        tag(4, 1)
        + (3).to_bytes(8, "little")
        + tag(6, 1)
        + (1).to_bytes(8, "little")
        + tag(6, 1)
        + (2).to_bytes(8, "little")
        + tag(7, 1)
        + packed[-8:]
    )
    assert HistogramDataPoint.FromString(unpacked) == point

    def request(raw: bytes) -> bytes:
        data_points = tag(1, 2) + varint(len(raw)) + raw
        histogram = tag(9, 2) + varint(len(data_points)) + data_points
        metrics = tag(2, 2) + varint(len(histogram)) + histogram
        scope = tag(2, 2) + varint(len(metrics)) + metrics
        return tag(1, 2) + varint(len(scope)) + scope

    by_packed = assert_same(request(packed))
    by_unpacked = assert_same(request(unpacked))
    assert by_packed is not None
    assert by_unpacked is not None
    assert by_packed.batch == by_unpacked.batch
    assert by_unpacked.batch.table("points").column("bucket_counts").to_pylist() == [[1, 2]]


def test_exemplars_with_wrong_length_ids_are_refused_like_the_reference() -> None:
    point = NumberDataPoint(
        as_double=1.0,
        exemplars=[
            Exemplar(as_double=1.0, trace_id=TRACE[:15]),
            Exemplar(as_int=2, span_id=SPAN + b"\0"),
            Exemplar(as_int=3),  # no ids: kept, ids null
            Exemplar(as_int=4, trace_id=TRACE, span_id=SPAN),
        ],
    )
    msg = ExportMetricsServiceRequest(
        resource_metrics=[
            ResourceMetrics(scope_metrics=[ScopeMetrics(metrics=[Metric(name="g", gauge=Gauge(data_points=[point]))])])
        ]
    )
    decoded = assert_same(msg.SerializeToString())
    assert decoded is not None
    assert decoded.rejected.counts == {INVALID_TRACE_ID: 1, INVALID_SPAN_ID: 1}
    exemplars = decoded.batch.table("exemplars")
    assert exemplars.column("value_int").to_pylist() == [3, 4]
    assert exemplars.column("trace_id").to_pylist() == [None, TRACE]
    assert exemplars.column("span_id").to_pylist() == [None, SPAN]


def test_every_truncation_of_a_metric_request_fails_like_the_reference() -> None:
    data = mixed_request().SerializeToString()
    for end in range(len(data)):
        assert_same(data[:end])


@SOME
@given(metric_requests(allow_nan=False), st.data())
def test_corrupted_metric_requests_fail_exactly_when_the_reference_does(
    msg: ExportMetricsServiceRequest, data: st.DataObject
) -> None:
    raw = bytearray(msg.SerializeToString())
    if raw:
        for _ in range(data.draw(st.integers(1, 3))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    assert_same(bytes(raw))


@pytest.mark.parametrize("seed", range(8))
def test_random_flips_of_the_mixed_request_match_reference(seed: int) -> None:
    rng = random.Random(seed)
    base = mixed_request().SerializeToString()
    for _ in range(50):
        raw = bytearray(base)
        for _ in range(rng.randrange(1, 4)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        assert_same(bytes(raw))


@SOME
@given(metric_requests(allow_nan=False), st.integers(0, 2**32))
def test_the_kernel_itself_accepts_valid_requests(msg: ExportMetricsServiceRequest, seed: int) -> None:
    """Valid input must not reach the reference fallback (which would hide kernel bugs above)."""
    for data in (msg.SerializeToString(), rewrite(msg.SerializeToString(), msg.DESCRIPTOR, random.Random(seed))):
        out = _metrics.decode_metrics_kernel(
            _batch.as_array(data), SCHEMA.kind, SCHEMA.wire, SCHEMA.child, _batch.METRIC_TIDS, _batch.POINT_TIDS
        )
        assert out[0]


def test_aggregation_temporality_out_of_range_raises_like_the_reference() -> None:
    metric = Metric(name="s", sum=Sum(data_points=[NumberDataPoint(as_int=1)]))
    metric.sum.aggregation_temporality = 300  # type: ignore[assignment]
    msg = ExportMetricsServiceRequest(
        resource_metrics=[ResourceMetrics(scope_metrics=[ScopeMetrics(metrics=[Metric(name="ok"), metric])])]
    )
    assert assert_same(msg.SerializeToString()) is None
    with pytest.raises(DecodeError) as info:
        fast.decode_metrics(msg.SerializeToString())
    assert str(info.value) == (
        "resource_metrics[0].scope_metrics[0].metrics[1].sum.aggregation_temporality: "
        "enum value 300 is outside the range the model stores (-128..127)"
    )


def test_data_oneof_switches_keep_the_last_member_like_the_reference() -> None:
    gauge = Metric(gauge=Gauge(data_points=[NumberDataPoint(as_int=1)])).SerializeToString()
    total = Metric(sum=Sum(is_monotonic=True, data_points=[NumberDataPoint(as_int=2)])).SerializeToString()
    name = Metric(name="m").SerializeToString()
    cases = ((gauge + total + gauge, 1), (total + gauge + gauge, 2), (gauge + name + total + total, 2))
    for metric, n_points in cases:
        scope = tag(2, 2) + varint(len(metric)) + metric
        rm = tag(2, 2) + varint(len(scope)) + scope
        decoded = assert_same(tag(1, 2) + varint(len(rm)) + rm)
        assert decoded is not None
        assert decoded.batch.table("points").num_rows == n_points
