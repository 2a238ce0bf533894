"""Encoder benchmark: OTLP protobuf encode throughput, compiled (fastenc) vs reference.

    python bench/encode.py [--spans 1000] [--batches 20] [--repeats 5] [--json PATH]

Batches of ``--spans`` synthetic spans with 8 attributes each (``synthetic_spans``); each
rate is spans per CPU second of this process (``time.process_time``, so one core's worth),
the median of ``--repeats`` runs; both encoders run in the same process on the same batches,
so the ratio survives a noisy machine. The kernels are warmed (compiled or loaded) first and
that time is reported apart.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from knhk_telemetry.model.batch import SpanBatch
from knhk_telemetry.otlp import fastenc, proto
from knhk_telemetry.synth import synthetic_spans


def rate(encode: Callable[[SpanBatch], bytes], batches: list[SpanBatch], repeats: int) -> float:
    """Median spans per CPU second over ``repeats`` passes over ``batches``."""
    n = sum(len(b) for b in batches)
    rates = []
    for _ in range(repeats):
        c0 = time.process_time()
        for b in batches:
            encode(b)
        rates.append(n / (time.process_time() - c0))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=1000, help="spans per batch")
    parser.add_argument("--batches", type=int, default=20, help="batches per run (fast encoder: 10x)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()

    warm = fastenc.warmup()
    batches = [synthetic_spans(args.spans, attributes_per_span=8, seed=i) for i in range(args.batches)]
    for b in batches:  # same bytes, or the numbers mean nothing
        if fastenc.encode_traces(b) != proto.encode_traces(b):
            raise SystemExit("fastenc and the reference disagree")
    fast = rate(fastenc.encode_traces, batches * 10, args.repeats)
    ref = rate(proto.encode_traces, batches, args.repeats)
    size = len(proto.encode_traces(batches[0]))
    result = {
        "spans_per_batch": args.spans,
        "attributes_per_span": 8,
        "request_bytes": size,
        "warmup_s": round(warm, 3),
        "fastenc_spans_per_cpu_s": round(fast),
        "reference_spans_per_cpu_s": round(ref),
        "ratio": round(fast / ref, 1),
        "fastenc_mb_per_cpu_s": round(fast / args.spans * size / 1e6, 1),
    }
    print(f"warmup (compile or cache load): {warm:.2f} s")
    print(f"request: {args.spans} spans, {size} bytes")
    print(f"fastenc:   {fast:>12,.0f} spans/s per core ({result['fastenc_mb_per_cpu_s']} MB/s)")
    print(f"reference: {ref:>12,.0f} spans/s per core")
    print(f"ratio:     {fast / ref:.1f}x")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
