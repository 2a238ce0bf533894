"""CEP benchmark: events/s per core for 10 rules, beside a plain-Python per-event baseline.

    python bench/stream_cep.py [--events 4000000] [--batch 100000] [--baseline-events 300000]
                               [--json bench/results/stream_cep.json]

Data: synthetic spans from 50 services x 500 operations (``synth.synthetic_spans`` with the
span names replaced by 500 operations), 2% errors, log-normal durations around 20 ms, event
times advancing 1 s per batch of ``--batch`` spans (unordered within a batch).

Rules (``RULES``): 7 threshold rules (count and rate, partitioned by service or by service x
operation, some with attribute and regex matchers), an ``any``, a ``followed_by`` (an error
followed by a slow span of the same operation within 1 s) and a heartbeat ``absence`` per
service. Measured: the 10 rules together, and the 7 threshold rules alone, on one thread
(``time.process_time``, so "per core"); the batches are built before timing.

Baseline: the same 10 rules written the straightforward way, one Python loop over the
events with a dict of deques per rule (``baseline()``), on the first ``--baseline-events``
events (it is too slow for millions); the columns are converted to Python lists before
timing. Both sides count the alerts they raise: equal counts on the same data are not
expected (the engine's sliding windows step by ``resolution``, the baseline slides per
event), so the table shows both.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import defaultdict, deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from knhk_telemetry.model.batch import SpanBatch
from knhk_telemetry.stream.cep import (
    Absence,
    AnyOf,
    CepEngine,
    CountThreshold,
    FollowedBy,
    RateThreshold,
    Rule,
)
from knhk_telemetry.stream.cep import EventMatcher as M
from knhk_telemetry.stream.cep._columns import BatchView
from knhk_telemetry.synth import synthetic_spans

SERVICES, OPERATIONS = 50, 500
NS = 1_000_000_000
START = 1_700_000_000 * NS
OPS = [f"op-{i:03d}" for i in range(OPERATIONS)]


def make_batches(events: int, batch: int, seed: int = 0) -> list[SpanBatch]:
    """``events`` spans in batches of ``batch``, each batch covering the next second."""
    rng = np.random.default_rng(seed)
    out = []
    for i, start in enumerate(range(0, events, batch)):
        n = min(batch, events - start)
        b = synthetic_spans(
            n,
            services=SERVICES,
            attributes_per_span=3,
            error_ratio=0.02,
            start_ns=START + i * NS,
            spread_ns=NS,
            seed=seed + i,
        )
        names = pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, OPERATIONS, n).astype(np.int32)), pa.array(OPS))
        spans = b.spans.set_column(b.spans.schema.get_field_index("name"), "name", names)
        out.append(b.with_table("spans", spans))
    return out


def threshold_rules() -> list[Rule]:
    err = M.status("error")
    return [
        Rule("errors-per-service", CountThreshold(err, count=300, within=10), partition_by="service"),
        Rule("errors-per-op", CountThreshold(err, count=5, within=10), partition_by=("service", "name")),
        Rule("slow-per-service", CountThreshold(M.duration(">", 0.1), count=500, within=10), partition_by="service"),
        Rule(
            "5xx-per-service",
            CountThreshold(M.attr("http.response.status_code", ">=", 500), count=400, within=30),
            partition_by="service",
        ),
        Rule("error-rate", RateThreshold(threshold=0.03, within=10, min_count=100), partition_by="service"),
        Rule(
            "error-rate-op",
            RateThreshold(threshold=0.2, within=30, min_count=20),
            partition_by=("service", "name"),
        ),
        Rule(
            "post-orders",
            CountThreshold(M.name_is("op-007") & M.attr("http.route", "regex", "^/api/orders"), count=50, within=10),
            partition_by="service",
        ),
    ]


def all_rules() -> list[Rule]:
    return [
        *threshold_rules(),
        Rule("panic", AnyOf((M.name_is("op-013") & M.status("error"),)), partition_by="service", suppress_for=60),
        Rule(
            "error-then-slow",
            FollowedBy(M.status("error"), M.duration(">", 0.3), within=1),
            partition_by=("service", "name"),
        ),
        Rule("heartbeat", Absence(M.everything(), within=5), partition_by="service"),
    ]


def run_engine(batches: list[SpanBatch], rules: Callable[[], list[Rule]]) -> tuple[float, int]:
    """(events per CPU second, alerts)."""
    engine = CepEngine(rules())
    n = sum(len(b) for b in batches)
    c0 = time.process_time()
    alerts = 0
    for b in batches:
        alerts += len(engine.process(b))
    alerts += len(engine.flush())
    return n / (time.process_time() - c0), alerts


def to_python(batches: list[SpanBatch]) -> list[tuple[int, str, str, int, int, int, str]]:
    """(time, service, name, status, duration_ns, http status, route) per span, for the baseline."""
    rows = []
    for b in batches:
        v = BatchView(b)
        idx = np.arange(v.n)
        service = v.field("service", idx)
        codes = v.span_value("http.response.status_code")
        routes = v.span_value("http.route")
        names = v.field("name", idx)
        rows.extend(
            zip(
                v.time.tolist(),
                [service.values[c] for c in service.codes.tolist()],
                [names.values[c] for c in names.codes.tolist()],
                v.status.tolist(),
                v.duration.tolist(),
                [codes.values[c] if c >= 0 else 0 for c in codes.codes.tolist()],
                [routes.values[c] if c >= 0 else "" for c in routes.codes.tolist()],
                strict=True,
            )
        )
    return rows  # type: ignore[return-value]


def baseline(rows: list[tuple[int, str, str, int, int, int, str]]) -> tuple[float, int]:
    """The same 10 rules, per event, dict of deques (events per CPU second, alerts)."""
    s10, s30, s1, s5 = 10 * NS, 30 * NS, NS, 5 * NS
    counts: dict[str, defaultdict[Any, deque[int]]] = {k: defaultdict(deque) for k in ("e", "eo", "slow", "5xx", "po")}
    rates: dict[str, defaultdict[Any, deque[tuple[int, bool]]]] = {k: defaultdict(deque) for k in ("r", "ro")}
    rate_errors: dict[str, defaultdict[Any, int]] = {k: defaultdict(int) for k in ("r", "ro")}
    last_error: dict[Any, int] = {}
    last_seen: dict[str, int] = {}
    panic_last: dict[str, int] = {}
    route_rx = re.compile("^/api/orders")
    alerts = 0

    def count(name: str, key: Any, t: int, window: int, n: int) -> int:
        dq = counts[name][key]
        dq.append(t)
        while dq[0] <= t - window:
            dq.popleft()
        if len(dq) >= n:
            dq.clear()
            return 1
        return 0

    def rate(name: str, key: Any, t: int, err: bool, window: int, threshold: float, min_count: int) -> int:  # noqa: PLR0917 - a hot closure; keywords would slow the baseline
        dq = rates[name][key]
        dq.append((t, err))
        errors = rate_errors[name]
        errors[key] += err
        while dq[0][0] <= t - window:
            errors[key] -= dq.popleft()[1]
        if len(dq) >= min_count and errors[key] > threshold * len(dq):
            dq.clear()
            errors[key] = 0
            return 1
        return 0

    c0 = time.process_time()
    for i, (t, service, name, status, duration, code, route) in enumerate(rows):
        err = status == 2
        op = (service, name)
        if err:
            alerts += count("e", service, t, s10, 300) + count("eo", op, t, s10, 5)
        if duration > 100_000_000:
            alerts += count("slow", service, t, s10, 500)
        if code >= 500:
            alerts += count("5xx", service, t, s30, 400)
        alerts += rate("r", service, t, err, s10, 0.03, 100) + rate("ro", op, t, err, s30, 0.2, 20)
        if name == "op-007" and route_rx.search(route):
            alerts += count("po", service, t, s10, 50)
        if name == "op-013" and err and t - panic_last.get(service, -(1 << 62)) >= 60 * NS:
            panic_last[service] = t
            alerts += 1
        if duration > 300_000_000 and t - last_error.get(op, -(1 << 62)) <= s1:
            del last_error[op]
            alerts += 1
        if err:
            last_error[op] = t
        last_seen[service] = t
        if i % 10_000 == 0:
            silent = [k for k, v in last_seen.items() if v + s5 < t]
            alerts += len(silent)
            for k in silent:
                del last_seen[k]
    return len(rows) / (time.process_time() - c0), alerts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=4_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--baseline-events", type=int, default=300_000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    t0 = time.perf_counter()
    batches = make_batches(args.events, args.batch)
    built = time.perf_counter() - t0
    n = sum(len(b) for b in batches)
    print(
        f"{n:,} spans ({SERVICES} services x {OPERATIONS} operations) in {len(batches)} batches, built in {built:.1f}s"
    )

    run_engine(batches[:2], all_rules)  # warm-up (imports, first allocations)
    all_rate, all_alerts = run_engine(batches, all_rules)
    thr_rate, thr_alerts = run_engine(batches, threshold_rules)

    subset, total = [], 0
    for b in batches:
        if total >= args.baseline_events:
            break
        subset.append(b)
        total += len(b)
    rows = to_python(subset)
    base_rate, base_alerts = baseline(rows)
    sub_rate, sub_alerts = run_engine(subset, all_rules)

    results = {
        "events": n,
        "batch": args.batch,
        "engine_10_rules_events_per_s": round(all_rate),
        "engine_10_rules_alerts": all_alerts,
        "engine_7_threshold_rules_events_per_s": round(thr_rate),
        "engine_7_threshold_rules_alerts": thr_alerts,
        "baseline_events": len(rows),
        "baseline_10_rules_events_per_s": round(base_rate),
        "baseline_10_rules_alerts": base_alerts,
        "engine_10_rules_on_baseline_subset_events_per_s": round(sub_rate),
        "engine_10_rules_on_baseline_subset_alerts": sub_alerts,
    }
    print(f"{'':42} {'events/s/core':>14} {'alerts':>8}")
    print(f"{'engine, 10 rules, ' + format(n, ',') + ' events':42} {all_rate:14,.0f} {all_alerts:8}")
    print(f"{'engine, 7 threshold rules':42} {thr_rate:14,.0f} {thr_alerts:8}")
    print(f"{'engine, 10 rules, first ' + format(len(rows), ',') + ' events':42} {sub_rate:14,.0f} {sub_alerts:8}")
    print(f"{'baseline (Python per event), same subset':42} {base_rate:14,.0f} {base_alerts:8}")
    print(f"speed-up on the subset: {sub_rate / base_rate:.1f}x")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
