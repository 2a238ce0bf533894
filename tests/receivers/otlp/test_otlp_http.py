"""OTLP/HTTP: requests with http.client against a receiver on an ephemeral port, every status code."""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import threading
import zlib
from collections.abc import Callable
from typing import Any

import pytest
import zstandard
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from knhk_telemetry.errors import BackpressureError, ConfigError, MemoryLimitError, PipelineClosedError
from knhk_telemetry.otlp import encode
from knhk_telemetry.otlp.json import encode_json
from knhk_telemetry.synth import synthetic_spans

PROTO = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}


class Reply:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def status_message(self) -> str:
        """The ``google.rpc.Status`` message of an error body (protobuf or JSON)."""
        if self.headers["Content-Type"] == "application/json":
            message: str = json.loads(self.body)["message"]
            return message
        assert self.headers["Content-Type"] == "application/x-protobuf"
        return status_pb2.Status.FromString(self.body).message


def request(
    port: int, path: str, body: bytes = b"", headers: dict[str, str] | None = None, method: str = "POST"
) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return Reply(resp.status, resp.headers, resp.read())
    finally:
        conn.close()


def test_protobuf_success(start_receiver: Any, sink: Any) -> None:
    receiver = start_receiver({"traces": sink}, http={})
    batch = synthetic_spans(1000, seed=1)
    reply = request(receiver.http_port, "/v1/traces", encode(batch), PROTO)
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/x-protobuf"
    assert reply.body == b""
    assert sink.n == 1000
    assert sink.timeouts == [0.0]
    assert sink.batches[0].spans.column("span_id").to_pylist() == batch.spans.column("span_id").to_pylist()


def test_json_success_answers_in_json(start_receiver: Any, sink: Any) -> None:
    receiver = start_receiver({"traces": sink}, http={})
    batch = synthetic_spans(50, seed=2)
    reply = request(receiver.http_port, "/v1/traces", encode_json(batch), {"Content-Type": "application/json"})
    assert (reply.status, reply.headers["Content-Type"], reply.body) == (200, "application/json", b"{}")
    assert sink.batches[0].spans.column("span_id").to_pylist() == batch.spans.column("span_id").to_pylist()


def test_partial_success_in_both_encodings(start_receiver: Any, sink: Any, make_traces: Callable[..., bytes]) -> None:
    receiver = start_receiver({"traces": sink}, http={})
    data = make_traces(good=2, bad_trace_id=1)
    reply = request(receiver.http_port, "/v1/traces", data, PROTO)
    out = ExportTraceServiceResponse.FromString(reply.body)
    message = (
        "refused 1 (invalid_trace_id=1): resource_spans[0].scope_spans[0].spans[2]: trace_id has 3 bytes, expected 16"
    )
    assert (reply.status, out.partial_success.rejected_spans, out.partial_success.error_message) == (200, 1, message)
    doc = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {"traceId": "01" * 16, "spanId": "02" * 8, "name": "ok"},
                            {"traceId": "0102", "spanId": "03" * 8, "name": "short"},
                        ]
                    }
                ]
            }
        ]
    }
    reply = request(receiver.http_port, "/v1/traces", json.dumps(doc).encode(), JSON)
    assert reply.status == 200
    assert json.loads(reply.body) == {
        "partialSuccess": {
            "rejectedSpans": "1",
            "errorMessage": "refused 1 (invalid_trace_id=1): "
            "resource_spans[0].scope_spans[0].spans[1]: trace_id has 2 bytes, expected 16",
        }
    }
    assert sink.n == 3


def _compress(data: bytes, coding: str) -> bytes:
    if coding == "gzip":
        return gzip.compress(data)
    if coding == "deflate":
        return zlib.compress(data)
    return zstandard.ZstdCompressor().compress(data)


@pytest.mark.parametrize("coding", ["gzip", "zstd", "deflate"])
def test_compressed_bodies(start_receiver: Any, sink: Any, coding: str) -> None:
    receiver = start_receiver({"traces": sink}, http={})
    data = encode(synthetic_spans(300, seed=3))
    body = _compress(data, coding)
    reply = request(receiver.http_port, "/v1/traces", body, {**PROTO, "Content-Encoding": coding})
    assert (reply.status, reply.body) == (200, b"")
    assert sink.n == 300
    labels = {"receiver": "otlp", "transport": "http", "signal": "traces"}
    sent = [v for n, _t, _h, lab, v in receiver.self_metrics() if n.endswith("request_bytes_total") and lab == labels]
    assert sent == [len(body)]  # the body as sent


