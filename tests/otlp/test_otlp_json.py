"""OTLP/JSON: exact text, hex ids, lenient input, round trips through batches, error paths."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from otlp_strategies import LINKED, PARENT, SPAN, TRACE, example_request, requests

from knhk_telemetry.errors import DecodeError
from knhk_telemetry.otlp import (
    decode_json,
    decode_logs_json,
    decode_metrics_json,
    decode_traces,
    decode_traces_json,
    encode,
    encode_json,
    encode_logs_json,
    encode_metrics_json,
    encode_traces_json,
    from_message,
    message_to_json,
    to_message,
)

PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

EXAMPLE_JSON = (
    '{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"users"}}]},'
    '"scopeSpans":[{"scope":{"name":"lib","version":"1.0"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c",'
    '"spanId":"eee19b7ec3c1b174","traceState":"vendor=1","parentSpanId":"eee19b7ec3c1b173","name":"GET /users",'
    '"kind":2,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000",'
    '"attributes":[{"key":"http.status_code","value":{"intValue":"200"}},{"key":"payload","value":{"bytesValue":"AAE="}},'
    '{"key":"tags","value":{"arrayValue":{"values":[{"stringValue":"a"}]}}},{"key":"unset"}],'
    '"droppedAttributesCount":1,"events":[{"timeUnixNano":"1544712660500000000","name":"retry",'
    '"attributes":[{"key":"attempt","value":{"doubleValue":1.5}}]}],"droppedEventsCount":2,'
    '"links":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"00f067aa0ba902b7","traceState":"k=v","flags":256}],'
    '"droppedLinksCount":3,"status":{"message":"boom","code":2},"flags":257}]}],'
    '"schemaUrl":"https://opentelemetry.io/schemas/1.26.0"}]}'
)


def test_example_span_encodes_to_exact_otlp_json() -> None:
    batch = decode_traces(example_request().SerializeToString()).batch
    assert encode_json(batch).decode() == EXAMPLE_JSON
    assert encode_traces_json(batch) == EXAMPLE_JSON.encode()


def test_example_json_decodes_to_the_same_batch() -> None:
    decoded = decode_traces_json(EXAMPLE_JSON)
    assert not decoded.rejected
    assert decoded.batch == decode_traces(example_request().SerializeToString()).batch
    spans = decoded.batch.spans.to_pylist()
    assert (spans[0]["trace_id"], spans[0]["span_id"], spans[0]["parent_span_id"]) == (TRACE, SPAN, PARENT)
    assert decoded.batch.table("links").column("span_id").to_pylist() == [LINKED]


def test_lenient_input_snake_case_numbers_uppercase_hex_unknown_keys() -> None:
    doc = {
        "resource_spans": [
            {
                "scope_spans": [
                    {
                        "spans": [
                            {
                                "trace_id": TRACE.hex().upper(),
                                "span_id": SPAN.hex(),
                                "parentSpanId": "",
                                "start_time_unix_nano": 1544712660000000000,
                                "endTimeUnixNano": "1544712661000000000",
                                "kind": "SPAN_KIND_CLIENT",
                                "attributes": [{"key": "n", "value": {"int_value": -5}}],
                                "somethingNew": {"ignored": True},
                            }
                        ]
                    }
                ]
            }
        ],
        "futureField": 1,
    }
    decoded = decode_traces_json(json.dumps(doc).encode())
    row = decoded.batch.spans.to_pylist()[0]
    assert (row["trace_id"], row["span_id"], row["parent_span_id"], row["kind"]) == (TRACE, SPAN, None, 3)
    assert (row["start_time_unix_nano"], row["end_time_unix_nano"]) == (1544712660000000000, 1544712661000000000)
    assert decoded.batch.table("span_attributes").column("int").to_pylist() == [-5]


def test_bad_hex_id_lengths_are_counted_refusals() -> None:
    doc = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {"traceId": "abcd", "spanId": SPAN.hex()},
                            {
                                "traceId": TRACE.hex(),
                                "spanId": SPAN.hex(),
                                "links": [{"traceId": TRACE.hex(), "spanId": "00"}],
                            },
                            {"traceId": TRACE.hex(), "spanId": SPAN.hex(), "name": "ok"},
                        ]
                    }
                ]
            }
        ]
    }
    decoded = decode_json("traces", json.dumps(doc))
    assert dict(decoded.rejected.counts) == {"invalid_trace_id": 1, "invalid_span_id": 1}
    assert decoded.rejected.messages == [
        "resource_spans[0].scope_spans[0].spans[0]: trace_id has 2 bytes, expected 16",
        "resource_spans[0].scope_spans[0].spans[1].links[0]: span_id has 1 bytes, expected 8",
    ]
    assert decoded.batch.spans.column("name").to_pylist() == ["ok"]
    logs = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "ab"}, {"spanId": ""}]}]}]}
    decoded_logs = decode_logs_json(json.dumps(logs))
    assert dict(decoded_logs.rejected.counts) == {"invalid_trace_id": 1}
    assert len(decoded_logs.batch) == 1
    exemplar = {"asInt": "1", "spanId": "0102"}
    metrics = {
        "resourceMetrics": [
            {"scopeMetrics": [{"metrics": [{"sum": {"dataPoints": [{"asInt": "3", "exemplars": [exemplar]}]}}]}]}
        ]
    }
    decoded_metrics = decode_metrics_json(json.dumps(metrics))
    assert dict(decoded_metrics.rejected.counts) == {"invalid_span_id": 1}
    assert decoded_metrics.batch.points.column("value_int").to_pylist() == [3]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", r"^invalid JSON: "),
        (b"\xff\xfe{}", r"^(invalid JSON|OTLP/JSON is not UTF-8)"),
        ("[1, 2]", r"^OTLP/JSON: expected a JSON object at the top level, got array$"),
        ('{"resourceSpans": {}}', r"^OTLP/JSON: resourceSpans: expected a JSON array, got object$"),
        ('{"resourceSpans": [7]}', r"^OTLP/JSON: resourceSpans\[0\]: expected a JSON object, got number$"),
        (
            '{"resourceSpans":[{"scopeSpans":[{"spans":[{},{},{"name":5}]}]}]}',
            r"^OTLP/JSON: resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[2\]\.name: ",
        ),
        (
            '{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"soon"}]}]}]}',
            r"^OTLP/JSON: resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.startTimeUnixNano: ",
        ),
        (
            '{"resourceSpans":[{"resource":{"attributes":[{"key":"k","value":{"intValue":[]}}]}}]}',
            r"^OTLP/JSON: resourceSpans\[0\]\.resource\.attributes\[0\]\.value\.intValue: ",
        ),
        (
            '{"resourceSpans":[{"scopeSpans":[{"spans":[{},{},{"traceId":"zz"}]}]}]}',
            r"^OTLP/JSON: resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[2\]\.traceId: not hex",
        ),
        (
            '{"resource_spans":[{"scope_spans":[{"spans":[{"span_id":"abc"}]}]}]}',
            r"^OTLP/JSON: resource_spans\[0\]\.scope_spans\[0\]\.spans\[0\]\.span_id: not hex",
        ),
        (
            '{"resourceSpans":[{"scopeSpans":[{"spans":[{"links":[{"traceId":12}]}]}]}]}',
            r"^OTLP/JSON: resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.links\[0\]\.traceId: "
            r"expected a hex string, got number$",
        ),
    ],
)
def test_bad_json_raises_decode_error_naming_the_path(document: str | bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_traces_json(document)


def test_metric_and_log_id_paths_are_checked() -> None:
    points = {"dataPoints": [{"exemplars": [{"traceId": "xy"}]}]}
    bad_exemplar = json.dumps(
        {"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"exponentialHistogram": points}]}]}]}
    )
    with pytest.raises(DecodeError, match=r"exponentialHistogram\.dataPoints\[0\]\.exemplars\[0\]\.traceId: not hex"):
        decode_metrics_json(bad_exemplar)
    with pytest.raises(
        DecodeError, match=r"^OTLP/JSON: resourceLogs\[0\]\.scopeLogs\[0\]\.logRecords\[1\]\.spanId: not hex"
    ):
        decode_logs_json('{"resourceLogs":[{"scopeLogs":[{"logRecords":[{},{"spanId":"g0"}]}]}]}')


def test_empty_request_is_an_empty_object() -> None:
    batch = decode_traces_json("{}").batch
    assert len(batch) == 0
    assert encode_json(batch) == b"{}"
    assert message_to_json(ExportTraceServiceRequest()) == b"{}"


def test_unknown_signal_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown signal"):
        decode_json("profiles", "{}")  # type: ignore[call-overload]


# -- round trips -------------------------------------------------------------------------------------


@PROPERTY
@given(requests())
def test_json_batch_json_is_identity_as_parsed_documents(case: tuple[str, Any]) -> None:
    signal, msg = case
    text = message_to_json(msg)
    assert not text.endswith(b"\n")
    decoded = decode_json(signal, text)  # type: ignore[call-overload]
    assert not decoded.rejected
    assert json.loads(encode_json(decoded.batch)) == json.loads(text)


@PROPERTY
@given(requests(allow_nan=False))
def test_proto_batch_json_batch_proto_is_identity(case: tuple[str, Any]) -> None:
    signal, msg = case
    batch = from_message(signal, msg).batch  # type: ignore[call-overload]
    again = decode_json(signal, encode_json(batch)).batch  # type: ignore[call-overload]
    assert again == batch
    assert to_message(again) == msg
    per_signal = {"traces": encode_traces_json, "metrics": encode_metrics_json, "logs": encode_logs_json}
    assert per_signal[signal](batch) == encode_json(batch)
    assert encode(again) == encode(batch)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
_KEYS = st.sampled_from(
    [
        "resourceSpans",
        "scopeSpans",
        "spans",
        "traceId",
        "resource",
        "attributes",
        "key",
        "value",
        "kvlistValue",
        "values",
        "arrayValue",
        "status",
        "code",
        "links",
        "events",
        "name",
        "kind",
        "intValue",
        "bytesValue",
    ]
)
_SHAPED = st.recursive(
    _JSON,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3),
    max_leaves=12,
)


@settings(PROPERTY, max_examples=200)
@given(_SHAPED)
def test_arbitrary_json_decodes_or_raises_decode_error(document: Any) -> None:
    with contextlib.suppress(DecodeError):
        decode_traces_json(json.dumps(document))
