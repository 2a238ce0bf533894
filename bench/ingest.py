"""Ingest benchmark: OTLP decode speed, and end-to-end throughput and latency of the service.

    python bench/ingest.py [--duration 10] [--concurrency 4] [--profile] [--json bench/results/ingest.json]

Everything runs on this machine, side by side, and lands in one JSON file:

(a) decode only: spans per CPU-second of one core (``time.process_time``) of the reference
    decoder (``otlp.proto.decode_traces``, a walk over opentelemetry-proto objects) and of the
    compiled one (``otlp.fast.decode_traces``) when that module exists, over 1000-span
    requests: ``synth`` (8 attributes per span and a realistic resource, as ``synthetic_spans``
    builds them) and ``traces`` (the load generator's trace trees: several services and scopes,
    events, 3-11 attributes per span).
(b) end to end: ``knhk-telemetry run`` with the ``otlp`` receiver (gRPC on a free loopback
    port) -> pipeline -> ``nop`` exporter, in its own process, driven by the load generator
    from this process. ``max``: closed loop for ``--duration`` seconds; reported are the
    accepted spans/s, spans per CPU-second of the *server* process (psutil, measured until the
    pipeline has exported everything accepted), its peak RSS (VmHWM), and the load
    generator's own CPU use (the two share this machine's cores: if their sum is near
    100 % × cores, the machine, not the server, was the limit). ``half``: a fresh server, open
    loop at half the max accepted rate; request latency seen by the load generator (measured
    from each send's scheduled time) and the pipeline's batch latency quantiles from the
    server's ``/metrics`` (acceptance of a batch's oldest item to export, which includes the
    batcher's wait: ``batch_size`` / ``flush_interval`` are recorded beside it; the server's
    window of recent batches also holds the 1 s warm-up).

``--profile`` records the server with py-spy during the max run (a flame graph SVG, or
``--profile-format speedscope``) under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from knhk_telemetry.loadgen import LoadConfig, LoadReport, RequestPool, run_load
from knhk_telemetry.loadgen.traces import topology
from knhk_telemetry.model.rejections import Decoded
from knhk_telemetry.otlp import encode_traces
from knhk_telemetry.otlp.proto import decode_traces as reference_decode
from knhk_telemetry.receivers.otlp.config import default_workers
from knhk_telemetry.synth import synthetic_spans

RESULTS = Path(__file__).with_name("results")
TARGETS = {
    "decode_spans_per_core_s": 1_500_000,
    "e2e_spans_per_server_cpu_s": 500_000,
    "half_load_p99_ms": 5.0,
}

Decoder = Callable[[bytes], Decoded[Any]]


def _fast_decoder() -> tuple[Decoder | None, str]:
    try:
        from knhk_telemetry.otlp.fast import decode_traces as fast
    except ImportError as exc:
        return None, f"not available ({exc})"
    return fast, "available"


# ----------------------------------------------------------------------------------------
# (a) decode only
# ----------------------------------------------------------------------------------------


def _requests(kind: str, n: int) -> list[bytes]:
    if kind == "synth":
        return [encode_traces(synthetic_spans(1000, services=8, attributes_per_span=8, seed=i)) for i in range(n)]
    import numpy as np

    topo = topology(8, 0)
    rng = np.random.default_rng(5)
    return [
        encode_traces(topo.generate(1000, rng=rng, first_trace=i * 1000, first_span=i * 1000).batch) for i in range(n)
    ]


def decode_rate(decode: Decoder, requests: list[bytes], min_cpu_s: float) -> dict[str, float]:
    """Spans per CPU-second of this process, over whole passes until at least ``min_cpu_s``."""
    for data in requests[:2]:  # warm up (imports, JIT)
        decode(data)
    spans = passes = 0
    c0, t0 = time.process_time(), time.perf_counter()
    while True:
        for data in requests:
            spans += len(decode(data).batch)
        passes += 1
        if time.process_time() - c0 >= min_cpu_s:
            break
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    return {"spans": spans, "cpu_s": cpu, "spans_per_cpu_s": spans / cpu, "spans_per_wall_s": spans / wall}


def bench_decode(n_requests: int, min_cpu_s: float) -> dict[str, Any]:
    fast, fast_status = _fast_decoder()
    out: dict[str, Any] = {"fast_decoder": fast_status, "requests": n_requests, "spans_per_request": 1000}
    for kind in ("synth", "traces"):
        reqs = _requests(kind, n_requests)
        row: dict[str, Any] = {"request_bytes_mean": sum(map(len, reqs)) / len(reqs)}
        row["reference"] = decode_rate(reference_decode, reqs, min_cpu_s)
        if fast is not None:
            row["fast"] = decode_rate(fast, reqs, min_cpu_s)
            row["fast"]["matches_reference"] = all(fast(d).batch == reference_decode(d).batch for d in reqs[:3])
            row["speedup"] = row["fast"]["spans_per_cpu_s"] / row["reference"]["spans_per_cpu_s"]
        else:
            row["fast"] = fast_status
        out[kind] = row
        fast_text = f"{row['fast']['spans_per_cpu_s']:,.0f} spans/cpu-s" if fast is not None else fast_status
        print(
            f"decode {kind}: reference {row['reference']['spans_per_cpu_s']:,.0f} spans/cpu-s; fast {fast_text}",
            flush=True,
        )
    return out


# ----------------------------------------------------------------------------------------
# (b) end to end
# ----------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config_yaml(grpc_port: int, metrics_port: int, batch_size: int, flush_interval: str, workers: int | None) -> str:
    workers_line = f"\n        workers: {workers}" if workers else ""  # none: the receiver's default
    return f"""\
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
        max_recv_msg_size_mib: 16{workers_line}
