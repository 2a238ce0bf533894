"""Decode benchmark: the compiled OTLP decoder (``otlp.fast``) against the reference.

    python bench/decode.py [--requests 20] [--repeats 5] [--no-cold] [--json bench/results/decode.json]

Decode-only throughput in items per second of CPU time (``time.process_time``, so one core),
the median of ``--repeats`` runs over the same ``--requests`` requests of 1000 spans
(8 attributes each, a realistic resource: ``synth.synthetic_spans``) encoded with
``otlp.proto.encode_traces``; the ratio fast/reference is printed. Logs and metrics use
requests built from the test strategies' example shapes. Then the time ``warmup()`` takes in
a fresh process, cold (empty cache directory: everything compiles) and warm (cache present).

The phases of one traces decode are timed separately (the row count, the checked fill
kernel including the count and the boxing of its output, Arrow assembly; and, for
reference, the exact validator that only runs on bad input), because numba frames are
opaque to py-spy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from knhk_telemetry.otlp import fast, proto
from knhk_telemetry.otlp.fast import _batch, _traces
from knhk_telemetry.otlp.fast._schema import SCHEMA
from knhk_telemetry.synth import synthetic_spans

SPANS_PER_REQUEST = 1000


def _trace_requests(n: int) -> list[bytes]:
    return [proto.encode_traces(synthetic_spans(SPANS_PER_REQUEST, seed=i)) for i in range(n)]


def _log_requests(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        records = [
            LogRecord(
                time_unix_nano=1_700_000_000_000_000_000 + k,
                severity_number=9,  # type: ignore[arg-type]  # SEVERITY_NUMBER_INFO
                severity_text="INFO",
                body=AnyValue(string_value=f"request {k % 50} handled"),
                attributes=[
                    KeyValue(key="http.route", value=AnyValue(string_value="/api/orders")),
                    KeyValue(key="http.response.status_code", value=AnyValue(int_value=200 + k % 3)),
                    KeyValue(key="duration", value=AnyValue(double_value=k * 0.5)),
                ],
                trace_id=(k + i).to_bytes(16, "big"),
                span_id=(k + 1).to_bytes(8, "big"),
            )
            for k in range(SPANS_PER_REQUEST)
        ]
        resource = Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="checkout"))])
        req = ExportLogsServiceRequest(
            resource_logs=[ResourceLogs(resource=resource, scope_logs=[ScopeLogs(log_records=records)])]
        )
        out.append(req.SerializeToString())
    return out


def _rate(decoder: Callable[[bytes], Any], payloads: list[bytes], repeats: int) -> float:
    """Median items per CPU second over ``repeats`` passes over ``payloads``."""
    decoder(payloads[0])
    rates = []
    for _ in range(repeats):
        t0 = time.process_time()
        items = 0
        for p in payloads:
            items += len(decoder(p).batch)
        rates.append(items / (time.process_time() - t0))
    return statistics.median(rates)


def _phases(payload: bytes, rounds: int = 50) -> dict[str, float]:
    """Median microseconds of each phase of one traces decode."""
    arr = _batch.as_array(payload)
    args = (arr, SCHEMA.kind, SCHEMA.wire, SCHEMA.child, _batch.TRACE_TIDS)
    out: dict[str, list[float]] = {"count": [], "kernel": [], "total": [], "exact validator (bad input only)": []}
    for _ in range(rounds):
        t0 = time.process_time()
        _traces.count_traces(arr)
        t1 = time.process_time()
        _traces.decode_traces_kernel(*args)
        t2 = time.process_time()
        fast.decode_traces(payload)
        t3 = time.process_time()
        _batch.validated("traces", arr)
        t4 = time.process_time()
        out["count"].append(t1 - t0)
        out["kernel"].append(t2 - t1)
        out["total"].append(t3 - t2)
        out["exact validator (bad input only)"].append(t4 - t3)
    med = {k: statistics.median(v) * 1e6 for k, v in out.items()}
    med["arrow+python"] = med["total"] - med["kernel"]
    return med


def _warmup_seconds(cache_root: str | None) -> float:
    """``warmup()`` in a fresh interpreter, with the cache under ``cache_root`` (default: the usual)."""
    env = dict(os.environ)
    if cache_root is not None:
        env["KNHK_TELEMETRY_CACHE_DIR"] = cache_root
    code = "from knhk_telemetry.otlp import fast; print(fast.warmup())"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-cold", action="store_true", help="skip the cold (full compile) warmup")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    results: dict[str, Any] = {}
    fast.warmup()
    traces = _trace_requests(args.requests)
    logs = _log_requests(max(2, args.requests // 4))
    print(f"traces: {args.requests} requests x {SPANS_PER_REQUEST} spans, {len(traces[0])} bytes each")
    for signal, payloads, fast_fn, ref_fn in (
        ("traces", traces, fast.decode_traces, proto.decode_traces),
        ("logs", logs, fast.decode_logs, proto.decode_logs),
    ):
        f = _rate(fast_fn, payloads, args.repeats)
        r = _rate(ref_fn, payloads, max(1, args.repeats // 2))
        results[signal] = {"fast_items_per_s": f, "reference_items_per_s": r, "ratio": f / r}
        print(f"{signal:7s} fast {f:12,.0f}/s   reference {r:10,.0f}/s   ratio {f / r:6.1f}x")
    phases = _phases(traces[0])
    results["traces_phases_us"] = phases
    print("traces phases per 1000-span request (us): " + ", ".join(f"{k} {v:.0f}" for k, v in phases.items()))
    warm = _warmup_seconds(None)
    results["warmup_warm_s"] = warm
    print(f"warmup, warm cache: {warm:.2f} s")
    if not args.no_cold:
        with tempfile.TemporaryDirectory() as tmp:
            cold = _warmup_seconds(tmp)
        results["warmup_cold_s"] = cold
        print(f"warmup, cold cache: {cold:.2f} s")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