def test_multi_member_gzip(start_receiver: Any, sink: Any) -> None:
    receiver = start_receiver({"traces": sink}, http={})
    data = encode(synthetic_spans(20, seed=4))
    body = gzip.compress(data[:100]) + gzip.compress(data[100:])
    reply = request(receiver.http_port, "/v1/traces", body, {**PROTO, "Content-Encoding": "gzip"})
    assert reply.status == 200
    assert sink.n == 20


@pytest.mark.parametrize("coding", ["gzip", "zstd", "deflate"])
def test_decompression_bomb_is_413(start_receiver: Any, sink: Any, coding: str) -> None:
    receiver = start_receiver({"traces": sink}, http={"max_request_body_size": "1MiB"})
    zeros = bytes(64 * 2**20)  # 64 MiB of zeroes compresses to a few KiB
    body = _compress(zeros, coding)
    assert len(body) < 2**20
    reply = request(receiver.http_port, "/v1/traces", body, {**PROTO, "Content-Encoding": coding})
    assert reply.status == 413
    assert reply.status_message() == (
        f"the request body is larger than max_request_body_size (1048576 bytes) once decompressed ({coding})"
    )
    assert sink.batches == []


def test_corrupt_compressed_body_is_400(start_receiver: Any, sink: Any) -> None:
    receiver = start_receiver({"traces": sink}, http={})
    reply = request(receiver.http_port, "/v1/traces", b"\x1f\x8bnot gzip", {**PROTO, "Content-Encoding": "gzip"})
    assert reply.status == 400
    assert reply.status_message().startswith("the gzip request body does not decompress: ")


def test_oversize_body_is_413(start_receiver: Any, sink: Any, make_traces: Callable[..., bytes]) -> None:
    receiver = start_receiver({"traces": sink}, http={"max_request_body_size": 1000})
    reply = request(receiver.http_port, "/v1/traces", bytes(1001), PROTO)
    assert reply.status == 413
    assert reply.status_message() == "the request body (1001 bytes) is larger than max_request_body_size (1000 bytes)"
    reply = request(receiver.http_port, "/v1/traces", make_traces(good=2), PROTO)
    assert reply.status == 200
    assert sink.n == 2


def test_chunked_oversize_body_is_413(start_receiver: Any, sink: Any) -> None:
    receiver = start_receiver({"traces": sink}, http={"max_request_body_size": 1000})
    conn = http.client.HTTPConnection("127.0.0.1", receiver.http_port, timeout=30)
    try:
        conn.request("POST", "/v1/traces", body=iter([bytes(600), bytes(600)]), headers=PROTO, encode_chunked=True)
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    assert resp.status == 413
    assert status_pb2.Status.FromString(body).message == (
        "the request body is larger than max_request_body_size (1000 bytes)"
    )


def test_garbage_is_400_then_a_good_request_still_works(start_receiver: Any, sink: Any) -> None:
    receiver = start_receiver({"traces": sink}, http={})
    reply = request(receiver.http_port, "/v1/traces", b"\x0a\xff\xff\xff\xff\x0f", PROTO)
    assert (reply.status, reply.headers["Content-Type"]) == (400, "application/x-protobuf")
    status = status_pb2.Status.FromString(reply.body)
    assert status.code == 3  # INVALID_ARGUMENT, for troubleshooting only
    assert status.message == (
        "the traces request does not decode: ExportTraceServiceRequest: Error parsing message with type "
        "'opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest': Wire format was corrupt"
    )
    reply = request(receiver.http_port, "/v1/traces", b"{not json", JSON)
    assert (reply.status, reply.headers["Content-Type"]) == (400, "application/json")
    assert reply.status_message() == (
        "the traces request does not decode: invalid JSON: Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)"
    )
    reply = request(receiver.http_port, "/v1/traces", encode(synthetic_spans(7, seed=6)), PROTO)
    assert reply.status == 200
    assert sink.n == 7
    outcomes = {
        lab["outcome"]: v
        for n, _t, _h, lab, v in receiver.self_metrics()
        if n == "knhk_telemetry_receiver_requests_total" and lab["transport"] == "http"
    }
    assert outcomes == {"invalid": 2, "success": 1}


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Content-Type": "text/plain"}, "Content-Type 'text/plain' is not supported"),
        ({}, "no Content-Type is not supported"),
    ],
)
def test_unsupported_content_type_is_415(start_receiver: Any, sink: Any, headers: dict[str, str], message: str) -> None:
    receiver = start_receiver({"traces": sink}, http={})
    reply = request(receiver.http_port, "/v1/traces", b"x", headers)
    assert reply.status == 415
    assert reply.status_message() == f"{message}: send application/x-protobuf or application/json"


