"""The reference protobuf codec: exact columns, lossless round trips, refusals, decode errors."""

from __future__ import annotations

import contextlib
import math
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Exemplar,
    ExponentialHistogramDataPoint,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Summary,
    SummaryDataPoint,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status, TracesData
from otlp_strategies import (
    LINKED,
    PARENT,
    SPAN,
    TRACE,
    example_request,
    requests,
    trace_requests,
    with_containers_present,
)

from knhk_telemetry.errors import DecodeError
from knhk_telemetry.model.batch import LogBatch, MetricBatch, SpanBatch
from knhk_telemetry.otlp import (
    decode,
    decode_logs,
    decode_metrics,
    decode_traces,
    encode,
    encode_traces,
    from_message,
    to_message,
    traces_from_message,
)

PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _value_row(row: int, key: str, vtype: int | None, column: str = "", cell: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"row": row, "key": key, "type": vtype}
    out.update({c: (cell if c == column else None) for c in ("str", "int", "double", "bool", "bytes")})
    return out


def assert_same(actual: Any, expected: Any) -> None:
    """Message equality that also holds with NaN: compare deterministic serializations."""
    assert actual.SerializeToString(deterministic=True) == expected.SerializeToString(deterministic=True), (
        f"\nactual:\n{actual}\nexpected:\n{expected}"
    )


# -- exact values -----------------------------------------------------------------------------


def test_example_span_decodes_to_exact_columns() -> None:
    decoded = decode_traces(example_request().SerializeToString())
    b = decoded.batch
    assert not decoded.rejected
    assert b.resources.to_pylist() == [
        {"schema_url": "https://opentelemetry.io/schemas/1.26.0", "dropped_attributes_count": 0, "entity_refs": []}
    ]
    assert b.table("resource_attributes").to_pylist() == [_value_row(0, "service.name", 1, "str", "users")]
    assert b.scopes.to_pylist() == [
        {"resource": 0, "name": "lib", "version": "1.0", "dropped_attributes_count": 0, "schema_url": ""}
    ]
    assert b.spans.to_pylist() == [
        {
            "scope": 0,
            "trace_id": TRACE,
            "span_id": SPAN,
            "trace_state": "vendor=1",
            "parent_span_id": PARENT,
            "flags": 257,
            "name": "GET /users",
            "kind": 2,
            "start_time_unix_nano": 1544712660000000000,
            "end_time_unix_nano": 1544712661000000000,
            "dropped_attributes_count": 1,
            "dropped_events_count": 2,
            "dropped_links_count": 3,
            "status_code": 2,
            "status_message": "boom",
        }
    ]
    assert b.table("span_attributes").to_pylist() == [
        _value_row(0, "http.status_code", 3, "int", 200),
        _value_row(0, "payload", 7, "bytes", b"\x00\x01"),
        _value_row(0, "tags", 5, "bytes", ArrayValue(values=[AnyValue(string_value="a")]).SerializeToString()),
        _value_row(0, "unset", None),
    ]
    assert b.table("events").to_pylist() == [
        {"span": 0, "time_unix_nano": 1544712660500000000, "name": "retry", "dropped_attributes_count": 0}
    ]
    assert b.table("event_attributes").to_pylist() == [_value_row(0, "attempt", 4, "double", 1.5)]
    assert b.table("links").to_pylist() == [
        {
            "span": 0,
            "trace_id": TRACE,
            "span_id": LINKED,
            "trace_state": "k=v",
            "dropped_attributes_count": 0,
            "flags": 256,
        }
    ]
    assert b.table("link_attributes").num_rows == 0
    assert b.table("scope_attributes").num_rows == 0
    assert encode_traces(b) == example_request().SerializeToString()


def test_root_span_without_status_has_null_parent_and_status() -> None:
    req = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[Span(trace_id=TRACE, span_id=SPAN)])])]
    )
    row = decode_traces(req.SerializeToString()).batch.spans.to_pylist()[0]
    assert (row["parent_span_id"], row["status_code"], row["status_message"]) == (None, None, None)
    empty_status = Span(trace_id=TRACE, span_id=SPAN, status=Status())
    req.resource_spans[0].scope_spans[0].spans.append(empty_status)
    rows = decode_traces(req.SerializeToString()).batch.spans.to_pylist()
    assert [(r["status_code"], r["status_message"]) for r in rows] == [(None, None), (0, "")]


