"""TelemetryPipeline: batching, the four backpressure strategies, shutdown, stats."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pytest

from knhk_telemetry.component import Component
from knhk_telemetry.errors import BackpressureError, ConfigError, PipelineClosedError
from knhk_telemetry.model.batch import SpanBatch
from knhk_telemetry.model.schema import StatusCode
from knhk_telemetry.pipeline import PipelineSettings, TelemetryPipeline
from knhk_telemetry.pipeline.pipeline import refuse_invalid_spans
from knhk_telemetry.synth import synthetic_spans


class Collect(Component):
    """Keeps every batch; can be gated so that the pipeline backs up."""

    def __init__(self, gate: threading.Event | None = None, fail: bool = False) -> None:
        super().__init__("collect")
        self.batches: list[SpanBatch] = []
        self.gate = gate
        self.fail = fail
        self.shutdowns = 0
        self.in_consume = threading.Event()

    def consume_spans(self, batch: SpanBatch) -> None:
        self.in_consume.set()
        if self.gate is not None:
            assert self.gate.wait(30)
        if self.fail:
            raise RuntimeError("backend down")
        self.batches.append(batch)

    def _shutdown(self) -> None:
        self.shutdowns += 1

    @property
    def n(self) -> int:
        return sum(len(b) for b in self.batches)

    def span_ids(self) -> list[bytes]:
        return [sid for b in self.batches for sid in b.spans.column("span_id").to_pylist()]


@pytest.fixture
def spans() -> SpanBatch:
    return synthetic_spans(1000, seed=1)


def _pipe(exporter: Component, **settings: object) -> TelemetryPipeline:
    return TelemetryPipeline(PipelineSettings(**settings), exporters=[exporter])  # type: ignore[arg-type]


def _wait_blocked(sink: Collect) -> None:
    assert sink.in_consume.wait(10)


def test_batches_by_size_and_keeps_order(spans: SpanBatch) -> None:
    sink = Collect()
    pipe = _pipe(sink, batch_size=250, flush_interval=30.0, max_batch_size=250)
    for part in spans.split(100):
        assert pipe.record_batch(part) == 100
    pipe.shutdown()
    assert [len(b) for b in sink.batches] == [250, 250, 250, 250]
    assert sink.span_ids() == spans.spans.column("span_id").to_pylist()


def test_flush_interval_sends_a_partial_batch(spans: SpanBatch) -> None:
    sink = Collect()
    pipe = _pipe(sink, batch_size=10_000, flush_interval=0.05)
    pipe.record_batch(spans.slice(0, 7))
    for _ in range(200):
        if sink.n:
            break
        threading.Event().wait(0.02)
    assert sink.n == 7  # exported before shutdown, by the interval alone
    pipe.shutdown()


def test_shutdown_drains_everything_accepted(spans: SpanBatch) -> None:
    gate = threading.Event()
    sink = Collect(gate)
    pipe = _pipe(sink, batch_size=100, channel_capacity=100_000, flush_interval=10.0)
    accepted = sum(pipe.record_batch(p) for p in spans.split(10))
    gate.set()
    pipe.shutdown()
    assert accepted == 1000
    assert sink.n == 1000
    assert sink.shutdowns == 1
    pipe.shutdown()  # idempotent
    assert sink.shutdowns == 1
    with pytest.raises(PipelineClosedError):
        pipe.record_batch(spans)


def test_block_times_out_with_a_clear_error(spans: SpanBatch) -> None:
    gate = threading.Event()
    sink = Collect(gate)
    pipe = _pipe(
        sink, batch_size=100, channel_capacity=300, backpressure="block", block_timeout=0.2, flush_interval=0.01
    )
    assert pipe.record_batch(spans.slice(0, 100)) == 100
    _wait_blocked(sink)  # the worker holds 100 items in flight
    assert pipe.record_batch(spans.slice(100, 200)) == 200
    with pytest.raises(
        BackpressureError, match=r"queue full: 300 of 300 items queued; 50 more did not fit within 0.2 s"
    ):
        pipe.record_batch(spans.slice(300, 50))
    gate.set()
    pipe.shutdown()
    st = pipe.stats()
    assert sink.n == 300
    assert st.refused == {"queue_full": 50}
    assert (st.received, st.accepted, st.exported) == (350, 300, 300)


def test_block_waits_for_room_then_succeeds(spans: SpanBatch) -> None:
    gate = threading.Event()
    sink = Collect(gate)
    pipe = _pipe(
        sink, batch_size=100, channel_capacity=200, backpressure="block", block_timeout=30, flush_interval=0.01
    )
    pipe.record_batch(spans.slice(0, 100))
    _wait_blocked(sink)
    pipe.record_batch(spans.slice(100, 100))
    threading.Timer(0.1, gate.set).start()
    assert pipe.record_batch(spans.slice(200, 100)) == 100  # waits until the exporter frees room
    pipe.shutdown()
    assert sink.n == 300


def test_drop_newest_keeps_what_fits(spans: SpanBatch) -> None:
    gate = threading.Event()
    sink = Collect(gate)
    pipe = _pipe(sink, batch_size=100, channel_capacity=250, backpressure="drop_newest", flush_interval=0.01)
    pipe.record_batch(spans.slice(0, 100))
    _wait_blocked(sink)
    assert pipe.record_batch(spans.slice(100, 100)) == 100
    assert pipe.record_batch(spans.slice(200, 100)) == 50  # only 50 fit
    assert pipe.record_batch(spans.slice(300, 100)) == 0
    gate.set()
    pipe.shutdown()
    ids = spans.spans.column("span_id").to_pylist()
    assert sink.span_ids() == ids[:250]
    assert pipe.stats().dropped == {"queue_full": 150}


def test_drop_oldest_evicts_queued_data(spans: SpanBatch) -> None:
    gate = threading.Event()
    sink = Collect(gate)
    pipe = _pipe(sink, batch_size=100, channel_capacity=300, backpressure="drop_oldest", flush_interval=0.01)
    pipe.record_batch(spans.slice(0, 100))
    _wait_blocked(sink)  # 0..99 in flight: cannot be evicted
    pipe.record_batch(spans.slice(100, 100))
    pipe.record_batch(spans.slice(200, 100))
    assert pipe.record_batch(spans.slice(300, 150)) == 150  # evicts 100..249
    gate.set()
    pipe.shutdown()
    ids = spans.spans.column("span_id").to_pylist()
    assert sink.span_ids() == ids[:100] + ids[250:450]
    assert pipe.stats().dropped == {"evicted_oldest": 150}


def test_adaptive_sampling_lowers_the_rate_and_keeps_errors() -> None:
    gate = threading.Event()
    sink = Collect(gate)
    pipe = _pipe(sink, batch_size=1000, channel_capacity=10_000, backpressure="adaptive_sampling", flush_interval=0.01)
    assert pipe._queue.sampler is not None
    pipe._queue.sampler.step_interval = 0.0  # step on every put, to make the test deterministic
    data = synthetic_spans(12_000, error_ratio=0.2, seed=3)
    parts = data.split(1000)
    pipe.record_batch(parts[0])
    _wait_blocked(sink)
    rates = []
    for part in parts[1:]:
        pipe.record_batch(part)
        rates.append(pipe.stats().sampling_rate)
    assert min(rates) < 1.0
    assert rates == sorted(rates, reverse=True)  # lowered step by step while the queue stays full
    gate.set()
    pipe.shutdown()
    exported_errors = sum(
        int((b.spans.column("status_code").to_numpy() == StatusCode.ERROR).sum()) for b in sink.batches
    )
    sent_errors = int((data.spans.column("status_code").to_numpy() == StatusCode.ERROR).sum())
    assert exported_errors == sent_errors  # errors are never sampled out
    st = pipe.stats()
    assert st.dropped["sampled_out"] > 0
    assert st.exported + st.dropped_total == 12_000
    # restored once the queue drains
    small = synthetic_spans(10, seed=9)
    pipe2 = _pipe(Collect(), backpressure="adaptive_sampling", channel_capacity=10_000)
    assert pipe2._queue.sampler is not None
    pipe2._queue.sampler.step_interval = 0.0
    pipe2._queue.sampler.level = 3
    for _ in range(3):
        pipe2.record_batch(small)
    assert pipe2.stats().sampling_rate == 1.0
    pipe2.shutdown()


def test_sampling_is_consistent_per_trace() -> None:
    from knhk_telemetry.pipeline.queue import AdaptiveSampler

    data = synthetic_spans(5000, error_ratio=0.0, seed=4)
    # the same trace ids in another batch (another service) get the same decision
    sampler = AdaptiveSampler(step_interval=0.0)
    sampler.level = 2
    mask_a = sampler.keep_mask(data)
    mask_b = sampler.keep_mask(data.filter(np.ones(len(data), dtype=bool)))
    assert mask_a is not None
    assert mask_b is not None
    assert np.array_equal(mask_a, mask_b)
    assert abs(mask_a.mean() - 0.25) < 0.03


def test_end_before_start_is_refused_and_counted() -> None:
    data = synthetic_spans(10, seed=5)
    spans = data.spans
    start = spans.column("start_time_unix_nano").to_numpy().copy()
    end = spans.column("end_time_unix_nano").to_numpy().copy()
    end[[2, 7]] = start[[2, 7]] - 1
    i = spans.schema.get_field_index("end_time_unix_nano")
    bad = data.with_table("spans", spans.set_column(i, spans.schema.field(i), pa.array(end)))
    kept, rejected = refuse_invalid_spans(bad)
    assert len(kept) == 8
    assert rejected.counts == {"end_before_start": 2}
    assert "(row 2)" in rejected.messages[0]
    assert "is before start_time_unix_nano" in rejected.messages[0]
    sink = Collect()
    pipe = _pipe(sink)
    assert pipe.record_batch(bad) == 8
    pipe.record_batch(data)  # the pipeline keeps running
    pipe.shutdown()
    st = pipe.stats()
    assert (st.received, st.accepted, st.exported, st.refused) == (20, 18, 18, {"end_before_start": 2})


def test_exporter_failure_is_counted_and_others_still_get_data(spans: SpanBatch) -> None:
    good, bad = Collect(), Collect(fail=True)
    pipe = TelemetryPipeline(PipelineSettings(batch_size=500), exporters=[bad, good])
    pipe.record_batch(spans)
    pipe.shutdown()
    assert good.n == 1000
    assert pipe.stats().export_failures == 1000  # items the failing exporter did not take


def test_processors_run_in_order_and_can_drop(spans: SpanBatch) -> None:
    sink = Collect()
    errors_only = lambda b: b.filter(b.spans.column("status_code").to_numpy() == StatusCode.ERROR)  # noqa: E731
    pipe = TelemetryPipeline(PipelineSettings(batch_size=1000), exporters=[sink], processors=[errors_only])
    pipe.record_batch(spans)
    pipe.shutdown()
    n_err = int((spans.spans.column("status_code").to_numpy() == StatusCode.ERROR).sum())
    assert sink.n == n_err
    st = pipe.stats()
    assert st.processed == 1000
    assert st.dropped == {"processor": 1000 - n_err}


def test_latency_percentiles_come_from_a_distribution(spans: SpanBatch) -> None:
    pipe = _pipe(Collect(), batch_size=10, flush_interval=1.0)
    for part in spans.split(10):
        pipe.record_batch(part)
    pipe.shutdown()
    st = pipe.stats()
    assert st.batches == 100
    assert st.latency_count == 100
    assert 0 < st.latency_p50_s <= st.latency_p95_s <= st.latency_p99_s


def test_builder_sets_every_knob() -> None:
    sink = Collect()
    pipe = (
        TelemetryPipeline.builder()
        .with_batch_size(1000)
        .with_flush_interval(0.1)
        .with_channel_capacity(50_000)
        .with_backpressure("drop_oldest")
        .with_exporter(sink)
        .with_name("api")
        .build()
    )
    s = pipe.settings
    assert (s.batch_size, s.flush_interval, s.channel_capacity, s.backpressure) == (1000, 0.1, 50_000, "drop_oldest")
    assert pipe.stats().queue_capacity == 50_000
    pipe.shutdown()


@pytest.mark.parametrize(
    ("knob", "value", "message"),
    [
        ("batch_size", 0, "batch_size: must be > 0 items, got 0"),
        ("flush_interval", -1.0, "flush_interval: must be > 0 seconds, got -1.0"),
        ("backpressure", "yolo", "backpressure: unknown strategy 'yolo'"),
    ],
)
def test_bad_settings_name_the_knob(knob: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        PipelineSettings(**{knob: value}).validate()  # type: ignore[arg-type]


def test_async_record_batch(spans: SpanBatch) -> None:
    sink = Collect()
    pipe = _pipe(sink, batch_size=100)

    async def main() -> int:
        return sum([await pipe.arecord_batch(p) for p in spans.split(100)])

    assert asyncio.run(main()) == 1000
    pipe.shutdown()
    assert sink.n == 1000


def test_concurrent_producers_lose_nothing() -> None:
    sink = Collect()
    pipe = _pipe(sink, batch_size=512, channel_capacity=2000, backpressure="block", block_timeout=30)
    data = [synthetic_spans(3000, seed=i) for i in range(4)]

    def produce(b: SpanBatch) -> None:
        for part in b.split(50):
            pipe.record_batch(part)

    threads = [threading.Thread(target=produce, args=(b,)) for b in data]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pipe.shutdown()
    assert sink.n == 12_000
    assert sorted(sink.span_ids()) == sorted(sid for b in data for sid in b.spans.column("span_id").to_pylist())


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    before = {t.name for t in threading.enumerate()}
    yield
    leaked = [t for t in threading.enumerate() if t.name.startswith("knhk-pipeline") and t.name not in before]
    for t in leaked:
        t.join(5)
    assert not [t for t in leaked if t.is_alive()]


def test_all_zero_ids_are_refused() -> None:
    data = synthetic_spans(6, seed=6)
    spans = data.spans
    tid = spans.column("trace_id").to_pylist()
    sid = spans.column("span_id").to_pylist()
    tid[1] = bytes(16)
    sid[4] = bytes(8)
    tid[5], sid[5] = bytes(16), bytes(8)  # counted once, for the first rule it breaks
    spans = spans.set_column(1, spans.schema.field(1), pa.array(tid, spans.schema.field(1).type))
    spans = spans.set_column(2, spans.schema.field(2), pa.array(sid, spans.schema.field(2).type))
    kept, rejected = refuse_invalid_spans(data.with_table("spans", spans))
    assert rejected.counts == {"invalid_trace_id": 2, "invalid_span_id": 1}
    assert rejected.messages[0].endswith("(row 1): trace_id is all zeroes")
    assert kept.spans.column("span_id").to_pylist() == [sid[0], sid[2], sid[3]]


def test_memory_limit_refuses_with_hysteresis(spans: SpanBatch) -> None:
    from knhk_telemetry.errors import MemoryLimitError
    from knhk_telemetry.pipeline.memory import MemoryLimiter

    usage = [100]
    limiter = MemoryLimiter(1000, spike_bytes=200, usage=lambda: usage[0])
    sink = Collect()
    pipe = TelemetryPipeline(PipelineSettings(), exporters=[sink], memory_limiter=limiter)
    assert limiter.check() is False
    assert pipe.record_batch(spans.slice(0, 10)) == 10
    usage[0] = 1001
    assert limiter.check() is True
    with pytest.raises(MemoryLimitError, match="memory limit: 0 MiB resident, limit 0 MiB"):
        pipe.record_batch(spans.slice(10, 10))
    usage[0] = 900  # under the limit but inside the spike band: still refusing
    assert limiter.check() is True
    usage[0] = 799
    assert limiter.check() is False
    assert pipe.record_batch(spans.slice(20, 10)) == 10
    pipe.shutdown()
    assert pipe.stats().refused == {"memory_limit": 10}
    assert sink.n == 20


def _zero_trace_id(data: SpanBatch, row: int) -> SpanBatch:
    """``data`` with the trace id of span ``row`` all zeroes."""
    spans = data.spans
    tid = spans.column("trace_id").to_pylist()
    tid[row] = bytes(16)
    return data.with_table(
        "spans", spans.set_column(1, spans.schema.field(1), pa.array(tid, spans.schema.field(1).type))
    )


def test_record_batch_reports_refusals_to_the_caller() -> None:
    from knhk_telemetry.model.rejections import Rejections

    rejected = Rejections()
    pipe = _pipe(Collect())
    assert pipe.record_batch(_zero_trace_id(synthetic_spans(4, seed=8), 2), rejections=rejected) == 3
    pipe.shutdown()
    assert rejected.counts == {"invalid_trace_id": 1}


def test_all_zero_ids_found_in_slices_and_chunks() -> None:
    data = synthetic_spans(12, seed=7)
    bad = _zero_trace_id(data, 9)
    # a slice (the id column starts at an offset) and a chunked concat see the same span
    kept, rejected = refuse_invalid_spans(bad.slice(5))
    assert rejected.counts == {"invalid_trace_id": 1}
    assert rejected.messages[0].endswith("(row 4): trace_id is all zeroes")
    assert len(kept) == 6
    kept, rejected = refuse_invalid_spans(SpanBatch.concat([data, bad], combine=False))
    assert rejected.counts == {"invalid_trace_id": 1}
    assert "(row 21)" in rejected.messages[0]
    assert len(kept) == 23
