"""Edge types (Span, Metric, LogEntry) and their conversion to and from columnar batches."""

from __future__ import annotations

import doctest
from typing import Any

import pytest

import knhk_telemetry.model.edge as edge_module
from knhk_telemetry.errors import ValidationError
from knhk_telemetry.model.batch import LogBatch, MetricBatch, SpanBatch
from knhk_telemetry.model.edge import (
    INVALID_ATTRIBUTE,
    INVALID_DATA_POINT,
    INVALID_FIELD,
    EntityRef,
    Exemplar,
    ExponentialBuckets,
    ExponentialHistogramDataPoint,
    HistogramDataPoint,
    InstrumentationScope,
    LogEntry,
    Metric,
    NumberDataPoint,
    Resource,
    Severity,
    Span,
    SpanEvent,
    SpanLink,
    SpanStatus,
    SummaryDataPoint,
    batch_to_logs,
    batch_to_metrics,
    batch_to_spans,
    logs_to_batch,
    metrics_to_batch,
    spans_to_batch,
)
from knhk_telemetry.model.rejections import (
    END_BEFORE_START,
    INVALID_PARENT_SPAN_ID,
    INVALID_SPAN_ID,
    INVALID_TRACE_ID,
    Rejections,
)
from knhk_telemetry.model.schema import (
    AggregationTemporality,
    MetricType,
    NumberKind,
    SpanKind,
    StatusCode,
    ValueType,
)

T1 = bytes(range(1, 17))
T2 = bytes(range(17, 33))
S1, S2, S3 = bytes(range(1, 9)), bytes(range(9, 17)), bytes(range(17, 25))

ALL_KINDS: dict[str, Any] = {
    "s": "text",
    "b": True,
    "i": -42,
    "f": 2.5,
    "y": b"\x00\xff",
    "n": None,
    "list": [1, "two", 3.0, False, None, [b"x", {"k": "v"}]],
    "dict": {"a": {"b": [1, 2]}, "c": b"\x01", "d": None},
}

SVC_A = Resource(
    {"service.name": "a", "host": {"ip": ["10.0.0.1"]}}, schema_url="https://opentelemetry.io/schemas/1.26.0"
)
SVC_B = Resource(
    {"service.name": "b"},
    dropped_attributes_count=2,
    entity_refs=(EntityRef(type="service", id_keys=("service.name",), description_keys=["host"], schema_url="u"),),
)
SCOPE_X = InstrumentationScope("lib.x", "1.0", {"tier": 1}, dropped_attributes_count=1, schema_url="sx")
SCOPE_Y = InstrumentationScope("lib.y")


def _rich_span(name: str, span_id: bytes, resource: Resource, scope: InstrumentationScope, **kw: Any) -> Span:
    return Span(
        T1,
        span_id,
        name,
        1_000,
        2_500,
        parent_span_id=kw.pop("parent_span_id", None),
        kind=SpanKind.SERVER,
        attributes=dict(ALL_KINDS),
        events=[
            SpanEvent("exception", 1_200, {"exception.type": "ValueError", "nested": [1, [2]]}, 3),
            SpanEvent("retry", 1_300),
        ],
        links=[
            SpanLink(
                T2, S3, trace_state="k=v", attributes={"link.kind": "follows"}, flags=1, dropped_attributes_count=4
            )
        ],
        status=SpanStatus.error("boom"),
        trace_state="vendor=1",
        flags=0x101,
        dropped_attributes_count=5,
        dropped_events_count=6,
        dropped_links_count=7,
        resource=resource,
        scope=scope,
        **kw,
    )


