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
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from otlp_strategies import REQUESTS, example_request

from knhk_telemetry.errors import DecodeError
from knhk_telemetry.model.rejections import Decoded
from knhk_telemetry.otlp import fast, proto
from knhk_telemetry.otlp.fast import _jit
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
    assert sorted(_jit.CACHE.sources) == sorted(p.name for p in Path(fast.__file__).parent.glob("*.py"))
    assert any(directory.rglob("*.nbi")), "warmup() should have written numba index files"


def test_request_types_cover_every_signal() -> None:
    assert set(REQUEST_TYPES) == set(SIGNALS)
    assert REQUEST_TYPES["logs"] is ExportLogsServiceRequest