exporters:
  nop:
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{metrics_port}
      enabled: true
    logs:
      level: warn
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [nop]
  pipeline:
    batch_size: {batch_size}
    flush_interval: {flush_interval}
"""


def _scrape(metrics_port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)")


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    out = []
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m and m["name"] == name:
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m["labels"] or ""))
            out.append((labels, float(m["value"])))
    return out


def _exported_spans(metrics_port: int) -> float:
    text = _scrape(metrics_port)
    return sum(
        v
        for labels, v in _samples(text, "knhk_telemetry_pipeline_exported_items_total")
        if labels.get("signal") == "traces"
    )


def _peak_rss(pid: int) -> int:
    """VmHWM (peak resident set) of ``pid`` in bytes; the current RSS where /proc lacks it."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(psutil.Process(pid).memory_info().rss)


def _python_thread_names(pid: int) -> dict[int, str]:
    """Native thread id -> Python thread name, from ``py-spy dump`` (empty without py-spy).

    Python 3.11 does not name its OS threads, so /proc shows them all as the process name.
    """
    try:
        out = subprocess.run(
            ["py-spy", "dump", "--pid", str(pid)], check=False, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return {int(tid): name for tid, name in re.findall(r'^Thread (\d+) \([^)]*\): "(.*)"$', out.stdout, re.M)}


def _thread_cpu(pid: int, names: dict[int, str]) -> dict[str, float]:
    """CPU seconds per thread group of ``pid`` (threads named alike, digits dropped), from /proc.

    Splits the server's CPU between the gRPC core's own threads, the gRPC handler pool (decode
    and handing over) and the pipeline thread (batching and export): py-spy sees only the
    Python frames, this sees every thread. ``names`` names the Python threads.
    """
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = names.get(int(task.name)) or (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # the thread ended meanwhile
        group = re.sub(r"[-_]?\d+$", "", name) or name
        out[group] = out.get(group, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


class Server:
    """``knhk-telemetry run`` in a child process, with a generated config."""

    def __init__(self, workdir: Path, args: argparse.Namespace) -> None:
        self.grpc_port, self.metrics_port = _free_port(), _free_port()
        self.config = workdir / f"ingest-{self.grpc_port}.yaml"
        self.config.write_text(
            _config_yaml(self.grpc_port, self.metrics_port, args.batch_size, args.flush_interval, args.workers)
        )
        self.log = workdir / f"ingest-{self.grpc_port}.log"
        # measure the compiled codec from the first request (run it after `knhk-telemetry
        # warmup`: with a cold cache the first request would wait for the compilation)
        env = {**os.environ, "KNHK_TELEMETRY_CODEC": "compiled"}
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "knhk_telemetry.cli", "run", "--config", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self.ps = psutil.Process(self.proc.pid)
        self._wait_ready(60.0)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.grpc_port), timeout=0.5):
                    pass
                _scrape(self.metrics_port)
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server not ready after {timeout} s:\n{self.log.read_text()[-3000:]}")

    def cpu_s(self) -> float:
        t = self.ps.cpu_times()
        return float(t.user + t.system)

    def counters(self) -> dict[str, float]:
        """User and system CPU seconds and context switches (voluntary: waits; involuntary: preempted)."""
        t = self.ps.cpu_times()
        out = {"user_s": t.user, "system_s": t.system, "ctx_voluntary": 0.0, "ctx_involuntary": 0.0}
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():  # /proc/PID/status counts one thread
            try:
                status = (task / "status").read_text()
            except OSError:
                continue
            for kind in ("voluntary", "involuntary"):
                m = re.search(rf"^{kind}_ctxt_switches:\s+(\d+)", status, re.M)
                out[f"ctx_{kind}"] += int(m.group(1)) if m else 0
        return out

    def wait_exported(self, at_least: float, timeout: float = 30.0) -> float:
        """Wait until the pipeline exported ``at_least`` spans (or stopped moving); return the count."""
        deadline = time.monotonic() + timeout
        last, stable_since = -1.0, time.monotonic()
        while time.monotonic() < deadline:
            n = _exported_spans(self.metrics_port)
            if n >= at_least:
                return n
            if n != last:
                last, stable_since = n, time.monotonic()
            elif time.monotonic() - stable_since > 2.0:
                return n
            time.sleep(0.1)
        return last

    def batch_latency(self) -> dict[str, float]:
        text = _scrape(self.metrics_port)
        out = {}
        for labels, v in _samples(text, "knhk_telemetry_pipeline_batch_latency_seconds"):
            if "quantile" in labels and labels.get("signal", "traces") in ("traces", ""):
                out[f"p{float(labels['quantile']) * 100:g}_ms"] = v * 1e3
        for suffix in ("sum", "count"):
            vals = _samples(text, f"knhk_telemetry_pipeline_batch_latency_seconds_{suffix}")
            if vals:
                out[suffix] = sum(v for _, v in vals)
        return out

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)