def _metric_request() -> ExportMetricsServiceRequest:
    gauge = Metric(
        name="temp",
        unit="Cel",
        gauge=Gauge(
            data_points=[
                NumberDataPoint(
                    time_unix_nano=10,
                    as_int=-7,
                    exemplars=[Exemplar(time_unix_nano=9, as_double=2.5, span_id=SPAN, trace_id=TRACE), Exemplar()],
                ),
                NumberDataPoint(time_unix_nano=11),
            ]
        ),
        metadata=[KeyValue(key="m", value=AnyValue(bool_value=True))],
    )
    histogram = Metric(
        name="latency",
        histogram=Histogram(
            aggregation_temporality=1,
            data_points=[HistogramDataPoint(count=3, max=9.0, bucket_counts=[1, 2], explicit_bounds=[5.0])],
        ),
    )
    exponential = Metric(name="exp")
    exponential.exponential_histogram.aggregation_temporality = 2
    exponential.exponential_histogram.data_points.append(
        ExponentialHistogramDataPoint(
            count=4,
            sum=1.0,
            scale=-3,
            zero_count=1,
            zero_threshold=0.5,
            negative=ExponentialHistogramDataPoint.Buckets(),
        )
    )
    summary = Metric(
        name="rt",
        summary=Summary(
            data_points=[
                SummaryDataPoint(count=2, quantile_values=[SummaryDataPoint.ValueAtQuantile(quantile=0.5, value=3.0)])
            ]
        ),
    )
    no_data = Metric(name="nothing", description="no data field")
    return ExportMetricsServiceRequest(
        resource_metrics=[
            ResourceMetrics(
                resource=Resource(),
                scope_metrics=[
                    ScopeMetrics(
                        scope=InstrumentationScope(), metrics=[gauge, histogram, exponential, summary, no_data]
                    )
                ],
            )
        ]
    )


def test_metrics_decode_to_exact_columns() -> None:
    decoded = decode_metrics(_metric_request().SerializeToString())
    b = decoded.batch
    assert not decoded.rejected
    assert [(m["name"], m["type"], m["aggregation_temporality"], m["is_monotonic"]) for m in b.metrics.to_pylist()] == [
        ("temp", 5, None, None),
        ("latency", 9, 1, None),
        ("exp", 10, 2, None),
        ("rt", 11, None, None),
        ("nothing", 0, None, None),
    ]
    null_point = dict.fromkeys(b.points.column_names)
    expected = [
        {"metric": 0, "start_time_unix_nano": 0, "time_unix_nano": 10, "flags": 0, "value_kind": 6, "value_int": -7},
        {"metric": 0, "start_time_unix_nano": 0, "time_unix_nano": 11, "flags": 0, "value_kind": 0},
        {
            "metric": 1,
            "start_time_unix_nano": 0,
            "time_unix_nano": 0,
            "flags": 0,
            "count": 3,
            "max": 9.0,
            "bucket_counts": [1, 2],
            "explicit_bounds": [5.0],
        },
        {
            "metric": 2,
            "start_time_unix_nano": 0,
            "time_unix_nano": 0,
            "flags": 0,
            "count": 4,
            "sum": 1.0,
            "scale": -3,
            "zero_count": 1,
            "zero_threshold": 0.5,
            "negative_offset": 0,
            "negative_bucket_counts": [],
        },
        {
            "metric": 3,
            "start_time_unix_nano": 0,
            "time_unix_nano": 0,
            "flags": 0,
            "count": 2,
            "sum": 0.0,
            "quantile_values": [{"quantile": 0.5, "value": 3.0}],
        },
    ]
    assert b.points.to_pylist() == [null_point | row for row in expected]
    assert b.table("exemplars").to_pylist() == [
        {
            "point": 0,
            "time_unix_nano": 9,
            "value_kind": 4,
            "value_double": 2.5,
            "value_int": None,
            "span_id": SPAN,
            "trace_id": TRACE,
        },
        {
            "point": 0,
            "time_unix_nano": 0,
            "value_kind": 0,
            "value_double": None,
            "value_int": None,
            "span_id": None,
            "trace_id": None,
        },
    ]
    assert b.table("metric_metadata").to_pylist() == [_value_row(0, "m", 2, "bool", True)]
    assert_same(to_message(b), _metric_request())


