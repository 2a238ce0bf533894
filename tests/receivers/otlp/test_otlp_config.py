"""The ``otlp`` receiver's config (Collector-shaped YAML) and its shared factory in a Service."""

from __future__ import annotations

import http.client
import os
from typing import Any

import pytest

from knhk_telemetry.component import CreateSettings, Registry
from knhk_telemetry.config import parse_config
from knhk_telemetry.errors import ConfigError
from knhk_telemetry.exporters.nop import FACTORY as NOP
from knhk_telemetry.otlp import encode
from knhk_telemetry.pipeline.service import Service
from knhk_telemetry.receivers.otlp import FACTORY, OtlpReceiver, OtlpReceiverConfig
from knhk_telemetry.synth import synthetic_spans


@pytest.fixture
def registry() -> Registry:
    registry = Registry()
    registry.register(FACTORY)
    registry.register(NOP)
    return registry


def _yaml(receiver: str) -> str:
    return f"""
receivers:
  otlp:
{receiver}
exporters:
  nop:
service:
  telemetry:
    metrics:
      enabled: false
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [nop]
    logs:
      receivers: [otlp]
      exporters: [nop]
"""


def test_protocol_keys_without_body_mean_defaults(registry: Registry) -> None:
    config = parse_config(_yaml("    protocols:\n      grpc:\n      http:\n"), registry=registry).receivers["otlp"]
    otlp = config.config
    assert isinstance(otlp, OtlpReceiverConfig)
    assert otlp.protocols.grpc is not None
    assert otlp.protocols.http is not None
    assert (otlp.protocols.grpc.endpoint, otlp.protocols.grpc.max_recv_msg_size_mib) == ("127.0.0.1:4317", 16)
    assert (otlp.protocols.http.endpoint, otlp.protocols.http.max_request_body_size) == ("127.0.0.1:4318", 20 * 2**20)
    assert otlp.protocols.grpc.workers == otlp.protocols.http.workers == min(4, os.cpu_count() or 1)
    assert otlp.protocols.http.cors is None
    assert (otlp.backpressure_wait, otlp.retry_delay, otlp.shutdown_grace) == (0.0, 1.0, 5.0)


def test_only_the_protocols_present_are_configured(registry: Registry) -> None:
    text = _yaml(
        "    backpressure_wait: 20ms\n    protocols:\n      http:\n        max_request_body_size: 16MiB\n"
        "        cors: {allowed_origins: ['*'], max_age: 7200}\n"
    )
    otlp = parse_config(text, registry=registry).receivers["otlp"].config
    assert isinstance(otlp, OtlpReceiverConfig)
    assert otlp.protocols.grpc is None
    assert otlp.protocols.http is not None
    assert otlp.protocols.http.max_request_body_size == 16 * 2**20
    assert otlp.protocols.http.cors is not None
    assert (otlp.protocols.http.cors.allowed_origins, otlp.protocols.http.cors.max_age) == (("*",), 7200)
    assert otlp.backpressure_wait == 0.02


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "",
            "<string>:3: receivers.otlp.protocols: names no protocol: add grpc: and/or http: "
            "(an empty key serves that protocol with its defaults)",
        ),
        (
            "    protocols:\n",
            "<string>:4: receivers.otlp.protocols: names no protocol: add grpc: and/or http: "
            "(an empty key serves that protocol with its defaults)",
        ),
        (
            "    protocols:\n      grpc: {endpoint: localhost}\n",
            "<string>:5: receivers.otlp.protocols.grpc.endpoint: invalid address 'localhost': "
            "expected host:port, e.g. 127.0.0.1:9464 or [::1]:9464",
        ),
        (
            "    protocols:\n      grpc: {endpoint: '127.0.0.1:4318'}\n      http:\n",
            "<string>:6: receivers.otlp.protocols.http.endpoint: is the same address as "
            "receivers.otlp.protocols.grpc.endpoint",
        ),
        (
            "    protocols:\n      http: {logs_url_path: /v1/traces}\n",
            "<string>:5: receivers.otlp.protocols.http.logs_url_path: is the same path as "
            "receivers.otlp.protocols.http.traces_url_path ('/v1/traces')",
        ),
        (
            "    protocols:\n      http: {metrics_url_path: v1/metrics}\n",
            "<string>:5: receivers.otlp.protocols.http.metrics_url_path: must start with '/', got 'v1/metrics'",
        ),
        (
            "    protocols:\n      websocket:\n",
            "<string>:5: receivers.otlp.protocols.websocket: unknown key",
        ),
    ],
)
def test_bad_config_names_the_key(registry: Registry, body: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_yaml(body), registry=registry)
    assert str(info.value).startswith(message)


def test_one_receiver_serves_the_signals_attached_to_it(sink_class: Any) -> None:
    config = OtlpReceiverConfig(protocols={"grpc": {"endpoint": "127.0.0.1:0"}})
    receiver = FACTORY.create("traces", CreateSettings("otlp", "traces", sink_class()), config)
    assert isinstance(receiver, OtlpReceiver)
    receiver.attach(CreateSettings("otlp", "logs", sink_class()))
    assert receiver.signals() == ("traces", "logs")
    with pytest.raises(ConfigError, match="receiver otlp already has a consumer for traces"):
        receiver.attach(CreateSettings("otlp", "traces", sink_class()))
    with pytest.raises(ConfigError, match="receiver otlp needs a next consumer for metrics"):
        receiver.attach(CreateSettings("otlp", "metrics"))
    receiver.shutdown()  # never started: safe


def test_a_service_routes_each_signal_to_its_pipeline(registry: Registry) -> None:
    text = _yaml("    protocols:\n      http: {endpoint: '127.0.0.1:0'}\n")
    service = Service(parse_config(text, registry=registry))
    receivers = {id(r): r for r in service._receivers.values()}
    assert len(receivers) == 1
    (receiver,) = receivers.values()
    assert isinstance(receiver, OtlpReceiver)
    service.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", receiver.http_port or 0, timeout=30)
        body = encode(synthetic_spans(25, seed=1))
        conn.request("POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"})
        reply = conn.getresponse()
        assert (reply.status, reply.read()) == (200, b"")
        conn.request("POST", "/v1/metrics", body=b"", headers={"Content-Type": "application/x-protobuf"})
        reply = conn.getresponse()
        reply.read()
        assert reply.status == 404  # no metrics pipeline takes from this receiver
        conn.close()
    finally:
        service.shutdown()
    assert service.pipelines["traces"].stats().exported == 25
    samples: dict[str, Any] = {
        name: value
        for name, _t, _h, labels, value in service.samples()
        if name == "knhk_telemetry_receiver_accepted_items_total" and labels.get("receiver") == "otlp"
    }
    assert samples == {"knhk_telemetry_receiver_accepted_items_total": 25.0}
