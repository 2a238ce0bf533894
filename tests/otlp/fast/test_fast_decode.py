"""The compiled decoder against the reference: same batches, refusals and errors."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fast_wire_mutations import rewrite, tag, varint
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, EntityRef, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Gauge,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from otlp_strategies import REQUESTS, example_request

from knhk_telemetry.errors import DecodeError
from knhk_telemetry.model.rejections import Decoded
from knhk_telemetry.otlp import fast, proto
from knhk_telemetry.otlp.fast import _jit, _logs, _metrics, _traces
from knhk_telemetry.otlp.fast._batch import LOG_TIDS, METRIC_TIDS, POINT_TIDS, TRACE_TIDS, as_array
from knhk_telemetry.otlp.fast._schema import SCHEMA
from knhk_telemetry.otlp.proto import REQUEST_TYPES

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SIGNALS = ("traces", "logs", "metrics")


def outcome(decoder: Callable[[bytes], Decoded[Any]], data: bytes) -> tuple[str, Any]:
    try:
        return "ok", decoder(data)
    except DecodeError as exc:
        return "error", str(exc)


def assert_same(signal: str, data: bytes) -> None:
    """Fast and reference agree on ``data``: equal batches and refusals, or the same error."""
    kind_f, fast_out = outcome(lambda d: fast.decode(signal, d), data)  # type: ignore[arg-type]
    kind_r, ref_out = outcome(lambda d: proto.decode(signal, d), data)  # type: ignore[arg-type]
    assert kind_f == kind_r, f"fast: {fast_out!r}\nreference: {ref_out!r}"
    if kind_f == "error":
        assert fast_out == ref_out
        return
    assert fast_out.batch == ref_out.batch
    assert fast_out.rejected.counts == ref_out.rejected.counts
    assert fast_out.rejected.messages == ref_out.rejected.messages
    for name, table in fast_out.batch.tables.items():
        assert table.schema == ref_out.batch.table(name).schema, name


# -- valid messages ---------------------------------------------------------------------------


def test_example_request_is_decoded_exactly() -> None:
    data = example_request().SerializeToString()
    assert_same("traces", data)
    spans = fast.decode_traces(data).batch.spans
    assert spans.column("name").to_pylist() == ["GET /users"]
    assert spans.column("status_message").to_pylist() == ["boom"]
    assert spans.column("parent_span_id").to_pylist() == [bytes.fromhex("eee19b7ec3c1b173")]


def test_empty_request_gives_empty_batches() -> None:
    for signal in SIGNALS:
        decoded = fast.decode(signal, b"")  # type: ignore[arg-type]
        assert len(decoded.batch) == 0
        assert not decoded.rejected


@pytest.mark.parametrize("signal", SIGNALS)
def test_random_messages_match_reference(signal: str) -> None:
    @PROPERTY
    @given(REQUESTS[signal](allow_nan=False))
    def check(msg: Any) -> None:
        assert_same(signal, msg.SerializeToString())

    check()


@pytest.mark.parametrize("signal", SIGNALS)
def test_rewritten_encodings_match_reference(signal: str) -> None:
    """Shuffled fields, unknown fields of every wire type, repeated scalars, split (merged)
    submessages and unpacked packed fields: the same meaning, so the same batch."""

    @PROPERTY
    @given(REQUESTS[signal](allow_nan=False), st.integers(0, 2**32))
    def check(msg: Any, seed: int) -> None:
        data = rewrite(msg.SerializeToString(), msg.DESCRIPTOR, random.Random(seed))
        assert_same(signal, data)

    check()


def _resources_with_refs() -> list[Resource]:
    def res(name: str, *types: str) -> Resource:
        refs = [EntityRef(type=t, id_keys=["service.name"], description_keys=["host.name"]) for t in types]
        return Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value=name))], entity_refs=refs)

    # every Resource message carries refs, the last one several: the occurrence rows (one per
    # Resource message) are all used when its second ref comes
    return [res("c", "service"), res("a", "service", "host", "process")]


@pytest.mark.parametrize("signal", ["traces", "logs", "metrics"])
def test_resources_with_several_entity_refs_stay_on_the_compiled_path(signal: str) -> None:
    """Several refs in one Resource are one occurrence row: the kernel must not run out of rows
    (it used to, and fell back to the reference decoder: right, but 25x slower)."""
    resources = _resources_with_refs()
    span = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="s")
    if signal == "traces":
        data = ExportTraceServiceRequest(
            resource_spans=[ResourceSpans(resource=r, scope_spans=[ScopeSpans(spans=[span])]) for r in resources]
        ).SerializeToString()
        out = _traces.decode_traces_kernel(as_array(data), SCHEMA.kind, SCHEMA.wire, SCHEMA.child, TRACE_TIDS)
    elif signal == "logs":
        data = ExportLogsServiceRequest(
            resource_logs=[
                ResourceLogs(resource=r, scope_logs=[ScopeLogs(log_records=[LogRecord(time_unix_nano=1)])])
                for r in resources
            ]
        ).SerializeToString()
        out = _logs.decode_logs_kernel(as_array(data), SCHEMA.kind, SCHEMA.wire, SCHEMA.child, LOG_TIDS)
    else:
        gauge = Metric(name="m", gauge=Gauge(data_points=[NumberDataPoint(as_int=1)]))
        data = ExportMetricsServiceRequest(
            resource_metrics=[
                ResourceMetrics(resource=r, scope_metrics=[ScopeMetrics(metrics=[gauge])]) for r in resources
            ]
        ).SerializeToString()
        out = _metrics.decode_metrics_kernel(
            as_array(data), SCHEMA.kind, SCHEMA.wire, SCHEMA.child, METRIC_TIDS, POINT_TIDS
        )
    assert out[0], "the compiled kernel refused valid input"
    assert_same(signal, data)
    refs = fast.decode(signal, data).batch.resources.column("entity_refs").to_pylist()  # type: ignore[arg-type]
    assert [[r["type"] for r in cell] for cell in refs] == [["service"], ["service", "host", "process"]]


def test_nan_values_keep_their_bits() -> None:
    """NaN != NaN defeats table equality, so compare the doubles' bytes instead."""
    span = Span(
        trace_id=b"t" * 16, span_id=b"s" * 8, attributes=[KeyValue(key="x", value=AnyValue(double_value=float("nan")))]
    )
    data = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])]
    ).SerializeToString()
    col = fast.decode_traces(data).batch.table("span_attributes").column("double").chunk(0)
    assert col.dictionary.to_numpy().tobytes() == bytes.fromhex("000000000000f87f")


