"""Stream benchmark: keyed windows with percentiles, events/s on one core.

    python bench/stream.py [--events 10000000] [--baseline-events 500000] [--json bench/results/stream.json]

Data: ``--events`` spans from 50 services x 500 operations (25,000 keys), built with numpy as
span batches of 1M spans, each batch covering the next 10 s of event time in random order
(so the stream is out of order within a batch; ``out_of_orderness`` is 10 s). Every scenario
runs ``StreamProcessor.process`` over the batches and ``flush`` at the end, grouped by
``service.name, span.name``, with count/errors/duration sum/min/max and p50/p95/p99:

- windows_tumbling: 10 s tumbling windows;
- windows_sliding: 30 s windows sliding by 10 s (panes merged at fire time);
- windows_session: sessions with a 1 s gap per key (about 4 spans per key and second).

The baseline is the straightforward pure-Python per-event implementation (a dict of duration
lists per window and key, sorted when the window closes) on ``--baseline-events`` events taken
evenly from every batch (it is too slow for all of them), tumbling 10 s windows with the same keys and
percentiles. Event rates are spans per second of wall time in this single thread; the build
of the batches is not timed. Each scenario is a function returning a dict, collected in
``RESULTS`` under its name, so more sections (CEP) can be added beside these.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from knhk_telemetry.model import schema as S
from knhk_telemetry.model.batch import SpanBatch
from knhk_telemetry.model.schema import SpanKind, StatusCode, ValueType
from knhk_telemetry.stream import StreamProcessor
from knhk_telemetry.stream.processor import WindowConfig
from knhk_telemetry.stream.windows import Session, Sliding, Tumbling, WindowSpec

SERVICES = 50
OPERATIONS = 500
SEC = 1_000_000_000
T0 = 1_700_000_000 * SEC
BATCH = 1_000_000
BATCH_SPAN_NS = 10 * SEC
GROUP_BY = ("service.name", "span.name")
RESULTS: dict[str, dict[str, Any]] = {}


def _dict(indices: np.ndarray[Any, Any], values: list[str]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int32)), pa.array(values, pa.string()))


def build_batch(n: int, t_start: int, rng: np.random.Generator) -> tuple[SpanBatch, dict[str, np.ndarray[Any, Any]]]:
    """``n`` spans, sorted by service (the batch invariant), event times random in 10 s."""
    svc = np.sort(rng.integers(0, SERVICES, n))
    op = rng.integers(0, OPERATIONS, n)
    end = (t_start + rng.integers(0, BATCH_SPAN_NS, n)).astype(np.uint64)
    dur = np.exp(rng.normal(np.log(20e6), 1.0, n)).astype(np.uint64) + 1
    err = rng.random(n) < 0.02
    ids = rng.integers(0, 256, (n, 24), dtype=np.uint8)
    resources = pa.table(
        {
            "schema_url": pa.array([""] * SERVICES),
            "dropped_attributes_count": pa.array(np.zeros(SERVICES, np.uint32)),
            "entity_refs": pa.nulls(SERVICES, S.RESOURCES.field("entity_refs").type),
        },
        schema=S.RESOURCES,
    )
    resource_attributes = pa.table(
        {
            "row": pa.array(np.arange(SERVICES, dtype=np.int32)),
            "key": _dict(np.zeros(SERVICES), ["service.name"]),
            "type": pa.array(np.full(SERVICES, ValueType.STRING, np.int8)),
            "str": _dict(np.arange(SERVICES), [f"service-{i}" for i in range(SERVICES)]),
            "int": pa.nulls(SERVICES, S.ATTRIBUTES.field("int").type),
            "double": pa.nulls(SERVICES, S.ATTRIBUTES.field("double").type),
            "bool": pa.nulls(SERVICES, pa.bool_()),
            "bytes": pa.nulls(SERVICES, pa.binary()),
        },
        schema=S.ATTRIBUTES,
    )
    scopes = pa.table(
        {
            "resource": pa.array(np.arange(SERVICES, dtype=np.int32)),
            "name": pa.array(["bench"] * SERVICES),
            "version": pa.array([""] * SERVICES),
            "dropped_attributes_count": pa.array(np.zeros(SERVICES, np.uint32)),
            "schema_url": pa.array([""] * SERVICES),
        },
        schema=S.SCOPES,
    )
    spans = pa.Table.from_arrays(
        [
            pa.array(svc.astype(np.int32)),
            pa.FixedSizeBinaryArray.from_buffers(S.TRACE_ID, n, [None, pa.py_buffer(ids[:, :16].tobytes())]),
            pa.FixedSizeBinaryArray.from_buffers(S.SPAN_ID, n, [None, pa.py_buffer(ids[:, 16:].tobytes())]),
            pa.nulls(n, pa.string()),
            pa.nulls(n, S.SPAN_ID),
            pa.array(np.full(n, 1, np.uint32)),
            _dict(op, [f"op-{j}" for j in range(OPERATIONS)]),
            pa.array(np.full(n, SpanKind.SERVER, np.int8)),
            pa.array(end - dur),
            pa.array(end),
            pa.array(np.zeros(n, np.uint32)),
            pa.array(np.zeros(n, np.uint32)),
            pa.array(np.zeros(n, np.uint32)),
            pa.array(np.where(err, StatusCode.ERROR, StatusCode.UNSET).astype(np.int8)),
            pa.nulls(n, pa.string()),
        ],
        schema=S.SPANS,
    )
    batch = SpanBatch(
        {"resources": resources, "resource_attributes": resource_attributes, "scopes": scopes, "spans": spans},
        check=False,
    )
    return batch, {"svc": svc, "op": op, "end": end.astype(np.int64), "dur": dur.astype(np.int64), "err": err}


def build(events: int, seed: int = 0) -> tuple[list[SpanBatch], list[dict[str, np.ndarray[Any, Any]]]]:
    rng = np.random.default_rng(seed)
    batches, raw = [], []
    for i in range(math.ceil(events / BATCH)):
        b, r = build_batch(min(BATCH, events - i * BATCH), T0 + i * BATCH_SPAN_NS, rng)
        batches.append(b)
        raw.append(r)
    return batches, raw


def _run_windows(window: WindowSpec, batches: list[SpanBatch]) -> dict[str, Any]:
    cfg = WindowConfig(window=window, out_of_orderness=BATCH_SPAN_NS)
    proc = StreamProcessor(cfg, group_by=GROUP_BY)
    n = sum(len(b) for b in batches)
    t0 = time.perf_counter()
    for b in batches:
        proc.process(b)
    proc.flush()
    elapsed = time.perf_counter() - t0
    results = proc.get_results()
    return {
        "events": n,
        "seconds": round(elapsed, 3),
        "events_per_s": round(n / elapsed),
        "results": results.num_rows,
        "late_events": proc.stats["late_events"],
        "counted": int(sum(results.column("count").to_pylist())),
    }


def windows_tumbling(batches: list[SpanBatch]) -> dict[str, Any]:
    return _run_windows(Tumbling(10 * SEC), batches)


def windows_sliding(batches: list[SpanBatch]) -> dict[str, Any]:
    return _run_windows(Sliding(30 * SEC, 10 * SEC), batches)


def windows_session(batches: list[SpanBatch]) -> dict[str, Any]:
    return _run_windows(Session(SEC), batches)


def _pct(sorted_values: list[int], q: float) -> int:
    return sorted_values[max(1, math.ceil(q * len(sorted_values))) - 1]


def _close(ws: int, keys: dict[tuple[str, str], list[Any]], out: list[dict[str, Any]]) -> None:
    for key, (durs, errs) in keys.items():
        durs.sort()
        n = len(durs)
        total = sum(durs)
        out.append(
            {
                "start": ws,
                "key": key,
                "count": n,
                "errors": errs,
                "error_rate": errs / n,
                "sum": total,
                "avg": total / n,
                "min": durs[0],
                "max": durs[-1],
                "p50": _pct(durs, 0.5),
                "p95": _pct(durs, 0.95),
                "p99": _pct(durs, 0.99),
            }
        )


def baseline_python_tumbling(raw: list[dict[str, np.ndarray[Any, Any]]], events: int) -> dict[str, Any]:
    """Per-event Python: dict of lists per (window, key), sorted when the watermark closes the window.

    Runs on ``events`` spans taken evenly from every batch (so windows do close on the way).
    """
    size = 10 * SEC
    per = max(1, events // len(raw))
    rows = []
    for r in raw:  # to Python objects first (not timed: a Python source would already have them)
        rows.extend(
            zip(
                (f"service-{s}" for s in r["svc"][:per].tolist()),
                (f"op-{o}" for o in r["op"][:per].tolist()),
                r["end"][:per].tolist(),
                r["dur"][:per].tolist(),
                r["err"][:per].tolist(),
                strict=True,
            )
        )
    out: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    state: dict[int, dict[tuple[str, str], list[Any]]] = {}
    max_ts = -(2**63)
    for svc, op, ts, dur, err in rows:
        start = ts - ts % size
        w = state.setdefault(start, {})
        acc = w.get((svc, op))
        if acc is None:
            acc = w[(svc, op)] = [[], 0]
        acc[0].append(dur)
        acc[1] += err
        if ts > max_ts:
            max_ts = ts
            wm = max_ts - BATCH_SPAN_NS - 1
            for ws in [s for s in state if s + size - 1 <= wm]:
                _close(ws, state.pop(ws), out)
    for ws in sorted(state):
        _close(ws, state[ws], out)
    elapsed = time.perf_counter() - t0
    return {
        "events": len(rows),
        "seconds": round(elapsed, 3),
        "events_per_s": round(len(rows) / elapsed),
        "results": len(out),
        "note": f"pure-Python baseline on {len(rows)} events ({per} from each batch): too slow for all",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--baseline-events", type=int, default=500_000)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    t0 = time.perf_counter()
    batches, raw = build(args.events)
    print(f"built {args.events} spans in {time.perf_counter() - t0:.1f} s")
    # warm-up: compile/load the numba kernels outside the timed runs
    warm, _ = build(20_000)
    _run_windows(Tumbling(10 * SEC), warm)
    _run_windows(Session(SEC // 10), warm)
    scenarios: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("windows_tumbling", lambda: windows_tumbling(batches)),
        ("windows_sliding", lambda: windows_sliding(batches)),
        ("windows_session", lambda: windows_session(batches)),
        ("windows_baseline_python", lambda: baseline_python_tumbling(raw, args.baseline_events)),
    ]
    for name, fn in scenarios:
        RESULTS[name] = fn()
        print(f"{name:28s} {RESULTS[name]['events_per_s']:>12,} events/s  {RESULTS[name]}")
    base = RESULTS["windows_baseline_python"]["events_per_s"]
    RESULTS["windows_tumbling"]["speedup_vs_python"] = round(RESULTS["windows_tumbling"]["events_per_s"] / base, 1)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(RESULTS, indent=2) + "\n")


if __name__ == "__main__":
    main()
