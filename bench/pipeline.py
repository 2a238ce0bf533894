"""Pipeline benchmark: record_batch and record_span throughput, memory per queued span.

    python bench/pipeline.py [--spans 2000000] [--repeats 5] [--json bench/results/pipeline.json]

Each throughput is the median of ``--repeats`` runs, reported beside a baseline measured in
the same process on the same data, so the ratio survives a noisy machine:

- record_batch: 1000-span batches through queue -> batcher (8192) -> ``nop`` exporter; the
  baseline hands the same batches from this thread to a consumer thread through a plain
  ``queue.Queue`` (the least any threaded pipeline must do).
- record_span: ``Span`` objects one at a time through the same pipeline; the baseline only
  appends them to a list.
- batcher parts, per 1000-span request as the OTLP receiver decodes it (its own string
  dictionaries): ``SpanBatch.concat`` of 8 requests keeping chunks (what the batcher does)
  against combining them (dictionary unification); the refusal check of ``record_batch``
  (``refuse_invalid_spans``) against the same check with a per-byte all-zero test.
- memory: RSS growth per span while batches of 1000 synthetic spans (8 attributes each) are
  built and held queued behind a blocked exporter, divided by the number of spans queued.
"""

from __future__ import annotations

import argparse
import gc
import json
import queue
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from knhk_telemetry.component import Component
from knhk_telemetry.exporters.nop import NopConfig, NopExporter
from knhk_telemetry.model.batch import SpanBatch
from knhk_telemetry.model.edge import batch_to_spans
from knhk_telemetry.otlp import proto
from knhk_telemetry.pipeline import PipelineSettings, TelemetryPipeline
from knhk_telemetry.pipeline.pipeline import refuse_invalid_spans
from knhk_telemetry.synth import synthetic_spans


def _pipeline(exporter: Component, capacity: int = 100_000) -> TelemetryPipeline:
    return TelemetryPipeline(PipelineSettings(batch_size=8192, channel_capacity=capacity), exporters=[exporter])


def record_batch_rate(batches: list[SpanBatch]) -> tuple[float, float]:
    """(spans per wall second, spans per CPU second of the whole process, all threads)."""
    n = sum(len(b) for b in batches)
    pipe = _pipeline(NopExporter("nop", NopConfig()))
    t0, c0 = time.perf_counter(), time.process_time()
    for b in batches:
        pipe.record_batch(b)
    pipe.shutdown()
    return n / (time.perf_counter() - t0), n / (time.process_time() - c0)


def queue_baseline_rate(batches: list[SpanBatch]) -> float:
    n = sum(len(b) for b in batches)
    q: queue.Queue[SpanBatch | None] = queue.Queue(maxsize=100)
    seen = [0]

    def consume() -> None:
        while (b := q.get()) is not None:
            seen[0] += len(b)

    t = threading.Thread(target=consume)
    t0 = time.perf_counter()
    t.start()
    for b in batches:
        q.put(b)
    q.put(None)
    t.join()
    assert seen[0] == n
    return n / (time.perf_counter() - t0)


def record_span_rate(spans: list[Any]) -> float:
    pipe = _pipeline(NopExporter("nop", NopConfig()))
    t0 = time.perf_counter()
    for s in spans:
        pipe.record_span(s)
    pipe.shutdown()
    assert pipe.stats().exported == len(spans)
    return len(spans) / (time.perf_counter() - t0)


def list_append_rate(spans: list[Any]) -> float:
    out: list[Any] = []
    t0 = time.perf_counter()
    for s in spans:
        out.append(s)
    return len(spans) / (time.perf_counter() - t0)


class _Blocked(Component):
    def __init__(self) -> None:
        super().__init__("blocked")
        self.gate = threading.Event()

    def consume_spans(self, batch: SpanBatch) -> None:
        self.gate.wait()