def _nested(depth: int) -> bytes:
    """An AnyValue of ``depth`` nested arrays, built on the wire (protobuf itself refuses to
    build one past its depth limit)."""
    value = AnyValue(int_value=1).SerializeToString()
    leaf = AnyValue(string_value="é").SerializeToString()
    for _ in range(depth):
        array = tag(1, 2) + varint(len(value)) + value + tag(1, 2) + varint(len(leaf)) + leaf
        value = tag(5, 2) + varint(len(array)) + array
    return value


def _span_request(value_bytes: bytes) -> bytes:
    kv = tag(1, 2) + varint(1) + b"k" + tag(2, 2) + varint(len(value_bytes)) + value_bytes
    span = tag(1, 2) + varint(16) + b"t" * 16 + tag(2, 2) + varint(8) + b"s" * 8 + tag(9, 2) + varint(len(kv)) + kv
    scope_spans = tag(2, 2) + varint(len(span)) + span
    resource_spans = tag(2, 2) + varint(len(scope_spans)) + scope_spans
    return tag(1, 2) + varint(len(resource_spans)) + resource_spans


@pytest.mark.parametrize("depth", [1, 10, 47, 48, 60])
def test_deep_nesting_matches_reference_up_to_and_past_the_limit(depth: int) -> None:
    """upb allows 100 levels below the root; a span attribute's AnyValue sits at level 5 and
    every array adds two, so depth 47 still decodes and 48 is refused, by both."""
    data = _span_request(_nested(depth))
    assert_same("traces", data)
    assert (outcome(fast.decode_traces, data)[0] == "ok") == (depth <= 47)


def test_huge_and_empty_strings() -> None:
    big = "ü" * (1 << 19)  # 1 MiB of UTF-8
    span = Span(trace_id=b"t" * 16, span_id=b"s" * 8, name=big, trace_state="", status=Status(message=big))
    span.attributes.add(key="", value=AnyValue(string_value=big))
    span.attributes.add(key=big, value=AnyValue(string_value=""))
    data = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])]
    ).SerializeToString()
    assert_same("traces", data)
    assert fast.decode_traces(data).batch.spans.column("name").to_pylist() == [big]


