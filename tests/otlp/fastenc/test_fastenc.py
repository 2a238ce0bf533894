"""The compiled encoder writes exactly the bytes of the reference encoder, for every batch shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans, Span
from otlp_strategies import example_request, log_requests, trace_requests, with_containers_present

from knhk_telemetry.model.batch import LogBatch, MetricBatch, SpanBatch
from knhk_telemetry.otlp import fastenc, proto
from knhk_telemetry.otlp.fastenc import _cache
from knhk_telemetry.synth import synthetic_spans

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    """Compile (or load) the kernels once for the whole module."""
    fastenc.warmup()


def _same(batch: Any) -> bytes:
    """Assert fast == reference for ``batch`` and return the bytes."""
    expected = proto.encode(batch)
    assert fastenc.encode(batch) == expected
    return expected


# -- random requests --------------------------------------------------------------------


@SETTINGS
@given(trace_requests())
def test_traces_match_reference(msg: ExportTraceServiceRequest) -> None:
    decoded = proto.decode_traces(msg.SerializeToString())
    _same(decoded.batch)


@SETTINGS
@given(log_requests())
def test_logs_match_reference(msg: ExportLogsServiceRequest) -> None:
    decoded = proto.decode_logs(msg.SerializeToString())
    _same(decoded.batch)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trace_requests(), trace_requests())
def test_concat_slice_filter_of_random_batches(a: Any, b: Any) -> None:
    """Chunked columns (concat without combining, dictionaries differing per chunk), sliced
    arrays with Arrow offsets, and taken rows all encode as the reference does."""
    x = proto.decode_traces(a.SerializeToString()).batch
    y = proto.decode_traces(b.SerializeToString()).batch
    both = SpanBatch.concat([x, y], combine=False)
    _same(both)
    n = len(both)
    for start in range(0, n, 2):
        _same(both.slice(start, 2))
    _same(both.filter(np.arange(n) % 2 == 0))


def test_example_request_is_reproduced_exactly() -> None:
    msg = example_request()
    batch = proto.decode_traces(msg.SerializeToString()).batch
    assert fastenc.encode_traces(batch) == msg.SerializeToString()


# -- synthetic batches and derived ones --------------------------------------------------


@pytest.mark.parametrize("attributes", [0, 3, 8])
def test_synthetic_spans(attributes: int) -> None:
    batch = synthetic_spans(300, attributes_per_span=attributes, services=3, error_ratio=0.3, seed=attributes)
    data = _same(batch)
    request = ExportTraceServiceRequest.FromString(data)
    assert sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans) == 300


def test_synthetic_slices_filters_and_chunked_concat() -> None:
    batch = synthetic_spans(500, services=4, seed=7)
    parts = batch.split(120)
    assert [len(p) for p in parts] == [120, 120, 120, 120, 20]
    for part in parts:
        _same(part)
    _same(SpanBatch.concat(parts, combine=False))
    _same(SpanBatch.concat(parts[::-1], combine=False))
    _same(batch.filter(np.arange(500) % 3 != 1))
    _same(batch.take([0, 1, 499]))


@pytest.mark.parametrize("batch_type", [SpanBatch, LogBatch, MetricBatch])
def test_empty_batches_encode_to_empty_requests(batch_type: type[Any]) -> None:
    assert fastenc.encode(batch_type.empty()) == b""
    assert proto.encode(batch_type.empty()) == b""


def test_plain_columns_where_the_schema_has_dictionaries() -> None:
    """A batch built without checks may hold plain strings/ints instead of dictionaries."""
    batch = proto.decode_traces(example_request().SerializeToString()).batch
    spans = batch.spans
    plain = spans.set_column(spans.schema.get_field_index("name"), "name", spans.column("name").cast(pa.string()))
    attrs = batch.table("span_attributes")
    for name in ("key", "str", "int", "double"):
        column = attrs.column(name)
        attrs = attrs.set_column(attrs.schema.get_field_index(name), name, column.cast(column.type.value_type))
    tables = dict(batch.tables)
    tables.update(spans=plain, span_attributes=attrs)
    odd = SpanBatch(tables, check=False)
    assert fastenc.encode_traces(odd) == example_request().SerializeToString()


def test_resource_entity_refs_and_presence_rules() -> None:
    """Entity refs, a present-but-empty status and an absent/empty resource and scope."""
    msg = example_request()
    ref = msg.resource_spans[0].resource.entity_refs.add(schema_url="s", type="service", id_keys=["service.name"])
    ref.description_keys.extend(["a", "b"])
    span = msg.resource_spans[0].scope_spans[0].spans.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
    span.status.SetInParent()
    msg.resource_spans.add(scope_spans=[ScopeSpans(spans=[Span(trace_id=b"\x03" * 16, span_id=b"\x04" * 8)])])
    batch = proto.decode_traces(msg.SerializeToString()).batch
    data = _same(batch)
    again = ExportTraceServiceRequest.FromString(data)
    assert list(again.resource_spans[0].resource.entity_refs[0].description_keys) == ["a", "b"]
    assert again.resource_spans[0].scope_spans[0].spans[1].HasField("status")
    assert again.resource_spans[1].HasField("resource")
    assert again.resource_spans[1].scope_spans[0].HasField("scope")


def test_log_bodies_of_every_kind() -> None:
    values = [
        None,
        AnyValue(),
        AnyValue(string_value=""),
        AnyValue(bool_value=False),
        AnyValue(int_value=-1),
        AnyValue(double_value=-0.0),
        AnyValue(bytes_value=b""),
        AnyValue(array_value={"values": [AnyValue(int_value=1)]}),
        AnyValue(kvlist_value={"values": [KeyValue(key="k")]}),
    ]
    records = []
    for i, body in enumerate(values):
        record = LogRecord(severity_number=i - 1, trace_id=b"\x05" * 16 if i % 2 else b"", flags=i)
        if body is not None:
            record.body.CopyFrom(body)
        records.append(record)
    msg = ExportLogsServiceRequest(resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=records)])])
    batch = proto.decode_logs(msg.SerializeToString()).batch
    assert _same(batch) == proto.encode_logs(batch)
    assert fastenc.encode_logs(batch) == with_containers_present(msg).SerializeToString()


# -- errors --------------------------------------------------------------------------------


def test_unknown_value_type_is_refused_like_the_reference() -> None:
    batch = proto.decode_traces(example_request().SerializeToString()).batch
    attrs = batch.table("span_attributes")
    types = pa.array([1, 9, 1, None], pa.int8())
    bad = batch.with_table("span_attributes", attrs.set_column(attrs.schema.get_field_index("type"), "type", types))
    with pytest.raises(ValueError, match=r"^span_attributes row 1: unknown value type 9$"):
        proto.encode_traces(bad)
    with pytest.raises(ValueError, match=r"^span_attributes row 1: unknown value type 9$"):
        fastenc.encode_traces(bad)


def test_unknown_log_body_type_names_the_row() -> None:
    msg = ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=[LogRecord(), LogRecord()])])]
    )
    batch = proto.decode_logs(msg.SerializeToString()).batch
    logs = batch.logs
    bad = batch.with_table(
        "logs", logs.set_column(logs.schema.get_field_index("body_type"), "body_type", pa.array([None, -3], pa.int8()))
    )
    with pytest.raises(ValueError, match=r"^logs row 1 body: unknown value type -3$"):
        fastenc.encode_logs(bad)


def test_unsorted_child_table_is_refused() -> None:
    batch = synthetic_spans(10, services=2, seed=1)
    spans = batch.spans
    scope = np.asarray(spans.column("scope").to_numpy())[::-1].copy()
    tables = dict(batch.tables)
    tables["spans"] = spans.set_column(0, "scope", pa.array(scope, pa.int32()))
    with pytest.raises(ValueError, match=r"^spans\.scope row \d+ is out of order or points outside scopes"):
        fastenc.encode_traces(SpanBatch(tables, check=False))


def test_encode_refuses_other_types() -> None:
    with pytest.raises(TypeError, match="cannot encode dict"):
        fastenc.encode({})  # type: ignore[arg-type]


# -- the cache directory ----------------------------------------------------------------


def test_kernels_are_cached_in_the_fingerprinted_directory() -> None:
    directory = fastenc.cache_dir()
    assert directory == _cache.CACHE.directory
    assert directory.name == "fastenc-" + _cache.CACHE.fingerprint
    assert sorted(_cache.CACHE.sources) == sorted(p.name for p in Path(fastenc.__file__).parent.glob("*.py"))
    assert any(directory.rglob("*.nbi")), "warmup() should have written numba index files"


def test_every_batch_shape_uses_the_one_compiled_signature() -> None:
    """Sliced, chunked, all-null, plain and dictionary columns all map to the same kernel
    types, so no batch triggers a fresh compile in the middle of serving requests."""
    from knhk_telemetry.otlp.fastenc import _logs, _traces

    batch = synthetic_spans(50, seed=3)
    shapes = [batch, batch.slice(7, 20), SpanBatch.concat(batch.split(9), combine=False), SpanBatch.empty()]
    for shape in shapes:
        fastenc.encode_traces(shape)
    msg = example_request()
    fastenc.encode_traces(proto.decode_traces(msg.SerializeToString()).batch)
    logs = ExportLogsServiceRequest(resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=[LogRecord()])])])
    fastenc.encode_logs(proto.decode_logs(logs.SerializeToString()).batch)
    for kernel in (_traces.check, _traces.sizes, _traces.write, _logs.check, _logs.sizes, _logs.write):
        assert len(kernel.signatures) == 1, kernel.py_func.__qualname__