def test_content_type_parameters_are_ignored(start_receiver: Any, sink: Any) -> None:
    receiver = start_receiver({"traces": sink}, http={})
    body = encode_json(synthetic_spans(3, seed=7))
    reply = request(receiver.http_port, "/v1/traces", body, {"Content-Type": "application/json; charset=utf-8"})
    assert reply.status == 200
    assert sink.n == 3


def test_unsupported_content_encoding_is_415(start_receiver: Any, sink: Any) -> None:
    receiver = start_receiver({"traces": sink}, http={})
    reply = request(receiver.http_port, "/v1/traces", b"x", {**PROTO, "Content-Encoding": "br"})
    assert reply.status == 415
    assert reply.headers["Accept-Encoding"] == "gzip, zstd, deflate"
    assert reply.status_message() == (
        "Content-Encoding 'br' is not supported: send gzip, zstd, deflate or an uncompressed body"
    )


def test_other_methods_are_405(start_receiver: Any, sink: Any) -> None:
    receiver = start_receiver({"traces": sink}, http={})
    for method in ("GET", "PUT", "DELETE", "OPTIONS"):
        reply = request(receiver.http_port, "/v1/traces", method=method)
        assert (reply.status, reply.headers["Allow"]) == (405, "POST")
        assert reply.status_message() == f"{method} is not allowed on /v1/traces: OTLP/HTTP takes POST"


def test_signal_without_pipeline_and_unknown_paths_are_404(start_receiver: Any, sink: Any) -> None:
    receiver = start_receiver({"traces": sink}, http={})
    reply = request(receiver.http_port, "/v1/logs", b"", JSON)
    assert (reply.status, reply.headers["Content-Type"]) == (404, "application/json")
    assert reply.status_message() == (
        "no pipeline takes logs from receiver otlp (add it to a service.pipelines.logs entry's receivers)"
    )
    reply = request(receiver.http_port, "/v1/spans", b"", PROTO)
    assert reply.status == 404
    assert reply.status_message() == (
        "no OTLP endpoint at /v1/spans; the endpoints are "
        "POST /v1/traces (traces), POST /v1/metrics (metrics), POST /v1/logs (logs)"
    )


def test_custom_url_paths(start_receiver: Any, sink: Any) -> None:
    receiver = start_receiver({"traces": sink}, http={"traces_url_path": "/otlp/v1/traces"})
    assert request(receiver.http_port, "/otlp/v1/traces", encode(synthetic_spans(2, seed=8)), PROTO).status == 200
    assert request(receiver.http_port, "/v1/traces", b"", PROTO).status == 404
    assert sink.n == 2


@pytest.mark.parametrize(
    ("error", "outcome", "message"),
    [
        (BackpressureError("queue full"), "backpressure", "the pipeline is full, retry later: queue full"),
        (
            MemoryLimitError("over 1 GiB"),
            "memory_limit",
            "the server is over its memory limit, retry later: over 1 GiB",
        ),
        (PipelineClosedError("closed"), "shutting_down", "the server is shutting down: closed"),
    ],
)
def test_pipeline_refusals_are_503_with_retry_after(
    start_receiver: Any, sink_class: Any, error: Exception, outcome: str, message: str
) -> None:
    receiver = start_receiver({"traces": sink_class(error=error)}, http={}, retry_delay="1500ms")
    reply = request(receiver.http_port, "/v1/traces", encode(synthetic_spans(4, seed=9)), PROTO)
    assert (reply.status, reply.headers["Retry-After"]) == (503, "2")
    assert reply.status_message() == message
    outcomes = [
        lab["outcome"]
        for n, _t, _h, lab, _v in receiver.self_metrics()
        if n == "knhk_telemetry_receiver_requests_total"
    ]
    assert outcomes == [outcome]


