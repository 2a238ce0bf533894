"""OTLP/gRPC: raw-bytes calls against a receiver on an ephemeral port, every status code."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from knhk_telemetry.component import Component
from knhk_telemetry.errors import BackpressureError, ConfigError, MemoryLimitError, PipelineClosedError
from knhk_telemetry.model.batch import SpanBatch
from knhk_telemetry.otlp import encode
from knhk_telemetry.pipeline import PipelineSettings, TelemetryPipeline
from knhk_telemetry.synth import synthetic_spans
from knhk_telemetry.telemetry import build_families

TRACES = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
METRICS = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
LOGS = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


@pytest.fixture
def channel_to() -> Iterator[Callable[..., grpc.Channel]]:
    channels: list[grpc.Channel] = []

    def connect(port: int, **kwargs: Any) -> grpc.Channel:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}", **kwargs)
        channels.append(channel)
        return channel

    yield connect
    for channel in channels:
        channel.close()


def _call(channel: grpc.Channel, method: str, data: bytes, **kwargs: Any) -> bytes:
    out: bytes = channel.unary_unary(method)(data, timeout=30, **kwargs)
    return out


def _error(channel: grpc.Channel, method: str, data: bytes) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        _call(channel, method, data)
    return info.value


def _retry_delay(err: grpc.RpcError) -> float | None:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return float(info.retry_delay.ToNanoseconds() / 1e9)
    return None


def _samples(receiver: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(n, tuple(sorted(labels.items()))): v for n, _t, _h, labels, v in receiver.self_metrics()}


def test_success_returns_an_empty_response_and_hands_the_batch_on(
    start_receiver: Any, sink: Any, channel_to: Any
) -> None:
    receiver = start_receiver({"traces": sink}, grpc={})
    batch = synthetic_spans(1000, seed=3)
    out = _call(channel_to(receiver.grpc_port), TRACES, encode(batch))
    assert out == b""  # ExportTraceServiceResponse with partial_success unset
    assert ExportTraceServiceResponse.FromString(out).HasField("partial_success") is False
    assert len(sink.batches) == 1
    assert sink.batches[0].spans.column("span_id").to_pylist() == batch.spans.column("span_id").to_pylist()
    assert sink.timeouts == [0.0]  # backpressure_wait: never block a server thread
    metrics = _samples(receiver)
    labels = (("receiver", "otlp"), ("signal", "traces"), ("transport", "grpc"))
    assert metrics["knhk_telemetry_receiver_accepted_items_total", labels] == 1000
    assert metrics["knhk_telemetry_receiver_request_bytes_total", labels] == len(encode(batch))
    assert metrics["knhk_telemetry_receiver_request_duration_seconds_count", labels] == 1
    outcome = (("outcome", "success"), *labels)
    assert metrics["knhk_telemetry_receiver_requests_total", tuple(sorted(outcome))] == 1
    # the histogram and counters form a valid exposition
    invalid: list[str] = []
    build_families(receiver.self_metrics(), lambda sample, why: invalid.append(why))
    assert invalid == []


def test_backpressure_wait_is_passed_to_the_pipeline(start_receiver: Any, sink: Any, channel_to: Any) -> None:
    receiver = start_receiver({"traces": sink}, grpc={}, backpressure_wait="50ms")
    assert _call(channel_to(receiver.grpc_port), TRACES, encode(synthetic_spans(2, seed=1))) == b""
    assert sink.timeouts == [0.05]


def test_a_plain_consumer_without_options_is_called_with_the_batch_only(start_receiver: Any, channel_to: Any) -> None:
    got: list[int] = []
    receiver = start_receiver({"traces": lambda batch: got.append(len(batch))}, grpc={})
    assert _call(channel_to(receiver.grpc_port), TRACES, encode(synthetic_spans(4, seed=2))) == b""
    assert got == [4]  # it returned None: everything counts as accepted
    accepted = [v for n, _t, _h, _l, v in receiver.self_metrics() if n.endswith("accepted_items_total")]
    assert accepted == [4]


def test_empty_request_is_a_success_without_calling_the_pipeline(
    start_receiver: Any, sink: Any, channel_to: Any
) -> None:
    receiver = start_receiver({"traces": sink}, grpc={})
    assert _call(channel_to(receiver.grpc_port), TRACES, b"") == b""
    assert sink.batches == []


def test_partial_success_counts_decode_and_pipeline_entry_refusals(
    start_receiver: Any, channel_to: Any, make_traces: Callable[..., bytes]
) -> None:
    sink = _CollectSpans()
    pipe = TelemetryPipeline(PipelineSettings(flush_interval=0.01), exporters=[sink])
    try:
        receiver = start_receiver({"traces": pipe.record_batch}, grpc={})
        data = make_traces(good=3, bad_trace_id=2, end_before_start=1)
        out = ExportTraceServiceResponse.FromString(_call(channel_to(receiver.grpc_port), TRACES, data))
    finally:
        pipe.shutdown()
    assert out.partial_success.rejected_spans == 3
    assert out.partial_success.error_message == (
        "refused 3 (end_before_start=1, invalid_trace_id=2): "
        "resource_spans[0].scope_spans[0].spans[3]: trace_id has 3 bytes, expected 16; "
        "resource_spans[0].scope_spans[0].spans[4]: trace_id has 3 bytes, expected 16; "
        "span 'back-0' (row 3): end_time_unix_nano 4000 is before start_time_unix_nano 5000"
    )
    assert sorted(sink.names) == ["good-0", "good-1", "good-2"]
    metrics = _samples(receiver)
    base = (("receiver", "otlp"), ("signal", "traces"), ("transport", "grpc"))
    assert metrics["knhk_telemetry_receiver_accepted_items_total", base] == 3
    for reason, n in (("invalid_trace_id", 2), ("end_before_start", 1)):
        assert metrics["knhk_telemetry_receiver_refused_items_total", tuple(sorted((*base, ("reason", reason))))] == n
    assert (
        metrics["knhk_telemetry_receiver_requests_total", tuple(sorted((*base, ("outcome", "partial_success"))))] == 1
    )


def test_items_the_pipeline_drops_are_rejected_too(start_receiver: Any, sink_class: Any, channel_to: Any) -> None:
    sink = sink_class(accept=600)  # e.g. drop_newest kept 600 of 1000
    receiver = start_receiver({"traces": sink}, grpc={})
    out = ExportTraceServiceResponse.FromString(
        _call(channel_to(receiver.grpc_port), TRACES, encode(synthetic_spans(1000, seed=1)))
    )
    assert out.partial_success.rejected_spans == 400
    assert out.partial_success.error_message == (
        "refused 400 (not_accepted=400): 400 spans were not taken by the pipeline (queue full or load shedding)"
    )


def test_garbage_is_invalid_argument_and_the_server_keeps_serving(
    start_receiver: Any, sink: Any, channel_to: Any
) -> None:
    receiver = start_receiver({"traces": sink}, grpc={})
    channel = channel_to(receiver.grpc_port)
    err = _error(channel, TRACES, b"\x0a\xff\xff\xff\xff\x0f")
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == (
        "the traces request does not decode: ExportTraceServiceRequest: Error parsing message with type "
        "'opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest': Wire format was corrupt"
    )
    assert _retry_delay(err) is None
    assert _call(channel, TRACES, encode(synthetic_spans(10, seed=2))) == b""
    assert sink.n == 10
    metrics = _samples(receiver)
    invalid = (("outcome", "invalid"), ("receiver", "otlp"), ("signal", "traces"), ("transport", "grpc"))
    assert metrics["knhk_telemetry_receiver_requests_total", invalid] == 1


def test_signal_without_pipeline_is_unimplemented(start_receiver: Any, sink: Any, channel_to: Any) -> None:
    receiver = start_receiver({"traces": sink}, grpc={})
    channel = channel_to(receiver.grpc_port)
    for method, signal in ((METRICS, "metrics"), (LOGS, "logs")):
        err = _error(channel, method, b"")
        assert err.code() == grpc.StatusCode.UNIMPLEMENTED
        assert err.details() == (
            f"no pipeline takes {signal} from receiver otlp (add it to a service.pipelines.{signal} entry's receivers)"
        )


def test_metrics_and_logs_are_served_with_their_own_responses(
    start_receiver: Any, sink_class: Any, channel_to: Any
) -> None:
    from knhk_telemetry.model.edge import LogEntry, logs_to_batch

    metrics_sink, logs_sink = sink_class(), sink_class()
    receiver = start_receiver({"metrics": metrics_sink, "logs": logs_sink}, grpc={})
    channel = channel_to(receiver.grpc_port)
    logs = logs_to_batch([LogEntry(body="hello", severity_number=9), LogEntry(body="bye", severity_number=13)])
    assert ExportLogsServiceResponse.FromString(_call(channel, LOGS, encode(logs))) == ExportLogsServiceResponse()
    assert ExportMetricsServiceResponse.FromString(_call(channel, METRICS, b"")) == ExportMetricsServiceResponse()
    assert logs_sink.n == 2
    assert logs_sink.batches[0].logs.column("body_str").to_pylist() == ["hello", "bye"]


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (
            BackpressureError("queue full"),
            grpc.StatusCode.UNAVAILABLE,
            "the pipeline is full, retry later: queue full",
        ),
        (
            MemoryLimitError("over 512 MiB"),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "the server is over its memory limit, retry later: over 512 MiB",
        ),
        (
            PipelineClosedError("the pipeline is shut down"),
            grpc.StatusCode.UNAVAILABLE,
            "the server is shutting down: the pipeline is shut down",
        ),
    ],
)
def test_pipeline_refusals_are_retryable_with_retry_info(
    start_receiver: Any, sink_class: Any, channel_to: Any, *, error: Exception, code: grpc.StatusCode, message: str
) -> None:
    receiver = start_receiver({"traces": sink_class(error=error)}, grpc={}, retry_delay="2500ms")
    err = _error(channel_to(receiver.grpc_port), TRACES, encode(synthetic_spans(5, seed=4)))
    assert err.code() == code
    assert err.details() == message
    assert _retry_delay(err) == 2.5
    reason = {"UNAVAILABLE": "backpressure", "RESOURCE_EXHAUSTED": "memory_limit"}[code.name]
    if isinstance(error, PipelineClosedError):
        reason = "pipeline_closed"
    metrics = _samples(receiver)
    labels = (("reason", reason), ("receiver", "otlp"), ("signal", "traces"), ("transport", "grpc"))
    assert metrics["knhk_telemetry_receiver_refused_items_total", labels] == 5


class _CollectSpans(Component):
    def __init__(self, gate: threading.Event | None = None) -> None:
        super().__init__("collect")
        self.gate = gate
        self.entered = threading.Event()
        self.names: list[str] = []

    def consume_spans(self, batch: SpanBatch) -> None:
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(30)
        self.names.extend(batch.spans.column("name").to_pylist())


def test_a_full_pipeline_answers_unavailable_at_once(start_receiver: Any, channel_to: Any) -> None:
    gate = threading.Event()
    exporter = _CollectSpans(gate)
    pipe = TelemetryPipeline(
        PipelineSettings(channel_capacity=100, batch_size=10, flush_interval=0.01, block_timeout=60),
        exporters=[exporter],
    )
    try:
        receiver = start_receiver({"traces": pipe.record_batch}, grpc={})
        channel = channel_to(receiver.grpc_port)
        assert _call(channel, TRACES, encode(synthetic_spans(100, seed=5))) == b""
        assert exporter.entered.wait(10)  # the exporter holds the queue's 100 items
        err = _error(channel, TRACES, encode(synthetic_spans(1, seed=6)))
        assert err.code() == grpc.StatusCode.UNAVAILABLE
        assert err.details() == (
            "the pipeline is full, retry later: queue full: 100 of 100 items queued; 1 more did not fit within 0 s"
        )
        assert _retry_delay(err) == 1.0
    finally:
        gate.set()
        pipe.shutdown()
    assert len(exporter.names) == 100


def test_oversize_message_is_resource_exhausted_without_retry_info(
    start_receiver: Any, sink: Any, channel_to: Any
) -> None:
    receiver = start_receiver({"traces": sink}, grpc={"max_recv_msg_size_mib": 1})
    data = encode(synthetic_spans(4000, seed=7))
    assert 2**20 < len(data) < 2**21
    err = _error(channel_to(receiver.grpc_port), TRACES, data)
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert err.details() == (
        f"the traces request message of {len(data)} bytes is larger than max_recv_msg_size_mib (1 MiB = 1048576 bytes)"
    )
    assert _retry_delay(err) is None
    assert sink.batches == []


def test_gzip_compressed_calls_are_accepted(start_receiver: Any, sink: Any, channel_to: Any) -> None:
    receiver = start_receiver({"traces": sink}, grpc={})
    channel = channel_to(receiver.grpc_port, compression=grpc.Compression.Gzip)
    assert _call(channel, TRACES, encode(synthetic_spans(500, seed=8))) == b""
    assert sink.n == 500


def test_an_unexpected_consumer_error_is_internal(start_receiver: Any, sink_class: Any, channel_to: Any) -> None:
    receiver = start_receiver({"traces": sink_class(error=RuntimeError("boom"))}, grpc={})
    err = _error(channel_to(receiver.grpc_port), TRACES, encode(synthetic_spans(2, seed=9)))
    assert err.code() == grpc.StatusCode.INTERNAL
    assert err.details() == "internal error while handling the traces request: RuntimeError: boom"


def test_a_port_in_use_is_a_config_error_naming_the_endpoint(start_receiver: Any, sink: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError) as info:
            start_receiver({"traces": sink}, grpc={"endpoint": f"127.0.0.1:{port}"})
    assert info.value.path == "receivers.otlp.protocols.grpc.endpoint"
    assert str(info.value).startswith(
        f"receivers.otlp.protocols.grpc.endpoint: OTLP/gRPC cannot listen on 127.0.0.1:{port}: "
    )


def test_shutdown_waits_for_calls_in_flight_and_is_idempotent(start_receiver: Any, sink: Any, channel_to: Any) -> None:
    sink.gate = threading.Event()
    receiver = start_receiver({"traces": sink}, grpc={})
    channel = channel_to(receiver.grpc_port)
    results: list[bytes] = []
    caller = threading.Thread(target=lambda: results.append(_call(channel, TRACES, encode(synthetic_spans(3)))))
    caller.start()
    assert sink.entered.wait(10)
    stopper = threading.Thread(target=receiver.shutdown)
    stopper.start()
    sink.gate.set()
    stopper.join(30)
    caller.join(30)
    assert results == [b""]
    assert sink.n == 3
    receiver.shutdown()
    assert receiver.grpc_port == receiver.grpc_port  # still readable after shutdown
    err = _error(channel_to(receiver.grpc_port), TRACES, b"")
    assert err.code() == grpc.StatusCode.UNAVAILABLE  # nothing listens any more