def test_non_canonical_nested_values_are_reserialized_like_the_reference() -> None:
    """Arrays/kvlists are stored as the reference re-serializes them, which differs from the
    input when it has unknown fields, overlong varints, defaults written out or merges."""
    array = ArrayValue(values=[AnyValue(string_value="a")]).SerializeToString()
    variants = [
        array + tag(9, 0) + varint(1),  # unknown field inside the ArrayValue
        tag(1, 2) + bytes([0x83, 0x00]) + tag(1, 2) + varint(1) + b"a",  # overlong length
        tag(1, 2) + varint(2) + tag(2, 0) + b"\x02",  # bool written as 2
    ]
    for nested in variants:
        value = tag(5, 2) + varint(len(nested)) + nested
        assert_same("traces", _span_request(value))
    twice = tag(5, 2) + varint(len(array)) + array + tag(5, 2) + varint(len(array)) + array  # merged: two values
    assert_same("traces", _span_request(twice))
    kvlist = KeyValueList(values=[KeyValue(key="", value=AnyValue())]).SerializeToString()
    kv_written_default = tag(1, 2) + varint(4) + tag(1, 2) + varint(0) + tag(2, 2) + varint(0)
    for nested in (kvlist, kv_written_default):
        assert_same("traces", _span_request(tag(6, 2) + varint(len(nested)) + nested))


def test_refusals_match_reference() -> None:
    spans = [
        Span(trace_id=b"t" * 15, span_id=b"s" * 8),
        Span(trace_id=b"t" * 16, span_id=b"s" * 7),
        Span(trace_id=b"t" * 16, span_id=b"s" * 8, parent_span_id=b"p"),
        Span(trace_id=b"t" * 16, span_id=b"s" * 8, links=[Span.Link(trace_id=b"t" * 16, span_id=b"x")]),
        Span(trace_id=b"t" * 16, span_id=b"s" * 8, name="kept", attributes=[KeyValue(key="a")]),
    ] * 4
    data = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])]
    ).SerializeToString()
    assert_same("traces", data)
    decoded = fast.decode_traces(data)
    assert decoded.rejected.counts == {"invalid_trace_id": 4, "invalid_span_id": 8, "invalid_parent_span_id": 4}
    assert (
        decoded.rejected.messages[3]
        == "resource_spans[0].scope_spans[0].spans[3].links[0]: span_id has 1 bytes, expected 8"
    )
    assert decoded.batch.spans.column("name").to_pylist() == ["kept"] * 4
    assert decoded.batch.table("span_attributes").column("row").to_pylist() == [0, 1, 2, 3]


def test_enum_out_of_range_raises_like_reference() -> None:
    span = Span(trace_id=b"t" * 16, span_id=b"s" * 8, kind=300)
    data = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])]
    ).SerializeToString()
    assert_same("traces", data)
    with pytest.raises(DecodeError, match=r"spans\[0\]\.kind: enum value 300"):
        fast.decode_traces(data)


# -- logs -------------------------------------------------------------------------------------


def _logs_request(*records: LogRecord) -> bytes:
    return ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=list(records))])]
    ).SerializeToString()


def test_log_bodies_of_every_kind_match_reference() -> None:
    bodies = [
        None,
        AnyValue(),
        AnyValue(string_value="hello"),
        AnyValue(string_value="hello"),
        AnyValue(bool_value=True),
        AnyValue(int_value=-7),
        AnyValue(double_value=2.5),
        AnyValue(bytes_value=b"\x00\xff"),
        AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=1), AnyValue(string_value="x")])),
        AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key="k", value=AnyValue(bool_value=False))])),
    ]
    records = [LogRecord(body=b, severity_text="INFO", event_name="e") if b else LogRecord() for b in bodies]
    data = _logs_request(*records)
    assert_same("logs", data)
    logs = fast.decode_logs(data).batch.logs
    assert logs.column("body_type").to_pylist() == [None, 0, 1, 1, 2, 3, 4, 7, 5, 6]
    assert logs.column("body_str").to_pylist() == [None, None, "hello", "hello", None, None, None, None, None, None]
    assert logs.column("body_int").to_pylist()[5] == -7
    assert logs.column("severity_text").to_pylist() == [
        "",
        "INFO",
        "INFO",
        "INFO",
        "INFO",
        "INFO",
        "INFO",
        "INFO",
        "INFO",
        "INFO",
    ]