# -- spans -----------------------------------------------------------------------------------
def test_span_round_trip_keeps_every_field_and_groups_resources() -> None:
    a1 = _rich_span("a1", S1, SVC_A, SCOPE_X)
    b1 = _rich_span("b1", S2, SVC_B, SCOPE_Y, parent_span_id=S1)
    # an equal but distinct Resource object shares the row of SVC_A
    a2 = Span(
        T2, S3, "a2", 10, 10, resource=Resource(dict(SVC_A.attributes), schema_url=SVC_A.schema_url), scope=SCOPE_X
    )
    batch = spans_to_batch([a1, b1, a2])
    batch.check()

    assert batch.resources.num_rows == 2
    assert batch.resources.to_pylist() == [
        {"schema_url": "https://opentelemetry.io/schemas/1.26.0", "dropped_attributes_count": 0, "entity_refs": []},
        {
            "schema_url": "",
            "dropped_attributes_count": 2,
            "entity_refs": [
                {"schema_url": "u", "type": "service", "id_keys": ["service.name"], "description_keys": ["host"]}
            ],
        },
    ]
    assert batch.scopes.to_pylist() == [
        {"resource": 0, "name": "lib.x", "version": "1.0", "dropped_attributes_count": 1, "schema_url": "sx"},
        {"resource": 1, "name": "lib.y", "version": "", "dropped_attributes_count": 0, "schema_url": ""},
    ]
    spans = batch.spans
    # a2 moves next to a1 (same resource and scope), b1 comes after
    assert spans.column("name").to_pylist() == ["a1", "a2", "b1"]
    assert spans.column("scope").to_pylist() == [0, 0, 1]
    assert spans.column("parent_span_id").to_pylist() == [None, None, S1]
    assert spans.column("kind").to_pylist() == [2, 1, 2]
    assert spans.column("status_code").to_pylist() == [2, 0, 2]
    assert spans.column("status_message").to_pylist() == ["boom", "", "boom"]
    assert spans.column("flags").to_pylist() == [0x101, 0, 0x101]
    assert spans.column("dropped_links_count").to_pylist() == [7, 0, 7]
    assert batch.durations_ns().tolist() == [1_500, 0, 1_500]
    assert batch.table("events").column("span").to_pylist() == [0, 0, 2, 2]
    assert batch.table("events").column("name").to_pylist() == ["exception", "retry", "exception", "retry"]
    assert batch.table("event_attributes").column("row").to_pylist() == [0, 0, 2, 2]
    assert batch.table("links").column("span").to_pylist() == [0, 2]
    assert batch.table("link_attributes").column("row").to_pylist() == [0, 1]
    attrs = batch.table("span_attributes")
    assert attrs.column("row").to_pylist() == [0] * 8 + [2] * 8
    assert attrs.column("key").to_pylist()[:8] == ["s", "b", "i", "f", "y", "n", "list", "dict"]
    assert attrs.column("type").to_pylist()[:8] == [
        ValueType.STRING,
        ValueType.BOOL,
        ValueType.INT,
        ValueType.DOUBLE,
        ValueType.BYTES,
        ValueType.EMPTY,
        ValueType.ARRAY,
        ValueType.KVLIST,
    ]
    assert batch.table("resource_attributes").column("row").to_pylist() == [0, 0, 1]
    assert batch.table("scope_attributes").to_pylist()[0]["int"] == 1

    back = batch_to_spans(batch)
    assert back == [a1, a2, b1]
    assert back[0].attributes == ALL_KINDS
    assert back[0].resource is back[1].resource  # one object per resources row
    assert back[2].resource == SVC_B
    assert back[2].resource.entity_refs[0].description_keys == ("host",)


def test_scopes_group_under_their_resource_in_order_of_first_use() -> None:
    spans = [
        Span(T1, S1, "1", 0, 1, resource=SVC_A, scope=SCOPE_X),
        Span(T1, S2, "2", 0, 1, resource=SVC_B, scope=SCOPE_X),
        Span(T1, S3, "3", 0, 1, resource=SVC_A, scope=SCOPE_Y),
        Span(T2, S1, "4", 0, 1, resource=SVC_A, scope=SCOPE_X),
    ]
    batch = spans_to_batch(spans)
    assert batch.scopes.column("resource").to_pylist() == [0, 0, 1]
    assert batch.scopes.column("name").to_pylist() == ["lib.x", "lib.y", "lib.x"]
    assert batch.spans.column("name").to_pylist() == ["1", "4", "3", "2"]
    assert batch.spans.column("scope").to_pylist() == [0, 0, 1, 2]
    assert [s.name for s in batch_to_spans(batch)] == ["1", "4", "3", "2"]


def test_resources_compare_attribute_values_as_any_values() -> None:
    assert Resource({"a": 1, "b": [1, {"x": 2}]}) == Resource({"b": [1, {"x": 2}], "a": 1})
    assert hash(Resource({"a": 1, "b": [1]})) == hash(Resource({"b": [1], "a": 1}))
    assert Resource({"a": 1}) != Resource({"a": True})
    assert Resource({"a": 1}) != Resource({"a": 1.0})
    assert Resource({"a": [1, 2]}) != Resource({"a": [2, 1]})
    assert Resource({"a": 1}) != Resource({"a": 1}, schema_url="s")
    assert InstrumentationScope("x", attributes={"k": {"n": None}}) == InstrumentationScope(
        "x", attributes={"k": {"n": None}}
    )
    assert InstrumentationScope("x") != InstrumentationScope("x", "1")
    spans = [Span(T1, S1, str(i), 0, 1, resource=Resource({"a": v})) for i, v in enumerate([1, True, 1.0, 1])]
    batch = spans_to_batch(spans)
    assert batch.resources.num_rows == 3
    assert batch.table("resource_attributes").column("type").to_pylist() == [
        ValueType.INT,
        ValueType.BOOL,
        ValueType.DOUBLE,
    ]
    assert batch.spans.column("name").to_pylist() == ["0", "3", "1", "2"]


