"""Fixtures for the ``otlp`` receiver tests: a recording consumer and receivers on ephemeral ports."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from knhk_telemetry.component import Signal
from knhk_telemetry.model.batch import Batch
from knhk_telemetry.model.rejections import Rejections
from knhk_telemetry.receivers.otlp import OtlpReceiver, OtlpReceiverConfig


class Sink:
    """A consumer like ``TelemetryPipeline.record_batch``: records batches, or raises ``error``."""

    def __init__(self, error: Exception | None = None, accept: int | None = None) -> None:
        self.error = error
        self.accept = accept
        self.batches: list[Batch] = []
        self.timeouts: list[float | None] = []
        self.gate: threading.Event | None = None
        self.entered = threading.Event()

    def __call__(self, batch: Batch, *, timeout: float | None = None, rejections: Rejections | None = None) -> int:
        self.timeouts.append(timeout)
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(30)
        if self.error is not None:
            raise self.error
        self.batches.append(batch)
        return len(batch) if self.accept is None else self.accept

    @property
    def n(self) -> int:
        return sum(len(b) for b in self.batches)


StartReceiver = Callable[..., OtlpReceiver]


@pytest.fixture
def start_receiver() -> Iterator[StartReceiver]:
    """``start_receiver(consumers, grpc={...}, http={...}, **top)``: a started receiver, shut down after the test."""
    started: list[OtlpReceiver] = []

    def start(
        consumers: dict[Signal, Any],
        *,
        grpc: dict[str, Any] | None = None,
        http: dict[str, Any] | None = None,
        **top: Any,
    ) -> OtlpReceiver:
        protocols: dict[str, Any] = {}
        if grpc is not None:
            protocols["grpc"] = {"endpoint": "127.0.0.1:0", **grpc}
        if http is not None:
            protocols["http"] = {"endpoint": "127.0.0.1:0", **http}
        receiver = OtlpReceiver("otlp", OtlpReceiverConfig(protocols=protocols, **top))
        for signal, consumer in consumers.items():
            receiver.register(signal, consumer)
        started.append(receiver)
        receiver.start()
        return receiver

    yield start
    for receiver in started:
        receiver.shutdown()


def traces_request(*, good: int = 1, bad_trace_id: int = 0, end_before_start: int = 0) -> bytes:
    """An ``ExportTraceServiceRequest`` with valid spans and spans the decoder or the pipeline refuses."""
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.add(key="service.name").value.string_value = "checkout"
    spans = rs.scope_spans.add().spans
    for i in range(good):
        span = spans.add(trace_id=bytes([1] * 16), span_id=(i + 1).to_bytes(8, "big"), name=f"good-{i}")
        span.start_time_unix_nano, span.end_time_unix_nano = 1_000, 2_000
    for i in range(bad_trace_id):
        spans.add(trace_id=b"\x01\x02\x03", span_id=(100 + i).to_bytes(8, "big"), name=f"short-{i}")
    for i in range(end_before_start):
        span = spans.add(trace_id=bytes([2] * 16), span_id=(200 + i).to_bytes(8, "big"), name=f"back-{i}")
        span.start_time_unix_nano, span.end_time_unix_nano = 5_000, 4_000
    data: bytes = request.SerializeToString()
    return data


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    """Every receiver thread (server loop, worker pools) is gone once the receiver is shut down."""
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.name.startswith("knhk-otlp")]
    assert leaked == []


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
def make_traces() -> Callable[..., bytes]:
    return traces_request


@pytest.fixture
def sink_class() -> type[Sink]:
    return Sink
