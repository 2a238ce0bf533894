"""Live-check benchmark: spans validated per CPU second against the full semconv registry.

    python bench/semconv.py [--spans 200000] [--repeats 7] [--json bench/results/semconv.json]

- throughput: ``LiveChecker.check_spans`` over 1000-span batches of ``synthetic_spans`` (8 HTTP
  semconv attributes each, 5 services), against the packaged OpenTelemetry semconv registry;
  spans per CPU second of this (single) thread, the median of ``--repeats`` passes over all
  batches. The first pass warms the verdict cache, as a running pipeline does after its first batch.
- latency: one ``check_spans`` call on a 10k-span batch, repeated; median and p99 of the
  CPU time per call.
- with_findings: the same throughput on batches where every span also carries an unknown key
  (``app.unknown``) and a deprecated one (``http.method``), so every span gets findings to gather.

Targets (issue 4): >= 1M spans/s per core, < 50 ms per 10k-span batch.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from knhk_telemetry.model.batch import SpanBatch
from knhk_telemetry.semconv.livecheck import LiveChecker
from knhk_telemetry.semconv.loader import load_registry
from knhk_telemetry.synth import synthetic_spans


def _with_findings(batch: SpanBatch) -> SpanBatch:
    """``batch`` with two more attributes per span: ``app.unknown`` and ``http.method`` (deprecated)."""
    n = len(batch)
    extra = pa.table(
        {
            "row": pa.array(np.repeat(np.arange(n, dtype=np.int32), 2)),
            "key": pa.array(np.tile(["app.unknown", "http.method"], n)).dictionary_encode(),
            "type": pa.array(np.full(2 * n, 1, np.int8)),
            "str": pa.array(np.tile(["x", "BREW"], n)).dictionary_encode(),
        }
    )
    attrs = batch.table("span_attributes")
    merged = pa.concat_tables([attrs, extra], promote_options="default")
    order = np.argsort(merged.column("row").to_numpy(), kind="stable")
    return batch.with_table("span_attributes", merged.take(pa.array(order)).combine_chunks())


def throughput(checker: LiveChecker, batches: list[SpanBatch], repeats: int) -> float:
    """Median spans per CPU second of one pass over ``batches``."""
    n = sum(len(b) for b in batches)
    for b in batches:
        checker.check_spans(b)
    rates = []
    for _ in range(repeats):
        c0 = time.thread_time()
        for b in batches:
            checker.check_spans(b)
        rates.append(n / (time.thread_time() - c0))
    return statistics.median(rates)


def latency(checker: LiveChecker, batch: SpanBatch, repeats: int) -> tuple[float, float]:
    """(median, p99) CPU milliseconds of one check of ``batch``."""
    checker.check_spans(batch)
    times = []
    for _ in range(repeats):
        c0 = time.thread_time()
        checker.check_spans(batch)
        times.append((time.thread_time() - c0) * 1e3)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    t0 = time.perf_counter()
    registry = load_registry(["semconv"]).registry
    load_s = time.perf_counter() - t0
    checker = LiveChecker(registry)
    batches = synthetic_spans(args.spans).split(1000)
    rate = throughput(checker, batches, args.repeats)
    rate_findings = throughput(checker, [_with_findings(b) for b in batches], args.repeats)
    median_ms, p99_ms = latency(checker, synthetic_spans(10_000, seed=1), max(100, args.repeats))
    result: dict[str, Any] = {
        "registry_load_s": round(load_s, 3),
        "spans_per_cpu_s_1000": round(rate),
        "spans_per_cpu_s_1000_with_findings": round(rate_findings),
        "ms_per_10k_batch_median": round(median_ms, 2),
        "ms_per_10k_batch_p99": round(p99_ms, 2),
        "targets": {"spans_per_cpu_s": 1_000_000, "ms_per_10k_batch": 50},
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
