"""Decode benchmark: the compiled OTLP decoder (``otlp.fast``) against the reference.

    python bench/decode.py [--requests 20] [--repeats 5] [--no-cold] [--json bench/results/decode.json]

Decode-only throughput in items per second of CPU time (``time.process_time``, so one core),
the median of ``--repeats`` runs over the same ``--requests`` requests of 1000 spans
(8 attributes each, a realistic resource: ``synth.synthetic_spans``) encoded with
``otlp.proto.encode_traces``; the ratio fast/reference is printed. Logs and metrics use
requests built from the test strategies' example shapes. Then the time ``warmup()`` takes in
a fresh process, cold (empty cache directory: everything compiles) and warm (cache present).

The kernels' byte helpers are timed against the simpler versions they replaced, defined here
and compiled the same way (``--no-helpers`` skips that): ``gather`` (strings of 8000 rows,
most empty, as an attribute table's bytes column) against a copy call per row, ``bitmap``
(8000 flags) against a bit-by-bit loop, ``same_bytes`` (attribute keys and values) against a
word-then-byte loop.

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


def _helper_rates(repeats: int) -> dict[str, dict[str, float]]:
    """Nanoseconds per row of the kernels' byte helpers and of the baselines they replaced."""
    import numba
    import numpy as np

    from knhk_telemetry.otlp.fast import _common
    from knhk_telemetry.otlp.fast._wire import u8

    @numba.njit(nogil=True)
    def copy_call(src: Any, s: int, dst: Any, d: int, n: int) -> None:
        for k in range(n):
            dst[d + k] = src[s + k]

    @numba.njit(nogil=True)
    def gather_per_row(data: Any, starts: Any, lens: Any, n: int) -> Any:
        offsets = np.empty(n + 1, dtype=np.int32)
        total = 0
        for i in range(n):
            offsets[i] = total
            total += lens[i]
        offsets[n] = total
        out = np.empty(total, dtype=np.uint8)
        for i in range(n):
            copy_call(data, starts[i], out, offsets[i], lens[i])
        return offsets, out

    @numba.njit(nogil=True)
    def bitmap_bitwise(valid: Any, n: int) -> Any:
        out = np.zeros((n + 7) // 8, dtype=np.uint8)
        nulls = 0
        for i in range(n):
            if valid[i]:
                out[i >> 3] |= np.uint8(1 << (i & 7))
            else:
                nulls += 1
        return out, nulls

    @numba.njit(nogil=True, inline="always")
    def same_bytes_loop(data: Any, a: int, b: int, n: int) -> bool:
        k = 0
        while k + 8 <= n:
            if _common.read_fixed64(data, a + k) != _common.read_fixed64(data, b + k):
                return False
            k += 8
        while k < n:
            if u8(data, a + k) != u8(data, b + k):
                return False
            k += 1
        return True

    @numba.njit(nogil=True)
    def compare_all(data: Any, starts: Any, lens: Any, other: int, fast_version: bool) -> int:
        same = 0
        for i in range(starts.shape[0]):
            a, n = starts[i], lens[i]
            ok = _common.same_bytes(data, a, a + other, n) if fast_version else same_bytes_loop(data, a, a + other, n)
            same += ok
        return same

    n = 8000
    data = np.frombuffer(b"x" * 4096, dtype=np.uint8)
    starts = np.zeros(n, dtype=np.int64)
    lens = ((np.arange(n) % 8) == 7).astype(np.int64) * 12  # one bytes value in 8 rows
    lens[: n // 2] = 0  # and half the table none
    valid = np.tile(np.array([1, 1, 0, 1, 1, 0, 1, 1], dtype=np.uint8), n // 8)
    words = [b"http.request.method", b"GET", b"http.route", b"/api/orders/{id}", b"http.response.status_code",
             b"url.scheme", b"https", b"server.address", b"api.example.com", b"1.1"]  # fmt: skip
    blob = b"".join(words)
    text = np.frombuffer(blob * 2, dtype=np.uint8)
    offs = np.cumsum([0] + [len(w) for w in words])
    rng = np.random.default_rng(0)
    pick = rng.integers(0, len(words), n)
    w_starts, w_lens = offs[:-1][pick].astype(np.int64), np.diff(offs)[pick].astype(np.int64)

    def ns(fn: Callable[[], Any]) -> float:
        fn()
        runs = []
        for _ in range(repeats):
            t0 = time.process_time()
            for _ in range(200):
                fn()
            runs.append((time.process_time() - t0) / 200 / n * 1e9)
        return statistics.median(runs)

    rows = {
        "gather": (lambda: _common.gather(data, starts, lens, n), lambda: gather_per_row(data, starts, lens, n)),
        "bitmap": (lambda: _common.bitmap(valid, n), lambda: bitmap_bitwise(valid, n)),
        "same_bytes": (
            lambda: compare_all(text, w_starts, w_lens, len(blob), True),
            lambda: compare_all(text, w_starts, w_lens, len(blob), False),
        ),
    }
    out = {}
    for name, (new, old) in rows.items():
        a, b = ns(new), ns(old)
        out[name] = {"ns_per_row": a, "baseline_ns_per_row": b, "ratio": a / b}
    return out


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
    parser.add_argument("--no-helpers", action="store_true", help="skip the byte helpers against their baselines")
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
    if not args.no_helpers:
        helpers = _helper_rates(args.repeats)
        results["helpers"] = helpers
        for name, row in helpers.items():
            print(
                f"helper {name:10s} {row['ns_per_row']:6.2f} ns/row, baseline {row['baseline_ns_per_row']:6.2f} "
                f"ns/row ({row['ratio']:.2f}x)"
            )
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