def test_logs_decode_to_exact_columns() -> None:
    records = [
        LogRecord(
            time_unix_nano=5,
            observed_time_unix_nano=6,
            severity_number=17,
            severity_text="ERROR",
            body=AnyValue(string_value="disk full"),
            dropped_attributes_count=1,
            flags=1,
            trace_id=TRACE,
            span_id=SPAN,
            event_name="device.app.lifecycle",
        ),
        LogRecord(body=AnyValue()),
        LogRecord(),
    ]
    req = ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(resource=Resource(), scope_logs=[ScopeLogs(scope=InstrumentationScope(), log_records=records)])
        ]
    )
    b = decode_logs(req.SerializeToString()).batch
    rows = b.logs.to_pylist()
    assert rows[0] == {
        "scope": 0,
        "time_unix_nano": 5,
        "observed_time_unix_nano": 6,
        "severity_number": 17,
        "severity_text": "ERROR",
        "body_type": 1,
        "body_str": "disk full",
        "body_int": None,
        "body_double": None,
        "body_bool": None,
        "body_bytes": None,
        "dropped_attributes_count": 1,
        "flags": 1,
        "trace_id": TRACE,
        "span_id": SPAN,
        "event_name": "device.app.lifecycle",
    }
    assert [(r["body_type"], r["trace_id"], r["span_id"]) for r in rows[1:]] == [(0, None, None), (None, None, None)]
    assert_same(to_message(b), req)


# -- round trips ----------------------------------------------------------------------------------


@PROPERTY
@given(requests())
def test_decode_encode_is_lossless(case: tuple[str, Any]) -> None:
    signal, msg = case
    decoded = decode(signal, msg.SerializeToString())  # type: ignore[call-overload]
    assert not decoded.rejected
    assert_same(to_message(decoded.batch), msg)


@PROPERTY
@given(requests(allow_nan=False))
def test_round_trip_equals_as_messages_and_batches(case: tuple[str, Any]) -> None:
    signal, msg = case
    batch = from_message(signal, msg).batch  # type: ignore[call-overload]
    again = decode(signal, encode(batch)).batch  # type: ignore[call-overload]
    assert to_message(batch) == msg
    assert again == batch


@settings(PROPERTY, max_examples=50)
@given(requests(allow_nan=False), requests(allow_nan=False))
def test_concat_of_decoded_batches_encodes_both_requests(a: tuple[str, Any], b: tuple[str, Any]) -> None:
    signal, first = a
    second = type(first)()
    if b[0] == signal:
        second = b[1]
    batch_type = type(from_message(signal, first).batch)  # type: ignore[call-overload]
    joined = batch_type.concat([from_message(signal, first).batch, from_message(signal, second).batch])  # type: ignore[call-overload]
    expected = type(first)()
    expected.MergeFrom(first)
    expected.MergeFrom(second)  # repeated fields append: the second request's resources follow
    assert to_message(joined) == expected


def _kept_spans(msg: ExportTraceServiceRequest, keep: range) -> ExportTraceServiceRequest:
    """The request holding only spans at flat positions ``keep`` and the containers holding them."""
    out = ExportTraceServiceRequest()
    position = 0
    for rs in msg.resource_spans:
        new_rs = ResourceSpans(resource=rs.resource, schema_url=rs.schema_url)
        for ss in rs.scope_spans:
            new_ss = ScopeSpans(scope=ss.scope, schema_url=ss.schema_url)
            for span in ss.spans:
                if position in keep:
                    new_ss.spans.append(span)
                position += 1
            if new_ss.spans:
                new_rs.scope_spans.append(new_ss)
        if new_rs.scope_spans:
            out.resource_spans.append(new_rs)
    return out


@PROPERTY
@given(trace_requests(allow_nan=False), st.integers(0, 12), st.integers(0, 12))
def test_slice_of_decoded_batch_encodes_the_expected_spans(
    msg: ExportTraceServiceRequest, offset: int, length: int
) -> None:
    batch = traces_from_message(msg).batch
    part = batch.slice(offset, length)
    n = len(batch)
    start, stop = min(offset, n), min(n, offset + length)
    expected = msg if (start, stop) == (0, n) else _kept_spans(msg, range(start, stop))
    assert to_message(part) == expected
    assert len(part) == stop - start


def test_nan_doubles_survive_bit_for_bit() -> None:
    quiet_with_payload = struct.unpack("<d", struct.pack("<Q", 0xFFF8_0000_0000_0123))[0]
    req = ExportMetricsServiceRequest(
        resource_metrics=[
            ResourceMetrics(
                resource=Resource(attributes=[KeyValue(key="nan", value=AnyValue(double_value=math.nan))]),
                scope_metrics=[
                    ScopeMetrics(
                        scope=InstrumentationScope(),
                        metrics=[
                            Metric(gauge=Gauge(data_points=[NumberDataPoint(as_double=quiet_with_payload)])),
                            Metric(
                                histogram=Histogram(
                                    data_points=[
                                        HistogramDataPoint(sum=math.nan, explicit_bounds=[-math.inf, math.nan])
                                    ]
                                )
                            ),
                        ],
                    )
                ],
            )
        ]
    )
    batch = decode_metrics(req.SerializeToString()).batch
    assert math.isnan(batch.points.column("value_double")[0].as_py())
    assert encode(batch) == req.SerializeToString()


