"""The service graph: receivers fan out to pipelines, shared exporters, drain on shutdown."""

from __future__ import annotations

import time
from pathlib import Path

from knhk_telemetry.config import parse_config
from knhk_telemetry.exporters.nop import NopExporter
from knhk_telemetry.otlp.json import encode_json
from knhk_telemetry.pipeline.service import Service, pipeline_settings
from knhk_telemetry.synth import synthetic_spans


def _config(tmp_path: Path) -> str:
    return f"""
receivers:
  otlpjsonfile: {{include: ["{tmp_path}/*.jsonl"], poll_interval: 20ms}}
processors:
  batch/small: {{send_batch_size: 100, send_batch_max_size: 200, timeout: 50ms}}
exporters:
  nop/a: {{}}
  nop/b: {{}}
service:
  pipeline: {{channel_capacity: 5000, batch_size: 1000}}
  pipelines:
    traces/a: {{receivers: [otlpjsonfile], processors: [batch/small], exporters: [nop/a]}}
    traces/b: {{receivers: [otlpjsonfile], exporters: [nop/a, nop/b]}}
"""


def test_a_receiver_feeds_every_pipeline_and_shutdown_drains(tmp_path: Path) -> None:
    cfg = parse_config(_config(tmp_path))
    batch = synthetic_spans(3000, seed=21)
    (tmp_path / "in.jsonl").write_bytes(b"".join(encode_json(p) + b"\n" for p in batch.split(300)))
    service = Service(cfg)
    service.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if all(p.stats().accepted == 3000 for p in service.pipelines.values()):
            break
        time.sleep(0.02)
    service.shutdown()
    service.shutdown()  # idempotent
    a = service._exporters[("nop/a", "traces")]
    b = service._exporters[("nop/b", "traces")]
    assert isinstance(a, NopExporter)
    assert isinstance(b, NopExporter)
    assert a.counts("traces")[0] == 6000  # nop/a serves both pipelines: one instance
    assert b.counts("traces")[0] == 3000
    assert [p.stats().exported for p in service.pipelines.values()] == [3000, 3000]


def test_batch_processor_overrides_the_service_knobs(tmp_path: Path) -> None:
    cfg = parse_config(_config(tmp_path))
    a = pipeline_settings(cfg, cfg.service.pipelines["traces/a"])
    b = pipeline_settings(cfg, cfg.service.pipelines["traces/b"])
    assert (a.batch_size, a.max_batch_size, a.flush_interval, a.channel_capacity) == (100, 200, 0.05, 5000)
    assert (b.batch_size, b.max_batch_size, b.flush_interval, b.channel_capacity) == (1000, 0, 0.2, 5000)


def test_samples_cover_pipelines_and_components(tmp_path: Path) -> None:
    service = Service(parse_config(_config(tmp_path)))
    names = {s[0] for s in service.samples()}
    assert "knhk_telemetry_pipeline_queue_capacity_items" in names
    assert "knhk_telemetry_exporter_sent_items_total" in names
    assert any(n.startswith("knhk_telemetry_receiver_") for n in names)
    labels = {s[3].get("pipeline") for s in service.samples() if s[0].startswith("knhk_telemetry_pipeline_")}
    assert labels == {"traces/a", "traces/b"}
    service.shutdown()


def test_connectors_join_pipelines_and_flush_before_downstream_drains(tmp_path: Path) -> None:
    """A traces -> logs connector: its shutdown flush still reaches the logs pipeline."""
    from knhk_telemetry.component import REGISTRY, Component, ComponentConfig, CreateSettings, Factory, Registry
    from knhk_telemetry.model.batch import SpanBatch
    from knhk_telemetry.model.edge import LogEntry, logs_to_batch

    class CountConnector(Component):
        def __init__(self, settings: CreateSettings) -> None:
            super().__init__(settings.component_id)
            assert settings.next_consumer is not None
            self.emit = settings.next_consumer
            self.seen = 0

        def consume_spans(self, batch: SpanBatch) -> None:
            self.seen += len(batch)

        def _shutdown(self) -> None:
            self.emit(logs_to_batch([LogEntry(body=f"spans seen: {self.seen}", time_unix_nano=1)]))

    registry = Registry()
    for factory in REGISTRY.all():
        registry.register(factory)
    registry.register(
        Factory(
            "count",
            "connector",
            ComponentConfig,
            {"traces": lambda s, c: CountConnector(s)},
            connects=(("traces", "logs"),),
        )
    )
    cfg = parse_config(
        f"""
receivers:
  otlpjsonfile: {{include: ["{tmp_path}/*.jsonl"], poll_interval: 20ms}}
exporters:
  file: {{path: "{tmp_path}/logs.jsonl"}}
connectors:
  count: {{}}
service:
  pipelines:
    traces: {{receivers: [otlpjsonfile], exporters: [count]}}
    logs: {{receivers: [count], exporters: [file]}}
""",
        registry=registry,
    )
    (tmp_path / "in.jsonl").write_bytes(encode_json(synthetic_spans(700, seed=2)) + b"\n")
    service = Service(cfg)
    service.start()
    deadline = time.monotonic() + 30
    while service.pipelines["traces"].stats().accepted < 700 and time.monotonic() < deadline:
        time.sleep(0.02)
    service.shutdown()
    from knhk_telemetry.exporters.file import read_otlp_json_lines
    from knhk_telemetry.otlp.json import decode_json

    bodies = [
        decode_json(signal, line).batch.logs.column("body_str").to_pylist()
        for signal, line in read_otlp_json_lines(tmp_path / "logs.jsonl")
    ]
    assert bodies == [["spans seen: 700"]]
    assert service.pipelines["logs"].stats().exported == 1