def test_log_bodies_written_twice_or_non_canonically_match_reference() -> None:
    record = LogRecord(severity_number=9).SerializeToString()  # type: ignore[arg-type]
    array = ArrayValue(values=[AnyValue(string_value="a")]).SerializeToString()
    nested = tag(5, 2) + varint(len(array) + 2) + array + tag(9, 0) + varint(1)  # unknown field inside
    merged = tag(5, 2) + varint(len(array)) + array
    text = AnyValue(string_value="first").SerializeToString()
    number = AnyValue(int_value=3).SerializeToString()
    for body in (nested, merged + merged, text + number, number + text):
        data = record + tag(5, 2) + varint(len(body)) + body
        scope = tag(2, 2) + varint(len(data)) + data
        resource = tag(2, 2) + varint(len(scope)) + scope
        assert_same("logs", tag(1, 2) + varint(len(resource)) + resource)
    split = record + tag(5, 2) + varint(len(text)) + text + tag(7, 0) + varint(2) + tag(5, 2) + varint(len(number))
    split += number
    scope = tag(2, 2) + varint(len(split)) + split
    resource = tag(2, 2) + varint(len(scope)) + scope
    assert_same("logs", tag(1, 2) + varint(len(resource)) + resource)


def test_log_refusals_match_reference() -> None:
    records = [
        LogRecord(trace_id=b"t" * 15, body=AnyValue(string_value="gone")),
        LogRecord(span_id=b"s" * 7, attributes=[KeyValue(key="gone", value=AnyValue(int_value=1))]),
        LogRecord(trace_id=b"t" * 16, span_id=b"s" * 8, attributes=[KeyValue(key="kept")]),
        LogRecord(),
    ] * 3
    data = _logs_request(*records)
    assert_same("logs", data)
    decoded = fast.decode_logs(data)
    assert decoded.rejected.counts == {"invalid_trace_id": 3, "invalid_span_id": 3}
    assert decoded.rejected.messages[1] == (
        "resource_logs[0].scope_logs[0].log_records[1]: span_id has 7 bytes, expected 8"
    )
    logs = decoded.batch.logs
    assert logs.column("trace_id").to_pylist() == [b"t" * 16, None] * 3
    assert decoded.batch.table("log_attributes").column("key").to_pylist() == ["kept"] * 3
    assert decoded.batch.table("log_attributes").column("row").to_pylist() == [0, 2, 4]


def test_log_severity_out_of_range_raises_like_reference() -> None:
    data = _logs_request(LogRecord(), LogRecord(severity_number=200))  # type: ignore[arg-type]
    assert_same("logs", data)
    with pytest.raises(DecodeError, match=r"log_records\[1\]\.severity_number: enum value 200"):
        fast.decode_logs(data)


# -- UTF-8: checked once per distinct value, and still everywhere -------------------------------

_BAD = b"\xc3\x28"  # invalid UTF-8


def _field(number: int, payload: bytes) -> bytes:
    return tag(number, 2) + varint(len(payload)) + payload


def _span_with(extra: bytes) -> bytes:
    span = _field(1, b"t" * 16) + _field(2, b"s" * 8) + extra
    return _field(1, _field(2, _field(2, span)))


def _kv(key: bytes, value: bytes) -> bytes:
    return _field(1, key) + _field(2, value)


@pytest.mark.parametrize(
    "extra",
    [
        _field(5, _BAD) + _field(5, b"ok"),  # a span name replaced by a later one
        _field(5, _BAD),
        _field(9, _field(1, _BAD) + _field(1, b"k") + _field(2, _field(1, b"v"))),  # a replaced key
        _field(9, _kv(b"k", _field(1, _BAD) + tag(3, 0) + varint(5))),  # a string replaced by an int
        _field(9, _kv(b"k", _field(1, b"v"))) + _field(9, _kv(b"k", _field(1, _BAD))),  # same position
        _field(9, _kv(b"k", _field(5, _field(1, _field(1, _BAD))))),  # inside an array value
        _field(15, _field(2, _BAD)),  # status message
        _field(3, _BAD),  # trace_state
        _field(11, _field(2, _BAD)),  # event name
        _field(13, _field(1, b"t" * 16) + _field(2, b"s" * 8) + _field(3, _BAD)),  # link trace_state
        _field(9, _kv(_BAD, b"")),
        _field(5, b"ok") + _field(1, b"short"),  # refused span: its name is not interned
        _field(5, _BAD) + _field(1, b"short"),
    ],
)
def test_invalid_utf8_in_any_string_field_fails_like_the_reference(extra: bytes) -> None:
    assert_same("traces", _span_with(extra))
    assert outcome(fast.decode_traces, _span_with(extra))[0] == ("error" if _BAD in extra else "ok")
    good = extra.replace(_BAD, b"ok")
    assert_same("traces", _span_with(good))