def test_hex_ids_are_accepted() -> None:
    span = Span(T1.hex(), S1.hex().upper(), "x", 0, 1, parent_span_id="", links=[SpanLink(T2.hex(), bytearray(S2))])
    assert span.trace_id == T1
    assert span.span_id == S1
    assert span.parent_span_id is None
    assert span.links[0].trace_id == T2
    assert span.links[0].span_id == S2
    assert Span(T1, S1, "x", 0, 1, parent_span_id=S2.hex()).parent_span_id == S2
    log = LogEntry(trace_id=T1.hex(), span_id="")
    assert (log.trace_id, log.span_id) == (T1, None)
    assert Exemplar(trace_id=T2.hex(), span_id=S3.hex()).span_id == S3


def test_bad_hex_is_refused_with_the_field_named() -> None:
    with pytest.raises(ValidationError, match=r"^span 'x': trace_id 'zz' is not hexadecimal$") as info:
        Span("zz", S1, "x", 0, 1)
    assert info.value.reason == INVALID_TRACE_ID
    with pytest.raises(
        ValidationError, match=r"^span 'x': parent_span_id must be 8 bytes or 16 hex digits, got int$"
    ) as info:
        Span(T1, S1, "x", 0, 1, parent_span_id=5)  # type: ignore[arg-type]
    assert info.value.reason == INVALID_PARENT_SPAN_ID


@pytest.mark.parametrize(
    ("changes", "reason", "message"),
    [
        ({"trace_id": b"\x01" * 5}, INVALID_TRACE_ID, "span 'GET /users': trace_id has 5 bytes, expected 16"),
        ({"trace_id": bytes(16)}, INVALID_TRACE_ID, "span 'GET /users': trace_id is all zeroes"),
        ({"span_id": b"\x01" * 9}, INVALID_SPAN_ID, "span 'GET /users': span_id has 9 bytes, expected 8"),
        ({"parent_span_id": bytes(8)}, INVALID_PARENT_SPAN_ID, "span 'GET /users': parent_span_id is all zeroes"),
        (
            {"parent_span_id": b"\x01"},
            INVALID_PARENT_SPAN_ID,
            "span 'GET /users': parent_span_id has 1 bytes, expected 8",
        ),
        (
            {"end_time_unix_nano": 99},
            END_BEFORE_START,
            "span 'GET /users': end_time_unix_nano 99 is before start_time_unix_nano 100",
        ),
        (
            {"links": [SpanLink(b"\x01" * 3, S2)]},
            INVALID_TRACE_ID,
            "span 'GET /users': links[0].trace_id has 3 bytes, expected 16",
        ),
        (
            {"start_time_unix_nano": -1},
            INVALID_FIELD,
            "span 'GET /users': start_time_unix_nano must be an integer in 0..18446744073709551615, got -1",
        ),
        (
            {"events": [SpanEvent("e", 1, dropped_attributes_count=2**32)]},
            INVALID_FIELD,
            "span 'GET /users': events[0].dropped_attributes_count must be an integer in 0..4294967295, got 4294967296",
        ),
        (
            {"attributes": {"big": 2**63}},
            INVALID_ATTRIBUTE,
            "span 'GET /users': attributes['big']: int 9223372036854775808 does not fit in int64",
        ),
        (
            {"attributes": {"l": [1, {"k": {1, 2}}]}},
            INVALID_ATTRIBUTE,
            "span 'GET /users': attributes['l']: [1]: ['k']: set is not an attribute value "
            "(str, bool, int, float, bytes, list, dict, None)",
        ),
        (
            {"events": [SpanEvent("e", 1, {"k": object()})]},
            INVALID_ATTRIBUTE,
            "span 'GET /users': events[0].attributes['k']: object is not an attribute value "
            "(str, bool, int, float, bytes, list, dict, None)",
        ),
        (
            {"resource": Resource({"service.name": b"ok", "bad": 2**70})},
            INVALID_ATTRIBUTE,
            "span 'GET /users': resource.attributes['bad']: int 1180591620717411303424 does not fit in int64",
        ),
        (
            {"scope": InstrumentationScope("s", dropped_attributes_count=-3)},
            INVALID_FIELD,
            "span 'GET /users': scope.dropped_attributes_count must be an integer in 0..4294967295, got -3",
        ),
    ],
)
def test_span_validation_names_field_and_value(changes: dict[str, Any], reason: str, message: str) -> None:
    fields: dict[str, Any] = {
        "trace_id": T1,
        "span_id": S1,
        "name": "GET /users",
        "start_time_unix_nano": 100,
        "end_time_unix_nano": 200,
    }
    fields.update(changes)
    span = Span(**fields)
    with pytest.raises(ValidationError) as info:
        span.validate()
    assert (info.value.reason, str(info.value)) == (reason, message)
    with pytest.raises(ValidationError) as info:
        spans_to_batch([span])
    assert (info.value.reason, str(info.value)) == (reason, message)