def bytes_per_queued_span(n: int) -> float:
    gc.collect()
    proc = psutil.Process()
    sink = _Blocked()
    pipe = TelemetryPipeline(
        PipelineSettings(batch_size=1000, channel_capacity=n + 1000, flush_interval=0.01), exporters=[sink]
    )
    rss0 = proc.memory_info().rss
    for i in range(n // 1000):
        pipe.record_batch(synthetic_spans(1000, seed=i, start_ns=1_700_000_000_000_000_000 + i))
    gc.collect()
    queued = pipe.stats().queue_depth
    rss1 = proc.memory_info().rss
    sink.gate.set()
    pipe.shutdown()
    return (rss1 - rss0) / queued


def _seconds(fn: Any, repeats: int, number: int = 20) -> float:
    """Median seconds of one call of ``fn`` over ``repeats`` timings of ``number`` calls."""
    fn()
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - t0) / number)
    return statistics.median(runs)


def _bytewise_refusal_check(batch: SpanBatch) -> int:
    """The baseline: all-zero ids found with a per-byte ``any`` (what ``_all_zero`` did)."""
    spans = batch.spans
    bad = 0
    for name in ("trace_id", "span_id"):
        arr = spans.column(name).combine_chunks()
        width = arr.type.byte_width
        raw = np.frombuffer(arr.buffers()[1], dtype=np.uint8)[arr.offset * width : (arr.offset + len(arr)) * width]
        bad += int((~raw.reshape(-1, width).any(axis=1)).sum())
    start = spans.column("start_time_unix_nano").to_numpy()
    end = spans.column("end_time_unix_nano").to_numpy()
    return bad + int((end < start).sum())


def batcher_costs(repeats: int) -> dict[str, float]:
    """Microseconds per 1000-span request of the batcher's concat and the refusal check."""
    requests = [
        proto.decode_traces(proto.encode_traces(synthetic_spans(1000, services=8, attributes_per_span=8, seed=s))).batch
        for s in range(100, 108)
    ]
    per_request = 1e6 / len(requests)
    out = {
        "concat_chunked_us_per_request": _seconds(lambda: SpanBatch.concat(requests, combine=False), repeats)
        * per_request,
        "concat_combined_us_per_request": _seconds(lambda: SpanBatch.concat(requests), repeats) * per_request,
        "refusal_check_us_per_request": _seconds(lambda: refuse_invalid_spans(requests[0]), repeats, 200) * 1e6,
        "bytewise_refusal_check_us_per_request": _seconds(lambda: _bytewise_refusal_check(requests[0]), repeats, 200)
        * 1e6,
    }
    out["concat_chunked_vs_combined"] = out["concat_chunked_us_per_request"] / out["concat_combined_us_per_request"]
    out["refusal_check_vs_bytewise"] = (
        out["refusal_check_us_per_request"] / out["bytewise_refusal_check_us_per_request"]
    )
    return {k: round(v, 3) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spans", type=int, default=2_000_000)
    ap.add_argument("--span-objects", type=int, default=100_000)
    ap.add_argument("--memory-spans", type=int, default=500_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    batches = synthetic_spans(args.spans, seed=1).split(1000)
    spans = batch_to_spans(synthetic_spans(args.span_objects, seed=2))
    runs: dict[str, list[float]] = {
        k: [] for k in ("record_batch", "record_batch_cpu", "queue_baseline", "record_span", "list_append")
    }
    for _ in range(args.repeats):
        wall, cpu = record_batch_rate(batches)
        runs["record_batch"].append(wall)
        runs["record_batch_cpu"].append(cpu)
        runs["queue_baseline"].append(queue_baseline_rate(batches))
        runs["record_span"].append(record_span_rate(spans))
        runs["list_append"].append(list_append_rate(spans))
    med = {k: statistics.median(v) for k, v in runs.items()}
    memory = bytes_per_queued_span(args.memory_spans)
    batcher = batcher_costs(args.repeats)
    result = {
        "record_batch_spans_per_s": round(med["record_batch"]),
        "record_batch_spans_per_cpu_s": round(med["record_batch_cpu"]),
        "queue_baseline_spans_per_s": round(med["queue_baseline"]),
        "record_batch_vs_queue_baseline": round(med["record_batch"] / med["queue_baseline"], 3),
        "record_span_spans_per_s": round(med["record_span"]),
        "list_append_spans_per_s": round(med["list_append"]),
        "record_span_vs_list_append": round(med["record_span"] / med["list_append"], 4),
        "bytes_per_queued_span": round(memory, 1),
        "batcher": batcher,
        "repeats": args.repeats,
        "spans": args.spans,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