def _load(endpoint: str, pool: RequestPool, rate: float | None, duration: float, concurrency: int) -> LoadReport:
    return run_load(
        LoadConfig(endpoint=endpoint, rate=rate, duration=duration, concurrency=concurrency, spans_per_request=1000),
        pool=pool,
        generator_probe_s=0.5,
    )


def _summary(report: LoadReport) -> dict[str, Any]:
    keys = (
        "requests_sent", "requests_ok", "requests_failed", "requests_skipped", "requests_by_status", "spans_sent",
        "spans_accepted", "spans_refused", "accepted_spans_per_s", "elapsed_s", "latency_ms", "loadgen_cpu_s",
        "loadgen_cpu_percent", "errors",
    )  # fmt: skip
    d = report.to_dict()
    return {k: d[k] for k in keys}


def bench_e2e(args: argparse.Namespace) -> dict[str, Any]:
    pool = RequestPool(size=args.pool_size, spans_per_request=1000, services=8, seed=0)
    gen = pool.measure(1.0)
    out: dict[str, Any] = {
        "config": {
            "receiver": "otlp (grpc)",
            "exporter": "nop",
            "batch_size": args.batch_size,
            "flush_interval": args.flush_interval,
            "grpc_workers": args.workers or default_workers(),
            "duration_s": args.duration,
            "concurrency": args.concurrency,
            "spans_per_request": 1000,
            "pool_requests": pool.size,
        },
        "generator": {
            "render_requests_per_s": gen.render_requests_per_s,
            "render_spans_per_s": gen.render_spans_per_s,
            "mean_request_bytes": gen.mean_request_bytes,
            "pool_build_s": gen.build_s,
        },
    }
    print(f"generator ceiling: {gen.render_spans_per_s:,.0f} spans/s (one thread, no sending)", flush=True)
    with tempfile.TemporaryDirectory(prefix="knhk-ingest-") as tmp:
        work = Path(tmp)
        # max: closed loop
        server = Server(work, args)
        try:
            warm = _load(server.endpoint, pool, None, min(2.0, args.duration), args.concurrency)
            server.wait_exported(warm.spans_accepted)  # drained: the CPU below is the measured run's
            exported0 = _exported_spans(server.metrics_port)
            names = _python_thread_names(server.proc.pid)  # the gRPC pool threads exist after the warm-up
            cpu0, threads0, counters0 = server.cpu_s(), _thread_cpu(server.proc.pid, names), server.counters()
            profiler = _start_profiler(args, server.proc.pid) if args.profile else None
            report = _load(server.endpoint, pool, None, args.duration, args.concurrency)
            exported = server.wait_exported(exported0 + report.spans_accepted) - exported0
            cpu = server.cpu_s() - cpu0
            threads1 = _thread_cpu(server.proc.pid, names)
            counters = {k: v - counters0[k] for k, v in server.counters().items()}
            thread_cpu = {k: v - threads0.get(k, 0.0) for k, v in threads1.items() if v - threads0.get(k, 0.0) > 0}
            profile = _finish_profiler(profiler) if profiler else None
            peak = _peak_rss(server.proc.pid)
        finally:
            code = server.stop()
        max_row = _summary(report)
        max_row.update(
            {
                "server_cpu_s": cpu,
                "server_cpu_percent": 100.0 * cpu / report.elapsed_s,
                "server_counters": counters,
                "server_ctx_switches_per_request": (counters["ctx_voluntary"] + counters["ctx_involuntary"])
                / max(report.requests_ok, 1),
                # CPU share of each thread group (threads that ended during the run are missed)
                "server_cpu_by_thread": {
                    k: round(v / cpu, 4) for k, v in sorted(thread_cpu.items(), key=lambda kv: -kv[1])
                },
                "server_spans_exported": exported,
                "spans_per_server_cpu_s": report.spans_accepted / cpu if cpu > 0 else 0.0,
                "server_peak_rss_mib": peak / 2**20,
                "server_exit_code": code,
                # server + load generator, as a share of all cores: near 100 % means the machine was the limit
                "machine_cpu_percent": 100.0 * (cpu + report.loadgen_cpu_s) / report.elapsed_s / (os.cpu_count() or 1),
                "cores": os.cpu_count(),
            }
        )
        if profile:
            max_row["profile"] = profile
            raw = RESULTS / "ingest-profile.collapsed.txt"
            if args.profile_format == "raw" and raw.exists():
                max_row["profile_summary"] = profile_summary(raw)
        out["max"] = max_row
        print(
            f"max: accepted {report.accepted_spans_per_s:,.0f} spans/s, {max_row['spans_per_server_cpu_s']:,.0f} "
            f"spans per server cpu-s (server {max_row['server_cpu_percent']:.0f} %, loadgen "
            f"{report.loadgen_cpu_percent:.0f} % cpu), peak rss {max_row['server_peak_rss_mib']:.0f} MiB",
            flush=True,
        )
        shares = ", ".join(f"{k} {v:.0%}" for k, v in max_row["server_cpu_by_thread"].items())
        print(
            f"server cpu by thread: {shares}; user {counters['user_s']:.2f} s, system {counters['system_s']:.2f} s, "
            f"{max_row['server_ctx_switches_per_request']:.1f} context switches per request",
            flush=True,
        )
        # half: open loop at half the max accepted rate, on a fresh server (fresh latency window)
        half_rate = report.accepted_spans_per_s / 2
        if half_rate < 1000:
            out["half"] = f"skipped: max accepted rate {report.accepted_spans_per_s:.0f} spans/s is too low"
            return out
        server = Server(work, args)
        try:
            warm = _load(server.endpoint, pool, half_rate, min(1.0, args.duration), args.concurrency)
            server.wait_exported(warm.spans_accepted)
            half = _load(server.endpoint, pool, half_rate, args.duration, args.concurrency)
            server.wait_exported(warm.spans_accepted + half.spans_accepted)
            batch_latency = server.batch_latency()
        finally:
            server.stop()
        half_row = _summary(half)
        half_row["target_spans_per_s"] = half_rate
        half_row["pipeline_batch_latency_ms"] = batch_latency
        out["half"] = half_row
        lat = half.latency_ms
        print(
            f"half ({half_rate:,.0f} spans/s): request latency p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms; "
            f"pipeline batch latency {batch_latency}",
            flush=True,
        )
    return out