@pytest.mark.parametrize(
    "record",
    [
        _field(3, _BAD) + _field(3, b"INFO"),
        _field(12, _BAD),
        _field(5, _field(1, _BAD)) + _field(5, tag(3, 0) + varint(1)),  # a body string merged away
        _field(5, _field(1, _BAD)),
        _field(6, _kv(b"k", _field(1, _BAD))),
        _field(9, b"short") + _field(5, _field(1, _BAD)),  # refused record
        _field(9, b"short") + _field(3, _BAD),
    ],
)
def test_invalid_utf8_in_log_strings_fails_like_the_reference(record: bytes) -> None:
    assert_same("logs", _field(1, _field(2, _field(2, record))))
    assert outcome(fast.decode_logs, _field(1, _field(2, _field(2, record))))[0] == "error"
    assert_same("logs", _field(1, _field(2, _field(2, record.replace(_BAD, b"ok")))))


# -- corrupt input ----------------------------------------------------------------------------


@pytest.mark.parametrize("signal", SIGNALS)
def test_corrupted_messages_fail_exactly_when_the_reference_does(signal: str) -> None:
    @PROPERTY
    @given(REQUESTS[signal](allow_nan=False), st.data())
    def check(msg: Any, data: st.DataObject) -> None:
        raw = bytearray(msg.SerializeToString())
        if raw:
            for _ in range(data.draw(st.integers(1, 3))):
                raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
        assert_same(signal, bytes(raw))

    check()


@PROPERTY
@given(st.sampled_from(SIGNALS), st.binary(max_size=64))
def test_random_bytes_fail_exactly_when_the_reference_does(signal: str, data: bytes) -> None:
    assert_same(signal, data)


def test_every_truncation_of_a_message_matches_reference() -> None:
    data = example_request().SerializeToString()
    for end in range(len(data)):
        assert_same("traces", data[:end])


_FUZZ = textwrap.dedent(
    """
    import random, sys
    sys.path[:0] = sys.argv[1:3]
    from fast_wire_mutations import rewrite
    from otlp_strategies import example_request
    from knhk_telemetry.errors import DecodeError
    from knhk_telemetry.otlp import fast, proto
    def run(f, signal, d):
        try:
            f(signal, d)
            return "ok"
        except DecodeError as exc:
            return str(exc)
    rng = random.Random(7)
    base = example_request().SerializeToString()
    bad = 0
    for i in range(3000):
        signal = ("traces", "logs", "metrics")[i % 3]
        if i % 2:
            d = bytearray(rewrite(base, example_request().DESCRIPTOR, rng))
            for _ in range(rng.randrange(1, 4)):
                d[rng.randrange(len(d))] = rng.randrange(256)
            d = bytes(d[: rng.randrange(len(d) + 1)])
        else:
            d = rng.randbytes(rng.randrange(200))
        if run(fast.decode, signal, d) != run(proto.decode, signal, d):
            bad += 1
            print("mismatch", signal, d.hex())
    print("bad", bad)
    """
)


def test_fuzz_in_a_subprocess_never_crashes_and_agrees() -> None:
    """A crash (numba does not bounds-check) would kill pytest itself: fuzz in a child."""
    here = Path(__file__).parent
    strategies = here.parent
    loader = (
        "import importlib.util as u, sys\n"
        f"s = u.spec_from_file_location('otlp_strategies', r'{strategies / 'strategies.py'}')\n"
        "m = u.module_from_spec(s); sys.modules['otlp_strategies'] = m; s.loader.exec_module(m)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", loader + _FUZZ, str(here), str(strategies)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "bad 0", proc.stdout[-3000:]


# -- cache ------------------------------------------------------------------------------------


def test_kernels_are_cached_in_the_fingerprinted_directory() -> None:
    directory = fast.cache_dir()
    assert directory == _jit.CACHE.directory
    assert directory.name == "otlp-fast-" + _jit.CACHE.fingerprint
    assert sorted(_jit.CACHE.sources) == sorted(_jit.KERNEL_MODULES)
    assert any(directory.rglob("*.nbi")), "warmup() should have written numba index files"


def test_every_module_with_kernels_is_in_the_fingerprint() -> None:
    """A module left out of the fingerprint must not hold numba code (or constants it uses)."""
    package = Path(fast.__file__).parent
    for path in package.glob("*.py"):
        text = path.read_text()
        compiled = "@jit" in text or "jit(" in text or "intrinsic" in text
        assert compiled == (path.name in _jit.KERNEL_MODULES) or path.name in ("_jit.py", "_schema.py"), path.name


def test_request_types_cover_every_signal() -> None:
    assert set(REQUEST_TYPES) == set(SIGNALS)
    assert REQUEST_TYPES["logs"] is ExportLogsServiceRequest
