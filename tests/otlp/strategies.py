"""Hypothesis strategies for valid OTLP ``Export*ServiceRequest`` messages, every field covered.

Importable from any test as ``otlp_strategies`` once ``tests/otlp/conftest.py`` has run, or
by path (see that conftest). "Valid" means what the codecs keep: 16-byte trace ids, 8-byte
span ids (empty where OTLP allows it), ``resource`` and ``scope`` always present. Each
strategy takes ``allow_nan``: NaN makes ``==`` on messages false, so equality tests compare
deterministic serializations or draw with ``allow_nan=False``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    EntityRef,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
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
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

T = TypeVar("T")

UINT32 = st.integers(0, 2**32 - 1)
UINT64 = st.integers(0, 2**64 - 1)
INT64 = st.integers(-(2**63), 2**63 - 1)
SINT32 = st.integers(-(2**31), 2**31 - 1)
#: strings protobuf accepts (valid UTF-8: no lone surrogates), "" and non-ASCII included
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=6)
TRACE_IDS = st.binary(min_size=16, max_size=16)
SPAN_IDS = st.binary(min_size=8, max_size=8)
OPTIONAL_TRACE_IDS = st.just(b"") | TRACE_IDS
OPTIONAL_SPAN_IDS = st.just(b"") | SPAN_IDS
SMALL = 3  # list sizes: enough to hit empty, one and several


def doubles(*, allow_nan: bool = True) -> st.SearchStrategy[float]:
    return st.floats(allow_nan=allow_nan, allow_infinity=True)


def _lists(elements: st.SearchStrategy[T], max_size: int = SMALL) -> st.SearchStrategy[list[T]]:
    return st.lists(elements, max_size=max_size)


def key_value(key: str, value: AnyValue | None) -> KeyValue:
    """A KeyValue; ``value`` None leaves the value field absent."""
    kv = KeyValue(key=key)
    if value is not None:
        kv.value.CopyFrom(value)
    return kv


def any_values(*, allow_nan: bool = True, max_leaves: int = 5) -> st.SearchStrategy[AnyValue]:
    """Every AnyValue kind: empty, string, bool, int, double, bytes and nested arrays/kvlists."""
    scalars = st.one_of(
        st.just(AnyValue()),
        TEXT.map(lambda s: AnyValue(string_value=s)),
        st.booleans().map(lambda b: AnyValue(bool_value=b)),
        INT64.map(lambda i: AnyValue(int_value=i)),
        doubles(allow_nan=allow_nan).map(lambda d: AnyValue(double_value=d)),
        st.binary(max_size=6).map(lambda b: AnyValue(bytes_value=b)),
    )

    def nest(children: st.SearchStrategy[AnyValue]) -> st.SearchStrategy[AnyValue]:
        arrays = _lists(children).map(lambda vs: AnyValue(array_value=ArrayValue(values=vs)))
        kvlists = _lists(st.tuples(TEXT, st.none() | children)).map(
            lambda kvs: AnyValue(kvlist_value=KeyValueList(values=[key_value(k, v) for k, v in kvs]))
        )
        return arrays | kvlists

    return st.recursive(scalars, nest, max_leaves=max_leaves)


def attributes(*, allow_nan: bool = True) -> st.SearchStrategy[list[KeyValue]]:
    """KeyValue lists, including values that are absent (no ``value`` field)."""
    pairs = st.tuples(TEXT, st.none() | any_values(allow_nan=allow_nan))
    return _lists(pairs).map(lambda kvs: [key_value(k, v) for k, v in kvs])


def resources(*, allow_nan: bool = True) -> st.SearchStrategy[Resource]:
    refs = st.builds(EntityRef, schema_url=TEXT, type=TEXT, id_keys=_lists(TEXT, 2), description_keys=_lists(TEXT, 2))
    return st.builds(
        Resource,
        attributes=attributes(allow_nan=allow_nan),
        dropped_attributes_count=UINT32,
        entity_refs=_lists(refs, 2),
    )


def scopes(*, allow_nan: bool = True) -> st.SearchStrategy[InstrumentationScope]:
    return st.builds(
        InstrumentationScope,
        name=TEXT,
        version=TEXT,
        attributes=attributes(allow_nan=allow_nan),
        dropped_attributes_count=UINT32,
    )


def _set_oneof(msg: Any, choice: tuple[str, Any] | None) -> Any:
    if choice is not None:
        setattr(msg, choice[0], choice[1])
    return msg


def _number_value(*, allow_nan: bool) -> st.SearchStrategy[tuple[str, Any] | None]:
    return st.one_of(
        st.none(),
        st.tuples(st.just("as_double"), doubles(allow_nan=allow_nan)),
        st.tuples(st.just("as_int"), INT64),
    )


# -- traces -------------------------------------------------------------------------------


@st.composite
def spans(draw: st.DrawFn, *, allow_nan: bool = True) -> Span:
    attrs = attributes(allow_nan=allow_nan)
    span = Span(
        trace_id=draw(TRACE_IDS),
        span_id=draw(SPAN_IDS),
        trace_state=draw(TEXT),
        parent_span_id=draw(OPTIONAL_SPAN_IDS),
        flags=draw(UINT32),
        name=draw(TEXT),
        kind=draw(st.integers(0, 5)),
        start_time_unix_nano=draw(UINT64),
        end_time_unix_nano=draw(UINT64),
        attributes=draw(attrs),
        dropped_attributes_count=draw(UINT32),
        events=draw(
            _lists(
                st.builds(
                    Span.Event, time_unix_nano=UINT64, name=TEXT, attributes=attrs, dropped_attributes_count=UINT32
                ),
                2,
            )
        ),
        dropped_events_count=draw(UINT32),
        links=draw(
            _lists(
                st.builds(
                    Span.Link,
                    trace_id=TRACE_IDS,
                    span_id=SPAN_IDS,
                    trace_state=TEXT,
                    attributes=attrs,
                    dropped_attributes_count=UINT32,
                    flags=UINT32,
                ),
                2,
            )
        ),
        dropped_links_count=draw(UINT32),
    )
    status = draw(st.none() | st.builds(Status, code=st.integers(0, 2), message=TEXT))
    if status is not None:
        span.status.CopyFrom(status)  # present even when empty
    return span


def trace_requests(*, allow_nan: bool = True) -> st.SearchStrategy[ExportTraceServiceRequest]:
    scope_spans = st.builds(
        ScopeSpans, scope=scopes(allow_nan=allow_nan), spans=_lists(spans(allow_nan=allow_nan)), schema_url=TEXT
    )
    resource_spans = st.builds(
        ResourceSpans, resource=resources(allow_nan=allow_nan), scope_spans=_lists(scope_spans, 2), schema_url=TEXT
    )
    return st.builds(ExportTraceServiceRequest, resource_spans=_lists(resource_spans, 2))


# -- metrics ------------------------------------------------------------------------------


def exemplars(*, allow_nan: bool = True) -> st.SearchStrategy[Exemplar]:
    base = st.builds(
        Exemplar,
        filtered_attributes=attributes(allow_nan=allow_nan),
        time_unix_nano=UINT64,
        span_id=OPTIONAL_SPAN_IDS,
        trace_id=OPTIONAL_TRACE_IDS,
    )
    return st.tuples(base, _number_value(allow_nan=allow_nan)).map(lambda t: _set_oneof(*t))


def _point_common(allow_nan: bool) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "attributes": attributes(allow_nan=allow_nan),
        "start_time_unix_nano": UINT64,
        "time_unix_nano": UINT64,
        "flags": UINT32,
    }


def number_points(*, allow_nan: bool = True) -> st.SearchStrategy[NumberDataPoint]:
    base = st.builds(NumberDataPoint, exemplars=_lists(exemplars(allow_nan=allow_nan), 2), **_point_common(allow_nan))
    return st.tuples(base, _number_value(allow_nan=allow_nan)).map(lambda t: _set_oneof(*t))


def _optional_fields(msg: T, values: dict[str, float | None]) -> T:
    for name, value in values.items():
        if value is not None:
            setattr(msg, name, value)
    return msg


def _optionals(names: tuple[str, ...], allow_nan: bool) -> st.SearchStrategy[dict[str, float | None]]:
    return st.fixed_dictionaries({n: st.none() | doubles(allow_nan=allow_nan) for n in names})


def histogram_points(*, allow_nan: bool = True) -> st.SearchStrategy[HistogramDataPoint]:
    base = st.builds(
        HistogramDataPoint,
        count=UINT64,
        bucket_counts=_lists(UINT64, 4),
        explicit_bounds=_lists(doubles(allow_nan=allow_nan), 3),
        exemplars=_lists(exemplars(allow_nan=allow_nan), 2),
        **_point_common(allow_nan),
    )
    return st.tuples(base, _optionals(("sum", "min", "max"), allow_nan)).map(lambda t: _optional_fields(*t))


def _buckets() -> st.SearchStrategy[ExponentialHistogramDataPoint.Buckets | None]:
    return st.none() | st.builds(ExponentialHistogramDataPoint.Buckets, offset=SINT32, bucket_counts=_lists(UINT64, 4))


@st.composite
def exponential_histogram_points(draw: st.DrawFn, *, allow_nan: bool = True) -> ExponentialHistogramDataPoint:
    point = draw(
        st.builds(
            ExponentialHistogramDataPoint,
            count=UINT64,
            scale=SINT32,
            zero_count=UINT64,
            zero_threshold=doubles(allow_nan=allow_nan),
            exemplars=_lists(exemplars(allow_nan=allow_nan), 2),
            **_point_common(allow_nan),
        )
    )
    _optional_fields(point, draw(_optionals(("sum", "min", "max"), allow_nan)))
    for side in ("positive", "negative"):
        buckets = draw(_buckets())
        if buckets is not None:
            getattr(point, side).CopyFrom(buckets)  # present even when empty
    return point


def summary_points(*, allow_nan: bool = True) -> st.SearchStrategy[SummaryDataPoint]:
    quantiles = st.builds(
        SummaryDataPoint.ValueAtQuantile, quantile=doubles(allow_nan=allow_nan), value=doubles(allow_nan=allow_nan)
    )
    return st.builds(
        SummaryDataPoint,
        count=UINT64,
        sum=doubles(allow_nan=allow_nan),
        quantile_values=_lists(quantiles),
        **_point_common(allow_nan),
    )


@st.composite
def metrics(draw: st.DrawFn, *, allow_nan: bool = True) -> Metric:
    """A Metric of any of the five types, or with no data field at all."""
    metric = Metric(
        name=draw(TEXT), description=draw(TEXT), unit=draw(TEXT), metadata=draw(attributes(allow_nan=allow_nan))
    )
    kind = draw(st.sampled_from(["none", "gauge", "sum", "histogram", "exponential_histogram", "summary"]))
    if kind == "none":
        return metric
    data = getattr(metric, kind)
    data.SetInParent()  # present even without points
    points: dict[str, Callable[..., st.SearchStrategy[Any]]] = {
        "gauge": number_points,
        "sum": number_points,
        "histogram": histogram_points,
        "exponential_histogram": exponential_histogram_points,
        "summary": summary_points,
    }
    data.data_points.extend(draw(_lists(points[kind](allow_nan=allow_nan))))
    if kind in ("sum", "histogram", "exponential_histogram"):
        data.aggregation_temporality = draw(st.integers(0, 2))
    if kind == "sum":
        data.is_monotonic = draw(st.booleans())
    return metric


def metric_requests(*, allow_nan: bool = True) -> st.SearchStrategy[ExportMetricsServiceRequest]:
    scope_metrics = st.builds(
        ScopeMetrics, scope=scopes(allow_nan=allow_nan), metrics=_lists(metrics(allow_nan=allow_nan)), schema_url=TEXT
    )
    resource_metrics = st.builds(
        ResourceMetrics,
        resource=resources(allow_nan=allow_nan),
        scope_metrics=_lists(scope_metrics, 2),
        schema_url=TEXT,
    )
    return st.builds(ExportMetricsServiceRequest, resource_metrics=_lists(resource_metrics, 2))


# -- logs ---------------------------------------------------------------------------------


@st.composite
def log_records(draw: st.DrawFn, *, allow_nan: bool = True) -> LogRecord:
    record = LogRecord(
        time_unix_nano=draw(UINT64),
        observed_time_unix_nano=draw(UINT64),
        severity_number=draw(st.integers(0, 24)),
        severity_text=draw(TEXT),
        attributes=draw(attributes(allow_nan=allow_nan)),
        dropped_attributes_count=draw(UINT32),
        flags=draw(UINT32),
        trace_id=draw(OPTIONAL_TRACE_IDS),
        span_id=draw(OPTIONAL_SPAN_IDS),
        event_name=draw(TEXT),
    )
    body = draw(st.none() | any_values(allow_nan=allow_nan))
    if body is not None:
        record.body.CopyFrom(body)  # an empty AnyValue body stays present
    return record


def log_requests(*, allow_nan: bool = True) -> st.SearchStrategy[ExportLogsServiceRequest]:
    scope_logs = st.builds(
        ScopeLogs,
        scope=scopes(allow_nan=allow_nan),
        log_records=_lists(log_records(allow_nan=allow_nan)),
        schema_url=TEXT,
    )
    resource_logs = st.builds(
        ResourceLogs, resource=resources(allow_nan=allow_nan), scope_logs=_lists(scope_logs, 2), schema_url=TEXT
    )
    return st.builds(ExportLogsServiceRequest, resource_logs=_lists(resource_logs, 2))


#: the request strategy of each signal
REQUESTS: dict[str, Callable[..., st.SearchStrategy[Any]]] = {
    "traces": trace_requests,
    "metrics": metric_requests,
    "logs": log_requests,
}


def requests(*, allow_nan: bool = True) -> st.SearchStrategy[tuple[str, Any]]:
    """``(signal, request)`` for any of the three signals."""
    return st.sampled_from(sorted(REQUESTS)).flatmap(
        lambda signal: REQUESTS[signal](allow_nan=allow_nan).map(lambda msg: (signal, msg))
    )


def with_containers_present(msg: Any) -> Any:
    """A copy of a request whose every ``resource`` and ``scope`` submessage is present.

    The codecs decode an absent resource/scope like an empty one and always encode both, so
    this is the one normalisation a round trip needs."""
    out = type(msg)()
    out.CopyFrom(msg)
    for name in ("resource_spans", "resource_metrics", "resource_logs"):
        if not out.DESCRIPTOR.fields_by_name.get(name):
            continue
        for resource in getattr(out, name):
            resource.resource.SetInParent()
            scope_field = next(f.name for f in resource.DESCRIPTOR.fields if f.name.startswith("scope_"))
            for scope in getattr(resource, scope_field):
                scope.scope.SetInParent()
    return out


# -- a hand-written example with a value in every span field -----------------------------

TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN = bytes.fromhex("eee19b7ec3c1b174")
PARENT = bytes.fromhex("eee19b7ec3c1b173")
LINKED = bytes.fromhex("00f067aa0ba902b7")


def example_request() -> ExportTraceServiceRequest:
    """One span with a value in every span field; its exact columns and JSON are in the tests."""
    span = Span(
        trace_id=TRACE,
        span_id=SPAN,
        parent_span_id=PARENT,
        trace_state="vendor=1",
        flags=257,
        name="GET /users",
        kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=1544712660000000000,
        end_time_unix_nano=1544712661000000000,
        attributes=[
            KeyValue(key="http.status_code", value=AnyValue(int_value=200)),
            KeyValue(key="payload", value=AnyValue(bytes_value=b"\x00\x01")),
            KeyValue(key="tags", value=AnyValue(array_value=ArrayValue(values=[AnyValue(string_value="a")]))),
            KeyValue(key="unset"),
        ],
        dropped_attributes_count=1,
        events=[
            Span.Event(
                time_unix_nano=1544712660500000000,
                name="retry",
                attributes=[KeyValue(key="attempt", value=AnyValue(double_value=1.5))],
            )
        ],
        dropped_events_count=2,
        links=[Span.Link(trace_id=TRACE, span_id=LINKED, trace_state="k=v", flags=256)],
        dropped_links_count=3,
        status=Status(code=Status.STATUS_CODE_ERROR, message="boom"),
    )
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="users"))]),
                schema_url="https://opentelemetry.io/schemas/1.26.0",
                scope_spans=[ScopeSpans(scope=InstrumentationScope(name="lib", version="1.0"), spans=[span])],
            )
        ]
    )