def _start_profiler(args: argparse.Namespace, pid: int) -> tuple[subprocess.Popen[bytes], Path]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    fmt = args.profile_format
    suffix = {"flamegraph": "svg", "speedscope": "speedscope.json", "raw": "collapsed.txt"}[fmt]
    path = RESULTS / f"ingest-profile.{suffix}"
    cmd = ["py-spy", "record", "--pid", str(pid), "--rate", str(args.profile_rate), "--format", fmt]
    cmd += ["--output", str(path), "--duration", str(int(args.duration) + 1), "--nonblocking", "--threads"]
    cmd += ["--native"] if args.profile_native else []
    cmd += ["--gil"] if args.profile_gil else []
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), path


def _finish_profiler(profiler: tuple[subprocess.Popen[bytes], Path]) -> str:
    proc, path = profiler
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        return "py-spy did not finish"
    if proc.returncode != 0:
        return f"py-spy failed: {err.decode(errors='replace').strip()[-300:]}"
    return str(path.relative_to(RESULTS.parent.parent)) if path.is_relative_to(RESULTS.parent.parent) else str(path)


def profile_summary(path: Path, top: int = 12) -> dict[str, Any]:
    """The largest self and inclusive shares of a py-spy ``raw`` (collapsed stacks) profile,
    and each thread's share: small enough to keep in the results JSON."""
    self_n: dict[str, int] = {}
    incl_n: dict[str, int] = {}
    thread_n: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        thread = re.sub(r"^thread \(\d+\): ", "", frames[0])
        thread = re.sub(r"[-_]?\d+$", "", thread)
        thread_n[thread] = thread_n.get(thread, 0) + n
        self_n[frames[-1]] = self_n.get(frames[-1], 0) + n
        for frame in set(frames[1:]):
            if "(threading.py:" not in frame and "concurrent/futures/thread.py" not in frame:  # thread plumbing
                incl_n[frame] = incl_n.get(frame, 0) + n

    def shares(d: dict[str, int]) -> dict[str, float]:
        return {k: round(v / total, 4) for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:top]}

    return {"samples": total, "threads": shares(thread_n), "self": shares(self_n), "inclusive": shares(incl_n)}