CORS = {"cors": {"allowed_origins": ["https://app.example.com", "https://*.dev.example.com"], "max_age": 600}}


def test_cors_preflight_and_response_headers(start_receiver: Any, sink: Any) -> None:
    receiver = start_receiver({"traces": sink}, http={**CORS, "cors": {**CORS["cors"], "allowed_headers": ["X-Token"]}})
    preflight = {
        "Origin": "https://ui.dev.example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-token",
    }
    reply = request(receiver.http_port, "/v1/traces", method="OPTIONS", headers=preflight)
    assert reply.status == 204
    assert reply.headers["Access-Control-Allow-Origin"] == "https://ui.dev.example.com"
    assert reply.headers["Access-Control-Allow-Methods"] == "POST"
    assert reply.headers["Access-Control-Allow-Headers"] == "content-type, x-token"
    assert reply.headers["Access-Control-Max-Age"] == "600"
    reply = request(
        receiver.http_port,
        "/v1/traces",
        encode(synthetic_spans(1, seed=10)),
        {**PROTO, "Origin": "https://app.example.com"},
    )
    assert reply.status == 200
    assert (reply.headers["Access-Control-Allow-Origin"], reply.headers["Vary"]) == (
        "https://app.example.com",
        "Origin",
    )
    reply = request(receiver.http_port, "/v1/traces", b"", {**PROTO, "Origin": "https://evil.example.org"})
    assert reply.status == 200
    assert "Access-Control-Allow-Origin" not in reply.headers


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        (
            {"Origin": "https://evil.example.org", "Access-Control-Request-Method": "POST"},
            "origin 'https://evil.example.org' is not in cors.allowed_origins",
        ),
        (
            {"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT"},
            "method PUT is not allowed (OTLP/HTTP takes POST)",
        ),
        (
            {
                "Origin": "https://app.example.com",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-secret",
            },
            "headers x-secret are not in cors.allowed_headers",
        ),
    ],
)
def test_cors_preflight_refusals_are_403(start_receiver: Any, sink: Any, headers: dict[str, str], problem: str) -> None:
    receiver = start_receiver({"traces": sink}, http=CORS)
    reply = request(receiver.http_port, "/v1/traces", method="OPTIONS", headers=headers)
    assert reply.status == 403
    assert reply.status_message() == f"CORS preflight refused: {problem}"


def test_cors_wildcard_origin_answers_star(start_receiver: Any, sink: Any) -> None:
    receiver = start_receiver({"traces": sink}, http={"cors": {"allowed_origins": ["*"]}})
    reply = request(
        receiver.http_port,
        "/v1/traces",
        method="OPTIONS",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
    )
    assert (reply.status, reply.headers["Access-Control-Allow-Origin"]) == (204, "*")
    assert "Access-Control-Max-Age" not in reply.headers
    assert request(receiver.http_port, "/v1/traces", method="GET").headers["Allow"] == "POST, OPTIONS"


def test_a_port_in_use_is_a_config_error_naming_the_endpoint(start_receiver: Any, sink: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError) as info:
            start_receiver({"traces": sink}, grpc={}, http={"endpoint": f"127.0.0.1:{port}"})
    assert info.value.path == "receivers.otlp.protocols.http.endpoint"
    assert str(info.value).startswith(
        f"receivers.otlp.protocols.http.endpoint: OTLP/HTTP cannot listen on 127.0.0.1:{port}: "
    )


def test_shutdown_waits_for_requests_in_flight(start_receiver: Any, sink: Any) -> None:
    sink.gate = threading.Event()
    receiver = start_receiver({"traces": sink}, http={})
    port = receiver.http_port
    replies: list[Reply] = []
    caller = threading.Thread(
        target=lambda: replies.append(request(port, "/v1/traces", encode(synthetic_spans(3, seed=11)), PROTO))
    )
    caller.start()
    assert sink.entered.wait(10)
    stopper = threading.Thread(target=receiver.shutdown)
    stopper.start()
    sink.gate.set()
    stopper.join(30)
    caller.join(30)
    assert [r.status for r in replies] == [200]
    assert sink.n == 3
    receiver.shutdown()
    with pytest.raises(ConnectionRefusedError):
        request(port, "/v1/traces", b"", PROTO)
