"""The decoder's byte helpers at the edges of the buffer, and the position cache of numbers."""

from __future__ import annotations

import random

import numpy as np
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from knhk_telemetry.otlp import fast, proto
from knhk_telemetry.otlp.fast._common import load_word, same_bytes


def _buffer() -> np.ndarray:
    rng = random.Random(3)
    # repeats, so that equal ranges exist, and a buffer length that is not a multiple of 8
    chunk = bytes(rng.randrange(4) for _ in range(37))
    return np.frombuffer(chunk * 3 + b"xyz", dtype=np.uint8)


def test_same_bytes_agrees_with_python_everywhere_in_the_buffer() -> None:
    data = _buffer()
    raw = data.tobytes()
    size = len(raw)
    checked = 0
    for n in range(0, 20):
        for a in range(0, size - n + 1, 3):
            for b in range(0, size - n + 1, 5):
                assert same_bytes(data, a, b, n) == (raw[a : a + n] == raw[b : b + n]), (a, b, n)
                checked += 1
    assert checked > 10_000


@pytest.mark.parametrize("n", range(0, 9))
def test_load_word_reads_only_n_bytes_even_at_the_end(n: int) -> None:
    data = _buffer()
    raw = data.tobytes()
    for s in (0, 5, len(raw) - n, len(raw) - n - 3):
        expected = int.from_bytes(raw[s : s + n], "little")
        assert int(load_word(data, s, n)) == expected, (s, n)


def _request(values: list[AnyValue]) -> bytes:
    """One span per value, each with the value as its only attribute (position 0)."""
    spans = [
        Span(
            trace_id=bytes([1] * 16),
            span_id=(i + 1).to_bytes(8, "big"),
            name="s",
            attributes=[KeyValue(key="k", value=v)],
        )
        for i, v in enumerate(values)
    ]
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])]
    ).SerializeToString()


def test_numbers_at_one_position_keep_their_type_and_value() -> None:
    # the same bits as an int and as a double at one position, equal and changing values,
    # and a string in between: each cell must be what was sent (the cache is per position)
    bits = 4607182418800017408  # the bits of 1.0
    values = [
        AnyValue(int_value=200),
        AnyValue(int_value=200),
        AnyValue(int_value=404),
        AnyValue(double_value=1.0),
        AnyValue(int_value=bits),
        AnyValue(int_value=bits),
        AnyValue(double_value=1.0),
        AnyValue(string_value="200"),
        AnyValue(int_value=200),
        AnyValue(double_value=2.5),
        AnyValue(double_value=2.5),
    ]
    data = _request(values)
    got = fast.decode_traces(data).batch
    assert got == proto.decode_traces(data).batch
    attrs = got.table("span_attributes")
    cells = [
        x if t != 3 else i
        for t, x, i in zip(
            attrs.column("type").to_pylist(),
            attrs.column("double").to_pylist(),
            attrs.column("int").to_pylist(),
            strict=True,
        )
    ]
    assert cells[:7] == [200, 200, 404, 1.0, bits, bits, 1.0]
    assert attrs.column("str").to_pylist()[7] == "200"
    assert cells[8:] == [200, 2.5, 2.5]