# -- presence subtleties -------------------------------------------------------------------------


def test_absent_resource_and_scope_decode_like_empty_ones() -> None:
    bare = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[Span(trace_id=TRACE, span_id=SPAN)])])]
    )
    assert not bare.resource_spans[0].HasField("resource")
    normalised = with_containers_present(bare)
    assert normalised.resource_spans[0].HasField("resource")
    assert decode_traces(bare.SerializeToString()).batch == decode_traces(normalised.SerializeToString()).batch
    assert to_message(decode_traces(bare.SerializeToString()).batch) == normalised


def test_empty_containers_survive() -> None:
    req = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(resource=Resource(), scope_spans=[ScopeSpans(scope=InstrumentationScope())]),
            ResourceSpans(resource=Resource()),
        ]
    )
    batch = decode_traces(req.SerializeToString()).batch
    assert (batch.resources.num_rows, batch.scopes.num_rows, len(batch)) == (2, 1, 0)
    assert to_message(batch) == req


def test_string_value_strindex_is_ignored_as_an_empty_value() -> None:
    req = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=[KeyValue(key="k", value=AnyValue(string_value_strindex=3))]),
            )
        ]
    )
    rows = decode_traces(req.SerializeToString()).batch.table("resource_attributes").to_pylist()
    assert rows == [_value_row(0, "k", 0)]


def test_traces_data_is_accepted_like_a_request() -> None:
    data = TracesData()
    data.ParseFromString(example_request().SerializeToString())
    assert traces_from_message(data).batch == decode_traces(example_request().SerializeToString()).batch


# -- refusals --------------------------------------------------------------------------------------


def _spans_request(*spans_per_scope: list[Span]) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(),
                scope_spans=[ScopeSpans(scope=InstrumentationScope(), spans=s) for s in spans_per_scope],
            )
        ]
    )


def test_spans_with_bad_ids_are_refused_and_counted() -> None:
    good = Span(trace_id=TRACE, span_id=SPAN, name="good", events=[Span.Event(name="e")])
    bad_link = Span(
        trace_id=TRACE,
        span_id=SPAN,
        links=[Span.Link(trace_id=TRACE, span_id=SPAN), Span.Link(trace_id=TRACE, span_id=b"1234567")],
    )
    req = _spans_request(
        [good],
        [
            good,
            Span(trace_id=b"12345", span_id=SPAN, events=[Span.Event(name="lost")]),
            Span(trace_id=TRACE, span_id=b""),
            Span(trace_id=TRACE, span_id=SPAN, parent_span_id=b"1234"),
            bad_link,
            Span(trace_id=bytes(16), span_id=bytes(8), name="zeros"),
        ],
    )
    decoded = decode_traces(req.SerializeToString())
    assert dict(decoded.rejected.counts) == {"invalid_trace_id": 1, "invalid_span_id": 2, "invalid_parent_span_id": 1}
    assert decoded.rejected.messages == [
        "resource_spans[0].scope_spans[1].spans[1]: trace_id has 5 bytes, expected 16",
        "resource_spans[0].scope_spans[1].spans[2]: span_id has 0 bytes, expected 8",
        "resource_spans[0].scope_spans[1].spans[3]: parent_span_id has 4 bytes, expected 8",
        "resource_spans[0].scope_spans[1].spans[4].links[1]: span_id has 7 bytes, expected 8",
    ]
    batch = decoded.batch
    assert batch.spans.column("name").to_pylist() == ["good", "good", "zeros"]
    assert batch.spans.column("scope").to_pylist() == [0, 1, 1]
    assert batch.table("events").to_pylist() == [
        {"span": 0, "time_unix_nano": 0, "name": "e", "dropped_attributes_count": 0},
        {"span": 1, "time_unix_nano": 0, "name": "e", "dropped_attributes_count": 0},
    ]
    assert batch.table("links").num_rows == 0