def test_span_kind_out_of_range_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"^span 'x': kind 9 is not a SpanKind \(0\.\.5\)$") as info:
        Span(T1, S1, "x", 0, 1, kind=9)  # type: ignore[arg-type]
    assert info.value.reason == INVALID_FIELD
    assert Span(T1, S1, "x", 0, 1, kind=3).kind is SpanKind.CLIENT  # type: ignore[arg-type]


def test_rejections_count_invalid_spans_and_skip_them() -> None:
    shared_bad = Resource({"bad": {1, 2}})
    spans = [
        Span(T1, S1, "ok1", 0, 1),
        Span(b"\x01", S1, "short", 0, 1),
        Span(T1, S2, "late", 5, 4),
        Span(T1, S3, "bad-res-1", 0, 1, resource=shared_bad),
        Span(T1, S3, "bad-res-2", 0, 1, resource=shared_bad),
        Span(T2, S2, "ok2", 0, 1),
    ]
    rejections = Rejections()
    batch = spans_to_batch(spans, rejections=rejections)
    batch.check()
    assert batch.spans.column("name").to_pylist() == ["ok1", "ok2"]
    assert batch.resources.num_rows == 1
    assert dict(rejections.counts) == {INVALID_TRACE_ID: 1, END_BEFORE_START: 1, INVALID_ATTRIBUTE: 2}
    assert rejections.messages == [
        "span 'short': trace_id has 1 bytes, expected 16",
        "span 'late': end_time_unix_nano 4 is before start_time_unix_nano 5",
        "span 'bad-res-1': resource.attributes['bad']: set is not an attribute value "
        "(str, bool, int, float, bytes, list, dict, None)",
        "span 'bad-res-2': resource.attributes['bad']: set is not an attribute value "
        "(str, bool, int, float, bytes, list, dict, None)",
    ]
    with pytest.raises(ValidationError, match=r"^span 'short': trace_id has 1 bytes, expected 16$"):
        spans_to_batch(spans)


def test_empty_input_gives_empty_batches() -> None:
    spans = spans_to_batch([])
    metrics = metrics_to_batch(iter([]))
    logs = logs_to_batch(())
    assert (len(spans), len(metrics), len(logs)) == (0, 0, 0)
    assert spans == SpanBatch.empty()
    assert metrics == MetricBatch.empty()
    assert logs == LogBatch.empty()
    assert (batch_to_spans(spans), batch_to_metrics(metrics), batch_to_logs(logs)) == ([], [], [])


def test_sliced_batch_converts_back_with_renumbered_parents() -> None:
    a1 = _rich_span("a1", S1, SVC_A, SCOPE_X)
    b1 = _rich_span("b1", S2, SVC_B, SCOPE_Y)
    batch = spans_to_batch([a1, b1])
    assert batch_to_spans(batch.slice(1, 1)) == [b1]
    assert batch_to_spans(batch.take([0])) == [a1]


def test_span_status_constructors() -> None:
    assert SpanStatus.ok() == SpanStatus(StatusCode.OK, "")
    assert SpanStatus.error() == SpanStatus(StatusCode.ERROR, "")
    assert SpanStatus.error("timeout").message == "timeout"
    assert SpanStatus.unset() == SpanStatus()
    assert SpanStatus(1).code is StatusCode.OK  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"^status code 7 is not a StatusCode \(0\.\.2\)$"):
        SpanStatus(7)  # type: ignore[arg-type]


