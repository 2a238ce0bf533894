"""The nop exporter: counts items and batches per signal, keeps nothing."""

from __future__ import annotations

import threading

from knhk_telemetry.component import CreateSettings
from knhk_telemetry.exporters.nop import FACTORY, NopConfig, NopExporter
from knhk_telemetry.model import schema as S
from knhk_telemetry.model.batch import LogBatch, MetricBatch, SpanBatch
from knhk_telemetry.model.values import TableBuilder


def spans(n: int) -> SpanBatch:
    resources = TableBuilder(S.RESOURCES)
    resources.append()
    scopes = TableBuilder(S.SCOPES)
    scopes.append(resource=0)
    table = TableBuilder(S.SPANS)
    for i in range(n):
        table.append(scope=0, trace_id=bytes(16), span_id=i.to_bytes(8, "big"))
    return SpanBatch({"resources": resources.build(), "scopes": scopes.build(), "spans": table.build()})


def logs(n: int) -> LogBatch:
    resources = TableBuilder(S.RESOURCES)
    resources.append()
    scopes = TableBuilder(S.SCOPES)
    scopes.append(resource=0)
    table = TableBuilder(S.LOGS)
    for _ in range(n):
        table.append(scope=0, body_type=1, body_str="x")
    return LogBatch({"resources": resources.build(), "scopes": scopes.build(), "logs": table.build()})


def test_counts_items_and_batches_per_signal() -> None:
    exporter = NopExporter("nop", NopConfig())
    exporter.consume_spans(spans(3))
    exporter.consume_spans(spans(2))
    exporter.consume_logs(logs(4))
    exporter.consume_metrics(MetricBatch.empty())
    assert exporter.counts("traces") == (5, 2)
    assert exporter.counts("metrics") == (0, 1)
    assert exporter.counts("logs") == (4, 1)


def test_self_metrics() -> None:
    exporter = NopExporter("nop/bench", NopConfig())
    exporter.consume(spans(7))
    assert [(name, kind, labels, value) for name, kind, _, labels, value in exporter.self_metrics()] == [
        ("knhk_telemetry_exporter_sent_items_total", "counter", {"exporter": "nop/bench", "signal": "traces"}, 7.0),
        ("knhk_telemetry_exporter_sent_batches_total", "counter", {"exporter": "nop/bench", "signal": "traces"}, 1.0),
        ("knhk_telemetry_exporter_sent_items_total", "counter", {"exporter": "nop/bench", "signal": "metrics"}, 0.0),
        ("knhk_telemetry_exporter_sent_batches_total", "counter", {"exporter": "nop/bench", "signal": "metrics"}, 0.0),
        ("knhk_telemetry_exporter_sent_items_total", "counter", {"exporter": "nop/bench", "signal": "logs"}, 0.0),
        ("knhk_telemetry_exporter_sent_batches_total", "counter", {"exporter": "nop/bench", "signal": "logs"}, 0.0),
    ]


def test_counts_stay_exact_when_pipelines_share_the_instance() -> None:
    exporter = NopExporter("nop", NopConfig())
    batch = spans(10)

    def feed() -> None:
        for _ in range(500):
            exporter.consume_spans(batch)

    threads = [threading.Thread(target=feed) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert exporter.counts("traces") == (20_000, 2_000)


def test_factory_and_lifecycle() -> None:
    assert (FACTORY.type, FACTORY.kind, FACTORY.shared) == ("nop", "exporter", True)
    assert FACTORY.signals() == ("traces", "metrics", "logs")
    assert FACTORY.default_config() == NopConfig()
    exporter = FACTORY.create("logs", CreateSettings("nop/a", "logs"), FACTORY.default_config())
    assert isinstance(exporter, NopExporter)
    exporter.shutdown()  # safe without start
    exporter.start()
    exporter.shutdown()
    exporter.shutdown()
    exporter.consume_logs(logs(1))  # keeps nothing, so nothing to refuse
    assert exporter.counts("logs") == (1, 1)