def test_log_records_and_exemplars_with_bad_ids_are_refused() -> None:
    logs = ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                scope_logs=[
                    ScopeLogs(
                        log_records=[
                            LogRecord(trace_id=b"abc"),
                            LogRecord(span_id=b"abc", trace_id=TRACE),
                            LogRecord(severity_text="kept"),
                        ]
                    )
                ]
            )
        ]
    )
    decoded = decode_logs(logs.SerializeToString())
    assert dict(decoded.rejected.counts) == {"invalid_trace_id": 1, "invalid_span_id": 1}
    assert decoded.rejected.messages == [
        "resource_logs[0].scope_logs[0].log_records[0]: trace_id has 3 bytes, expected 16",
        "resource_logs[0].scope_logs[0].log_records[1]: span_id has 3 bytes, expected 8",
    ]
    assert decoded.batch.logs.column("severity_text").to_pylist() == ["kept"]

    point = NumberDataPoint(as_int=1, exemplars=[Exemplar(span_id=b"x"), Exemplar(as_int=2), Exemplar(trace_id=SPAN)])
    metrics = ExportMetricsServiceRequest(
        resource_metrics=[
            ResourceMetrics(scope_metrics=[ScopeMetrics(metrics=[Metric(), Metric(gauge=Gauge(data_points=[point]))])])
        ]
    )
    decoded_m = decode_metrics(metrics.SerializeToString())
    assert dict(decoded_m.rejected.counts) == {"invalid_span_id": 1, "invalid_trace_id": 1}
    point_path = "resource_metrics[0].scope_metrics[0].metrics[1].gauge.data_points[0]"
    assert decoded_m.rejected.messages == [
        f"{point_path}.exemplars[0]: span_id has 1 bytes, expected 8",
        f"{point_path}.exemplars[2]: trace_id has 8 bytes, expected 16",
    ]
    assert len(decoded_m.batch) == 1
    assert decoded_m.batch.table("exemplars").column("value_int").to_pylist() == [2]


# -- errors --------------------------------------------------------------------------------------


def test_garbage_bytes_raise_decode_error() -> None:
    with pytest.raises(DecodeError, match=r"^ExportTraceServiceRequest: Error parsing message"):
        decode_traces(b"\xff\xff\xff\xff")


@pytest.mark.parametrize("cut", [1, 5, 20])
def test_truncated_message_raises_decode_error(cut: int) -> None:
    data = example_request().SerializeToString()
    with pytest.raises(DecodeError, match="ExportTraceServiceRequest"):
        decode_traces(data[:-cut])


def test_invalid_utf8_string_raises_decode_error() -> None:
    name = "\u00e9".encode()
    good = _spans_request([Span(trace_id=TRACE, span_id=SPAN, name="\u00e9")]).SerializeToString()
    bad = good.replace(name, b"\xff\xfe")
    assert bad != good
    with pytest.raises(DecodeError):
        decode_traces(bad)


def test_enum_outside_the_model_range_raises_decode_error() -> None:
    req = _spans_request([Span(trace_id=TRACE, span_id=SPAN, kind=300)])  # type: ignore[arg-type]
    with pytest.raises(DecodeError, match=r"^resource_spans\[0\]\.scope_spans\[0\]\.spans\[0\]\.kind: enum value 300"):
        decode_traces(req.SerializeToString())


def test_dispatchers() -> None:
    data = example_request().SerializeToString()
    assert decode("traces", data).batch == decode_traces(data).batch
    assert isinstance(decode("metrics", b"").batch, MetricBatch)
    assert isinstance(decode("logs", b"").batch, LogBatch)
    assert encode(decode_traces(data).batch) == data
    assert isinstance(from_message("traces", example_request()).batch, SpanBatch)
    with pytest.raises(ValueError, match="unknown signal 'profiles'"):
        decode("profiles", data)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="cannot encode"):
        encode(object())  # type: ignore[arg-type]


@settings(PROPERTY, max_examples=200)
@given(st.sampled_from(["traces", "metrics", "logs"]), st.binary(max_size=64))
def test_arbitrary_bytes_decode_or_raise_decode_error(signal: str, data: bytes) -> None:
    try:
        decoded = decode(signal, data)  # type: ignore[call-overload]
    except DecodeError:
        return
    assert_same(to_message(decoded.batch), to_message(decode(signal, encode(decoded.batch)).batch))  # type: ignore[call-overload]


@settings(PROPERTY, max_examples=100)
@given(requests(), st.data())
def test_corrupted_messages_decode_or_raise_decode_error(case: tuple[str, Any], data: st.DataObject) -> None:
    signal, msg = case
    wire = bytearray(msg.SerializeToString())
    if not wire:
        return
    at = data.draw(st.integers(0, len(wire) - 1))
    wire[at] = data.draw(st.integers(0, 255))
    with contextlib.suppress(DecodeError):
        decode(signal, bytes(wire))  # type: ignore[call-overload]