def test_span_new_makes_ids_and_links_children_to_parents() -> None:
    root = Span.new("root", kind=SpanKind.SERVER, resource=SVC_A, start_time_unix_nano=100, end_time_unix_nano=900)
    root.flags = 0x301
    root.trace_state = "k=v"
    child = Span.new("child", parent=root, start_time_unix_nano=200, attributes={"a": 1})
    root.validate()
    child.validate()
    assert len(root.trace_id) == 16
    assert len(root.span_id) == 8
    assert root.is_root
    assert root.duration_ns == 800
    assert (child.trace_id, child.parent_span_id, child.trace_state, child.flags) == (
        root.trace_id,
        root.span_id,
        "k=v",
        1,
    )
    assert child.span_id != root.span_id
    assert child.resource is SVC_A
    assert child.kind is SpanKind.INTERNAL
    assert child.start_time_unix_nano == 200
    assert child.end_time_unix_nano >= 200
    now_span = Span.new("now")
    assert now_span.end_time_unix_nano >= now_span.start_time_unix_nano > 0
    assert Span.new("other").trace_id != now_span.trace_id


def test_span_docstring_example_runs() -> None:
    result = doctest.testmod(edge_module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted >= 8


# -- metrics ---------------------------------------------------------------------------------
def _all_metrics() -> list[Metric]:
    ex = Exemplar(time_unix_nano=7, value=3, filtered_attributes={"user": "u1"}, trace_id=T1, span_id=S1)
    return [
        Metric(
            "temperature",
            MetricType.GAUGE,
            [
                NumberDataPoint(value=21.5, attributes={"room": "a"}, time_unix_nano=10),
                NumberDataPoint(value=-3, attributes={"room": "b"}, time_unix_nano=10, flags=1),
                NumberDataPoint(value=None, time_unix_nano=11),
            ],
            unit="Cel",
            description="air",
            metadata={"origin": "sensor", "tags": ["x"]},
            resource=SVC_A,
            scope=SCOPE_X,
        ),
        Metric(
            "requests",
            MetricType.SUM,
            [NumberDataPoint(value=10, start_time_unix_nano=1, time_unix_nano=10, exemplars=[ex, Exemplar(value=0.5)])],
            unit="{request}",
            aggregation_temporality=AggregationTemporality.CUMULATIVE,
            is_monotonic=True,
            resource=SVC_B,
        ),
        Metric(
            "latency",
            MetricType.HISTOGRAM,
            [
                HistogramDataPoint(
                    count=4,
                    sum=12.5,
                    bucket_counts=[1, 2, 1],
                    explicit_bounds=[1.0, 5.0],
                    min=0.5,
                    max=7.0,
                    attributes={"route": "/"},
                    time_unix_nano=10,
                    exemplars=[ex],
                ),
                HistogramDataPoint(count=0, time_unix_nano=11),
            ],
            unit="ms",
            aggregation_temporality=AggregationTemporality.DELTA,
            resource=SVC_A,
            scope=SCOPE_X,
        ),
        Metric(
            "size",
            MetricType.EXPONENTIAL_HISTOGRAM,
            [
                ExponentialHistogramDataPoint(
                    count=6,
                    sum=40.0,
                    scale=3,
                    zero_count=1,
                    zero_threshold=0.001,
                    positive=(2, [1, 2, 0, 1]),  # type: ignore[arg-type]
                    negative=ExponentialBuckets(-1, [1]),
                    min=-0.5,
                    max=20.0,
                    time_unix_nano=12,
                    exemplars=[Exemplar(value=2)],
                ),
                ExponentialHistogramDataPoint(count=0, scale=-2, positive=ExponentialBuckets(0, [])),
            ],
            unit="By",
            aggregation_temporality=AggregationTemporality.CUMULATIVE,
            resource=SVC_A,
            scope=SCOPE_Y,
        ),
        Metric(
            "rpc.duration",
            MetricType.SUMMARY,
            [
                SummaryDataPoint(
                    count=3, sum=6.0, quantile_values=[(0.0, 1.0), (0.5, 2.0), (1.0, 3.0)], time_unix_nano=13
                )
            ],
            resource=SVC_B,
        ),
        Metric("declared", MetricType.EMPTY, resource=SVC_B),
    ]


def test_metric_round_trip_all_five_types() -> None:
    metrics = _all_metrics()
    batch = metrics_to_batch(metrics)
    batch.check()
    assert len(batch) == 9  # data points are the items
    assert batch.resources.num_rows == 2
    assert batch.scopes.column("resource").to_pylist() == [0, 0, 1]
    mt = batch.metrics
    assert mt.column("name").to_pylist() == ["temperature", "latency", "size", "requests", "rpc.duration", "declared"]
    assert mt.column("scope").to_pylist() == [0, 0, 1, 2, 2, 2]
    assert mt.column("type").to_pylist() == [5, 9, 10, 7, 11, 0]
    assert mt.column("aggregation_temporality").to_pylist() == [None, 1, 2, 2, None, None]
    assert mt.column("is_monotonic").to_pylist() == [None, None, None, True, None, None]
    pt = batch.points
    assert pt.column("metric").to_pylist() == [0, 0, 0, 1, 1, 2, 2, 3, 4]
    assert pt.column("value_kind").to_pylist() == [
        NumberKind.DOUBLE,
        NumberKind.INT,
        NumberKind.NONE,
        None,
        None,
        None,
        None,
        NumberKind.INT,
        None,
    ]
    assert pt.column("value_double").to_pylist()[:3] == [21.5, None, None]
    assert pt.column("value_int").to_pylist()[:3] == [None, -3, None]
    assert pt.column("count").to_pylist() == [None, None, None, 4, 0, 6, 0, None, 3]
    assert pt.column("sum").to_pylist() == [None, None, None, 12.5, None, 40.0, None, None, 6.0]
    assert pt.column("bucket_counts").to_pylist()[3:5] == [[1, 2, 1], []]
    assert pt.column("positive_offset").to_pylist()[5:7] == [2, 0]
    assert pt.column("negative_offset").to_pylist()[5:7] == [-1, None]
    assert pt.column("quantile_values").to_pylist()[8] == [
        {"quantile": 0.0, "value": 1.0},
        {"quantile": 0.5, "value": 2.0},
        {"quantile": 1.0, "value": 3.0},
    ]
    ex = batch.table("exemplars")
    assert ex.column("point").to_pylist() == [3, 5, 7, 7]
    assert ex.column("trace_id").to_pylist() == [T1, None, T1, None]
    assert batch.table("metric_metadata").column("row").to_pylist() == [0, 0]
    assert batch.table("exemplar_attributes").column("row").to_pylist() == [0, 2]

    back = batch_to_metrics(batch)
    by_name = {m.name: m for m in metrics}
    assert back == [by_name[n] for n in mt.column("name").to_pylist()]
    assert isinstance(back[2].points[0], ExponentialHistogramDataPoint)
    assert back[2].points[0].positive == ExponentialBuckets(2, [1, 2, 0, 1])


def test_metric_convenience_constructors() -> None:
    g = Metric.gauge("cpu", 0.75, attributes={"cpu": 0}, unit="1", time_unix_nano=5)
    assert g == Metric(
        "cpu", MetricType.GAUGE, [NumberDataPoint(value=0.75, attributes={"cpu": 0}, time_unix_nano=5)], unit="1"
    )
    c = Metric.counter("hits", 3, start_time_unix_nano=1, time_unix_nano=9, resource=SVC_A)
    assert (c.type, c.aggregation_temporality, c.is_monotonic) == (
        MetricType.SUM,
        AggregationTemporality.CUMULATIVE,
        True,
    )
    assert c.points == [NumberDataPoint(value=3, start_time_unix_nano=1, time_unix_nano=9)]
    assert c.resource is SVC_A
    h = Metric.histogram("lat", [0, 5, 7, 10, 11, 20000], explicit_bounds=[0, 5, 10], unit="ms", time_unix_nano=4)
    assert h.aggregation_temporality is AggregationTemporality.DELTA
    assert h.points == [
        HistogramDataPoint(
            count=6,
            sum=20033.0,
            bucket_counts=[1, 1, 2, 2],
            explicit_bounds=[0.0, 5.0, 10.0],
            min=0.0,
            max=20000.0,
            time_unix_nano=4,
        )
    ]
    empty = Metric.histogram("none", [], time_unix_nano=1)
    point = empty.points[0]
    assert isinstance(point, HistogramDataPoint)
    assert (point.count, point.min, point.max, len(point.bucket_counts)) == (0, None, None, 16)
    for m in (g, c, h, empty):
        m.validate()
    assert batch_to_metrics(metrics_to_batch([g, c, h])) == [g, h, c]  # c has another resource
    assert Metric.gauge("now", 1).points[0].time_unix_nano > 0
    with pytest.raises(ValueError, match=r"^histogram 'bad': explicit_bounds must be strictly increasing"):
        Metric.histogram("bad", [1], explicit_bounds=[1, 1])


@pytest.mark.parametrize(
    ("metric", "reason", "message"),
    [
        (
            Metric("m", MetricType.GAUGE, [HistogramDataPoint()]),
            INVALID_DATA_POINT,
            "metric 'm': points[0]: a HistogramDataPoint in a GAUGE metric (expects NumberDataPoint)",
        ),
        (
            Metric("m", MetricType.EMPTY, [NumberDataPoint()]),
            INVALID_DATA_POINT,
            "metric 'm': points[0]: a NumberDataPoint in a EMPTY metric (expects no points)",
        ),
        (
            Metric("m", MetricType.HISTOGRAM, [HistogramDataPoint(bucket_counts=[1, 2], explicit_bounds=[1.0, 2.0])]),
            INVALID_DATA_POINT,
            "metric 'm': points[0]: 2 bucket_counts for 2 explicit_bounds (expected 3)",
        ),
        (
            Metric("m", MetricType.SUMMARY, [SummaryDataPoint(quantile_values=[(1.5, 2.0)])]),
            INVALID_DATA_POINT,
            "metric 'm': points[0]: quantile 1.5 is outside 0..1",
        ),
        (
            Metric("m", MetricType.SUM, [NumberDataPoint(value=1), NumberDataPoint(value=2**64)]),
            INVALID_FIELD,
            "metric 'm': points[1]: value 18446744073709551616 does not fit in int64",
        ),
        (
            Metric("m", MetricType.SUM, [NumberDataPoint(exemplars=[Exemplar(trace_id=b"\x01" * 4)])]),
            INVALID_TRACE_ID,
            "metric 'm': points[0]: exemplars[0].trace_id has 4 bytes, expected 16",
        ),
        (
            Metric("m", MetricType.EXPONENTIAL_HISTOGRAM, [ExponentialHistogramDataPoint(zero_count=-1)]),
            INVALID_FIELD,
            "metric 'm': points[0]: zero_count must be an integer in 0..18446744073709551615, got -1",
        ),
        (
            Metric("m", MetricType.GAUGE, [NumberDataPoint(attributes={"k": 1j})]),  # type: ignore[dict-item]
            INVALID_ATTRIBUTE,
            "metric 'm': points[0]: attributes['k']: complex is not an attribute value "
            "(str, bool, int, float, bytes, list, dict, None)",
        ),
        (
            Metric("m", MetricType.GAUGE, metadata={"k": 2**64}),
            INVALID_ATTRIBUTE,
            "metric 'm': metadata['k']: int 18446744073709551616 does not fit in int64",
        ),
    ],
)
def test_metric_validation(metric: Metric, reason: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        metric.validate()
    assert (info.value.reason, str(info.value)) == (reason, message)
    with pytest.raises(ValidationError) as info:
        metrics_to_batch([metric])
    assert (info.value.reason, str(info.value)) == (reason, message)


def test_metric_rejections_skip_points_not_metrics() -> None:
    good = NumberDataPoint(value=1, time_unix_nano=1)
    mixed = Metric("mixed", MetricType.GAUGE, [good, HistogramDataPoint(), NumberDataPoint(value=2, time_unix_nano=2)])
    bad_meta = Metric("meta", MetricType.GAUGE, [good, good], metadata={"x": object()})  # type: ignore[dict-item]
    rejections = Rejections()
    batch = metrics_to_batch([mixed, bad_meta], rejections=rejections)
    batch.check()
    assert dict(rejections.counts) == {INVALID_DATA_POINT: 1, INVALID_ATTRIBUTE: 2}
    assert (
        rejections.messages[0]
        == "metric 'mixed': points[1]: a HistogramDataPoint in a GAUGE metric (expects NumberDataPoint)"
    )
    assert batch.metrics.column("name").to_pylist() == ["mixed"]
    assert batch.points.column("value_int").to_pylist() == [1, 2]
    assert len(mixed.points) == 3  # the caller's object is not changed
    (back,) = batch_to_metrics(batch)
    assert back.points == [good, NumberDataPoint(value=2, time_unix_nano=2)]


def test_metric_type_is_checked_on_construction() -> None:
    assert Metric("m", 7).type is MetricType.SUM  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"^metric 'm': type 3 is not a MetricType$"):
        Metric("m", 3)  # type: ignore[arg-type]


# -- logs ------------------------------------------------------------------------------------
def _logs() -> list[LogEntry]:
    return [
        LogEntry(
            time_unix_nano=5,
            observed_time_unix_nano=6,
            severity_number=Severity.ERROR,
            severity_text="ERROR",
            body="disk full",
            attributes=dict(ALL_KINDS),
            trace_id=T1,
            span_id=S1,
            flags=1,
            event_name="disk.alert",
            dropped_attributes_count=2,
            resource=SVC_A,
            scope=SCOPE_X,
        ),
        LogEntry(time_unix_nano=7, body={"msg": "structured", "n": [1, 2]}, resource=SVC_B),
        LogEntry(time_unix_nano=8, body=[b"raw", None], resource=SVC_A, scope=SCOPE_X),
        LogEntry(time_unix_nano=9, body=b"\x00", severity_number=Severity.INFO, resource=SVC_A),
        LogEntry(time_unix_nano=10, body=12, resource=SVC_A),
        LogEntry(time_unix_nano=11, resource=SVC_A),
    ]


def test_log_round_trip() -> None:
    logs = _logs()
    batch = logs_to_batch(logs)
    batch.check()
    assert batch.resources.num_rows == 2
    lt = batch.logs
    assert lt.column("time_unix_nano").to_pylist() == [5, 8, 9, 10, 11, 7]
    assert lt.column("scope").to_pylist() == [0, 0, 1, 1, 1, 2]
    assert lt.column("body_type").to_pylist() == [
        ValueType.STRING,
        ValueType.ARRAY,
        ValueType.BYTES,
        ValueType.INT,
        None,
        ValueType.KVLIST,
    ]
    assert lt.column("body_str").to_pylist() == ["disk full", None, None, None, None, None]
    assert lt.column("body_int").to_pylist() == [None, None, None, 12, None, None]
    assert lt.column("body_bytes").to_pylist()[2] == b"\x00"
    assert lt.column("severity_number").to_pylist() == [17, 0, 9, 0, 0, 0]
    assert lt.column("trace_id").to_pylist() == [T1, None, None, None, None, None]
    assert lt.column("event_name").to_pylist() == ["disk.alert", "", "", "", "", ""]
    assert batch.table("log_attributes").column("row").to_pylist() == [0] * 8
    back = batch_to_logs(batch)
    assert back == [logs[0], logs[2], logs[3], logs[4], logs[5], logs[1]]
    assert back[5].body == {"msg": "structured", "n": [1, 2]}


@pytest.mark.parametrize(
    ("changes", "reason", "message"),
    [
        (
            {"trace_id": b"\x01" * 3},
            INVALID_TRACE_ID,
            "log record at time_unix_nano=5: trace_id has 3 bytes, expected 16",
        ),
        ({"span_id": bytes(8)}, INVALID_SPAN_ID, "log record at time_unix_nano=5: span_id is all zeroes"),
        (
            {"severity_number": 25},
            INVALID_FIELD,
            "log record at time_unix_nano=5: severity_number must be an integer in 0..24, got 25",
        ),
        (
            {"body": {"k": {1}}},
            INVALID_ATTRIBUTE,
            "log record at time_unix_nano=5: body: ['k']: set is not an attribute value "
            "(str, bool, int, float, bytes, list, dict, None)",
        ),
        (
            {"attributes": {1: "x"}},
            INVALID_ATTRIBUTE,
            "log record at time_unix_nano=5: attributes key 1 is not a str",
        ),
    ],
)
def test_log_validation(changes: dict[str, Any], reason: str, message: str) -> None:
    entry = LogEntry(time_unix_nano=5, **changes)
    with pytest.raises(ValidationError) as info:
        entry.validate()
    assert (info.value.reason, str(info.value)) == (reason, message)
    rejections = Rejections()
    batch = logs_to_batch([LogEntry(time_unix_nano=1, body="ok"), entry], rejections=rejections)
    assert len(batch) == 1
    assert (dict(rejections.counts), rejections.messages) == ({reason: 1}, [message])
    with pytest.raises(ValidationError) as info:
        logs_to_batch([entry])
    assert str(info.value) == message


def test_severity_numbers() -> None:
    assert [int(s) for s in Severity] == [1, 5, 9, 13, 17, 21]
    LogEntry(severity_number=24).validate()
    LogEntry(severity_number=Severity.FATAL).validate()