def _verdicts(results: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"targets": TARGETS}
    dec = results.get("decode", {}).get("synth", {})
    best = dec.get("fast") if isinstance(dec.get("fast"), dict) else dec.get("reference")
    if isinstance(best, dict):
        out["decode_spans_per_core_s"] = best["spans_per_cpu_s"]
    e2e = results.get("e2e", {})
    if isinstance(e2e.get("max"), dict):
        out["e2e_spans_per_server_cpu_s"] = e2e["max"]["spans_per_server_cpu_s"]
    if isinstance(e2e.get("half"), dict):
        out["half_load_p99_ms"] = e2e["half"]["latency_ms"]["p99"]
    out["met"] = {
        "decode": out.get("decode_spans_per_core_s", 0) >= TARGETS["decode_spans_per_core_s"],
        "e2e": out.get("e2e_spans_per_server_cpu_s", 0) >= TARGETS["e2e_spans_per_server_cpu_s"],
        "half_load_p99": out.get("half_load_p99_ms", float("inf")) < TARGETS["half_load_p99_ms"],
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per end-to-end run")
    parser.add_argument("--concurrency", type=int, default=4, help="load generator connections")
    parser.add_argument("--pool-size", type=int, default=64, help="distinct pre-encoded requests")
    parser.add_argument("--decode-requests", type=int, default=20, help="1000-span requests per decode run")
    parser.add_argument("--decode-cpu-s", type=float, default=2.0, help="CPU seconds per decode measurement")
    parser.add_argument("--batch-size", type=int, default=8192)
    parser.add_argument(
        "--workers", type=int, default=None, help="the gRPC receiver's handler threads (default: its default)"
    )
    parser.add_argument("--flush-interval", default="200ms")
    parser.add_argument("--skip-decode", action="store_true")
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument("--profile", action="store_true", help="py-spy record the server during the max run")
    parser.add_argument("--profile-format", choices=["flamegraph", "speedscope", "raw"], default="flamegraph")
    parser.add_argument("--profile-rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--profile-native", action="store_true", help="py-spy --native: C frames (gRPC core)")
    parser.add_argument("--profile-gil", action="store_true", help="py-spy --gil: only samples holding the GIL")
    parser.add_argument("--json", type=Path, default=RESULTS / "ingest.json", help="where to write the results")
    args = parser.parse_args()

    results: dict[str, Any] = {
        "command": "python bench/ingest.py " + " ".join(sys.argv[1:]),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "note": "the load generator and the server share these cores",
        },
    }
    if not args.skip_decode:
        results["decode"] = bench_decode(args.decode_requests, args.decode_cpu_s)
    if not args.skip_e2e:
        try:
            results["e2e"] = bench_e2e(args)
        except RuntimeError as exc:  # the server could not start (e.g. no otlp receiver yet): say so
            results["e2e"] = {"error": str(exc)}
            print(f"end to end: {exc}", file=sys.stderr)
    results["summary"] = _verdicts(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results["summary"], indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
