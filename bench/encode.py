"""Encoder benchmark: OTLP protobuf encode throughput, compiled (fastenc) vs reference.

    python bench/encode.py [--spans 1000] [--points 1000] [--batches 20] [--repeats 5] [--json PATH]

Traces: batches of ``--spans`` synthetic spans with 8 attributes each (``synthetic_spans``).
Metrics: batches of ``--points`` data points shaped like an SDK's export, built from
``Metric`` edge objects: 4 services, each with a request-duration histogram (16 buckets,
one exemplar per point), an exponential histogram (20 buckets), a monotonic int counter, an
up-down int sum and a double gauge, points with 3 attributes (method, route, status); the
mix is reported as a whole and per metric type. Each rate is items (spans or points) per CPU
second of this process (``time.process_time``, so one core's worth), the median of
``--repeats`` runs; both encoders run in the same process on the same batches, so the ratio
survives a noisy machine. The kernels are warmed (compiled or loaded) first and that time is
reported apart.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from knhk_telemetry.model import edge
from knhk_telemetry.model.batch import Batch, MetricBatch
from knhk_telemetry.model.schema import AggregationTemporality, MetricType
from knhk_telemetry.otlp import fastenc, proto
from knhk_telemetry.synth import synthetic_spans

#: share of each metric type among the points of a mixed batch
MIX: dict[MetricType, float] = {
    MetricType.HISTOGRAM: 0.3,
    MetricType.EXPONENTIAL_HISTOGRAM: 0.1,
    MetricType.SUM: 0.4,
    MetricType.GAUGE: 0.2,
}
_METHODS = ("GET", "POST", "PUT", "DELETE")
_ROUTES = tuple(f"/api/v1/resource{i}/{{id}}" for i in range(16))
_STATUS = (200, 201, 204, 400, 404, 500)
_T0 = 1_700_000_000_000_000_000


def _point_attributes(rng: np.random.Generator) -> dict[str, Any]:
    return {
        "http.request.method": _METHODS[rng.integers(len(_METHODS))],
        "http.route": _ROUTES[rng.integers(len(_ROUTES))],
        "http.response.status_code": _STATUS[rng.integers(len(_STATUS))],
    }


def _point(kind: MetricType, rng: np.random.Generator, t: int) -> edge.DataPoint:
    attributes = _point_attributes(rng)
    start = _T0 - 60_000_000_000
    if kind == MetricType.HISTOGRAM:
        counts = [int(c) for c in rng.integers(0, 500, len(edge.DEFAULT_HISTOGRAM_BOUNDS) + 1)]
        exemplar = edge.Exemplar(
            time_unix_nano=t,
            value=float(rng.gamma(2.0, 40.0)),
            trace_id=rng.bytes(16),
            span_id=rng.bytes(8),
            filtered_attributes={"user.id": f"u{rng.integers(1000)}"},
        )
        return edge.HistogramDataPoint(
            count=sum(counts),
            sum=float(rng.gamma(2.0, 40.0)) * sum(counts),
            bucket_counts=counts,
            explicit_bounds=list(edge.DEFAULT_HISTOGRAM_BOUNDS),
            min=0.1,
            max=float(rng.uniform(1000.0, 9000.0)),
            attributes=attributes,
            start_time_unix_nano=start,
            time_unix_nano=t,
            exemplars=[exemplar],
        )
    if kind == MetricType.EXPONENTIAL_HISTOGRAM:
        counts = [int(c) for c in rng.integers(0, 300, 20)]
        return edge.ExponentialHistogramDataPoint(
            count=sum(counts) + 2,
            sum=float(rng.gamma(2.0, 40.0)) * sum(counts),
            scale=3,
            zero_count=2,
            positive=edge.ExponentialBuckets(int(rng.integers(-5, 40)), counts),
            min=0.0,
            max=float(rng.uniform(100.0, 900.0)),
            attributes=attributes,
            start_time_unix_nano=start,
            time_unix_nano=t,
        )
    if kind == MetricType.SUM:
        return edge.NumberDataPoint(
            value=int(rng.integers(0, 10**9)), attributes=attributes, start_time_unix_nano=start, time_unix_nano=t
        )
    return edge.NumberDataPoint(value=float(rng.uniform(0.0, 1.0)), attributes=attributes, time_unix_nano=t)


def metric_batch(n_points: int, seed: int, mix: dict[MetricType, float] | None = None) -> MetricBatch:
    """``n_points`` SDK-like data points (see the module docstring), types shared as in ``mix``."""
    rng = np.random.default_rng(seed)
    shares = MIX if mix is None else mix
    metrics: list[edge.Metric] = []
    services = 4
    names = {
        MetricType.HISTOGRAM: ("http.server.request.duration", "ms"),
        MetricType.EXPONENTIAL_HISTOGRAM: ("messaging.process.duration", "ms"),
        MetricType.SUM: ("http.server.requests", "{request}"),
        MetricType.GAUGE: ("process.cpu.utilization", "1"),
    }
    t = _T0
    for s in range(services):
        resource = edge.Resource(
            {"service.name": f"svc-{s}", "service.version": "1.4.2", "host.name": f"node-{s}", "os.type": "linux"}
        )
        scope = edge.InstrumentationScope("io.opentelemetry.http", "1.30.0")
        for kind, share in shares.items():
            n = round(n_points * share / services)
            name, unit = names[kind]
            sums = kind == MetricType.SUM
            points = [_point(kind, rng, t + k) for k in range(n)]
            metrics.append(
                edge.Metric(
                    name,
                    kind,
                    points,
                    unit=unit,
                    description=f"{name} of the service",
                    aggregation_temporality=AggregationTemporality.CUMULATIVE if kind != MetricType.GAUGE else 0,
                    is_monotonic=sums,
                    resource=resource,
                    scope=scope,
                )
            )
    return edge.metrics_to_batch(metrics)


def rate(encode: Callable[[Any], bytes], batches: Sequence[Batch], repeats: int) -> float:
    """Median items per CPU second over ``repeats`` passes over ``batches``."""
    n = sum(len(b) for b in batches)
    rates = []
    for _ in range(repeats):
        c0 = time.process_time()
        for b in batches:
            encode(b)
        rates.append(n / (time.process_time() - c0))
    return statistics.median(rates)


def compare(
    fast: Callable[[Any], bytes], ref: Callable[[Any], bytes], batches: Sequence[Batch], repeats: int
) -> tuple[float, float, int]:
    """``(fast rate, reference rate, bytes of the first request)``, after checking both
    encoders write the same bytes (or the numbers mean nothing)."""
    for b in batches:
        if fast(b) != ref(b):
            raise SystemExit("fastenc and the reference disagree")
    return rate(fast, list(batches) * 10, repeats), rate(ref, batches, repeats), len(ref(batches[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=1000, help="spans per batch")
    parser.add_argument("--points", type=int, default=1000, help="metric data points per batch")
    parser.add_argument("--batches", type=int, default=20, help="batches per run (fast encoder: 10x)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()

    warm = fastenc.warmup()
    print(f"warmup (compile or cache load): {warm:.2f} s")

    spans = [synthetic_spans(args.spans, attributes_per_span=8, seed=i) for i in range(args.batches)]
    fast, ref, size = compare(fastenc.encode_traces, proto.encode_traces, spans, args.repeats)
    result: dict[str, Any] = {
        "spans_per_batch": args.spans,
        "attributes_per_span": 8,
        "request_bytes": size,
        "warmup_s": round(warm, 3),
        "fastenc_spans_per_cpu_s": round(fast),
        "reference_spans_per_cpu_s": round(ref),
        "ratio": round(fast / ref, 1),
        "fastenc_mb_per_cpu_s": round(fast / args.spans * size / 1e6, 1),
    }
    print(f"traces: {args.spans} spans, {size} bytes per request")
    print(f"  fastenc:   {fast:>12,.0f} spans/s per core ({result['fastenc_mb_per_cpu_s']} MB/s)")
    print(f"  reference: {ref:>12,.0f} spans/s per core")
    print(f"  ratio:     {fast / ref:.1f}x")

    mixes: dict[str, dict[MetricType, float] | None] = {
        "mixed": None,
        "histogram": {MetricType.HISTOGRAM: 1.0},
        "exponential_histogram": {MetricType.EXPONENTIAL_HISTOGRAM: 1.0},
        "sum": {MetricType.SUM: 1.0},
        "gauge": {MetricType.GAUGE: 1.0},
    }
    metrics: dict[str, Any] = {"points_per_batch": args.points}
    print(f"metrics: {args.points} points per request (points/s per core)")
    print(f"  {'':<22}{'fastenc':>12}{'reference':>12}{'ratio':>8}{'bytes':>9}{'MB/s':>8}")
    for label, mix in mixes.items():
        batches = [metric_batch(args.points, seed=i, mix=mix) for i in range(args.batches)]
        fast, ref, size = compare(fastenc.encode_metrics, proto.encode_metrics, batches, args.repeats)
        mb = fast / len(batches[0]) * size / 1e6
        metrics[label] = {
            "request_bytes": size,
            "fastenc_points_per_cpu_s": round(fast),
            "reference_points_per_cpu_s": round(ref),
            "ratio": round(fast / ref, 1),
            "fastenc_mb_per_cpu_s": round(mb, 1),
        }
        print(f"  {label:<22}{fast:>12,.0f}{ref:>12,.0f}{fast / ref:>7.1f}x{size:>9}{mb:>8.1f}")
    result["metrics"] = metrics

    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
