"""Sending: OTLP/gRPC and OTLP/HTTP senders, open- and closed-loop workers, the report.

Workers are threads, each with its own connection (a gRPC channel with a local subchannel
pool, or a keep-alive ``http.client`` connection), because the wait for a response releases
the GIL and rendering a request costs tens of microseconds: one process keeps thousands of
1000-span requests per second in flight, more than a Python server takes (the report shows the
generator's ceiling and the loadgen's own CPU use, so a reader can tell).

- ``rate`` given (open loop): send ``i`` is due at ``t0 + i / requests_per_s`` whatever the
  server does; a free worker takes the next send, waits until it is due, and its latency is
  measured from the *due* time, so a slow server shows up in the latencies instead of quietly
  lowering the rate (no coordinated omission). Exactly ``round(rate * duration /
  spans_per_request)`` sends are scheduled; sends not started by ``duration + timeout`` are
  counted as skipped.
- ``rate`` None (closed loop, ``max``): every worker sends back to back until ``duration``.

There are no retries: a request the endpoint refuses (an error status, or spans in
``partial_success.rejected_spans``) is counted as refused, by status. Only loopback endpoints
are accepted unless ``allow_remote`` is set.
"""

from __future__ import annotations

import gzip
import http.client
import ipaddress
import itertools
import json
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from knhk_telemetry.loadgen.pool import PoolStats, RequestPool

Transport = Literal["grpc", "http"]
Compression = Literal["none", "gzip"]

GRPC_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
OK = "OK"
#: how many distinct error messages a report keeps
MAX_ERRORS = 5
#: most spans a request pool may hold (about 350 bytes each, encoded)
MAX_POOL_SPANS = 5_000_000


class LoadgenError(ValueError):
    """A load generator setting is invalid; the message names the option."""


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:4317`` for IPv6) -> (host, port)."""
    host, sep, port_text = endpoint.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise LoadgenError(f"--endpoint must be HOST:PORT, not {endpoint!r}")
    port = int(port_text)
    if not 0 < port < 65536:
        raise LoadgenError(f"--endpoint port must be in 1..65535, not {port}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals; other names are not resolved (no DNS traffic)."""
    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, kw_only=True)
class LoadConfig:
    """What to send, where and how fast."""

    endpoint: str = "127.0.0.1:4317"  # HOST:PORT
    protocol: Transport = "grpc"
    rate: float | None = None  # spans per second (open loop); None: as fast as possible
    duration: float = 10.0  # seconds of sending
    concurrency: int = 4  # worker threads, one connection each
    spans_per_request: int = 1000
    services: int = 8
    error_ratio: float = 0.02  # share of traces that fail
    compression: Compression = "none"
    pool_size: int = 64  # distinct pre-encoded requests
    seed: int = 0
    timeout: float = 10.0  # seconds per request
    http_path: str = "/v1/traces"
    allow_remote: bool = False

    def validate(self) -> tuple[str, int]:
        """Check every option (raising :class:`LoadgenError` naming it); returns (host, port)."""
        host, port = parse_endpoint(self.endpoint)
        if not self.allow_remote and not is_loopback(host):
            raise LoadgenError(
                f"--endpoint {self.endpoint!r} is not a loopback address; traffic to other hosts needs --allow-remote"
            )
        if self.protocol not in ("grpc", "http"):
            raise LoadgenError(f"--protocol must be grpc or http, not {self.protocol!r}")
        if self.compression not in ("none", "gzip"):
            raise LoadgenError(f"--compression must be none or gzip, not {self.compression!r}")
        if self.rate is not None and not self.rate > 0:
            raise LoadgenError(f"--rate must be > 0 spans/s or 'max', not {self.rate}")
        if not 0 < self.duration <= 86_400:
            raise LoadgenError(f"--duration must be in (0, 86400] seconds, not {self.duration}")
        if not 1 <= self.concurrency <= 1024:
            raise LoadgenError(f"--concurrency must be in 1..1024, not {self.concurrency}")
        if not 1 <= self.spans_per_request <= 1_000_000:
            raise LoadgenError(f"--spans-per-request must be in 1..1000000, not {self.spans_per_request}")
        if not 1 <= self.services <= 1000:
            raise LoadgenError(f"--services must be in 1..1000, not {self.services}")
        if not 0.0 <= self.error_ratio <= 1.0:
            raise LoadgenError(f"--error-ratio must be in [0, 1], not {self.error_ratio}")
        if not 1 <= self.pool_size <= 100_000:
            raise LoadgenError(f"--pool-size must be in 1..100000, not {self.pool_size}")
        if self.pool_size * self.spans_per_request > MAX_POOL_SPANS:
            raise LoadgenError(
                f"--pool-size × --spans-per-request must be at most {MAX_POOL_SPANS:,} spans (the pool is held "
                f"encoded in memory), not {self.pool_size * self.spans_per_request:,}"
            )
        if not self.timeout > 0:
            raise LoadgenError(f"--timeout must be > 0 seconds, not {self.timeout}")
        if not self.http_path.startswith("/"):
            raise LoadgenError(f"--http-path must start with '/', not {self.http_path!r}")
        return host, port

    @property
    def scheduled_requests(self) -> int | None:
        """How many sends an open-loop run schedules (None for ``max``)."""
        if self.rate is None:
            return None
        return max(1, round(self.rate * self.duration / self.spans_per_request))


# ----------------------------------------------------------------------------------------
# senders
# ----------------------------------------------------------------------------------------


class Sender(Protocol):
    def send(self, data: bytes) -> tuple[str, int, str]:
        """(status: ``OK`` or the gRPC code name / HTTP status / error class, rejected spans, error message)."""
        ...

    def close(self) -> None: ...


def _rejected(body: bytes) -> tuple[int, str]:
    if not body:
        return 0, ""
    resp = ExportTraceServiceResponse.FromString(body)
    return int(resp.partial_success.rejected_spans), resp.partial_success.error_message


class GrpcSender:
    """Unary ``TraceService/Export`` calls with the request as raw bytes (no re-serialising)."""

    def __init__(self, host: str, port: int, *, timeout: float, compression: Compression) -> None:
        import grpc

        self._grpc = grpc
        target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._channel = grpc.insecure_channel(
            target,
            options=[
                ("grpc.use_local_subchannel_pool", 1),  # a connection per worker, not one shared
                ("grpc.max_send_message_length", -1),
                ("grpc.max_receive_message_length", -1),
            ],
            compression=grpc.Compression.Gzip if compression == "gzip" else None,
        )
        self._call = self._channel.unary_unary(GRPC_METHOD, request_serializer=None, response_deserializer=None)
        self._timeout = timeout

    def send(self, data: bytes) -> tuple[str, int, str]:
        try:
            body = self._call(data, timeout=self._timeout)
        except self._grpc.RpcError as exc:
            code = exc.code()
            return (code.name if code is not None else "UNKNOWN"), 0, str(exc.details())
        rejected, message = _rejected(body)
        return OK, rejected, message

    def close(self) -> None:
        self._channel.close()


class HttpSender:
    """``POST /v1/traces`` (``application/x-protobuf``) on one keep-alive connection, reopened after an error."""

    def __init__(self, host: str, port: int, *, timeout: float, compression: Compression, path: str) -> None:
        self._host, self._port, self._timeout, self._path = host, port, timeout, path
        self._gzip = compression == "gzip"
        self._conn: http.client.HTTPConnection | None = None
        self._headers = {"Content-Type": "application/x-protobuf"}
        if self._gzip:
            self._headers["Content-Encoding"] = "gzip"

    def send(self, data: bytes) -> tuple[str, int, str]:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        try:
            self._conn.request("POST", self._path, body=data, headers=self._headers)
            resp = self._conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return type(exc).__name__, 0, str(exc)
        if resp.will_close:
            self.close()
        if resp.status != 200:
            return str(resp.status), 0, body[:200].decode("utf-8", "replace")
        if "protobuf" not in (resp.getheader("Content-Type") or ""):
            return OK, 0, ""
        try:
            rejected, message = _rejected(body)
        except Exception as exc:  # a malformed response body is counted, not fatal
            return "bad_response", 0, str(exc)
        return OK, rejected, message

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def make_sender(config: LoadConfig, host: str, port: int) -> Sender:
    if config.protocol == "grpc":
        return GrpcSender(host, port, timeout=config.timeout, compression=config.compression)
    return HttpSender(host, port, timeout=config.timeout, compression=config.compression, path=config.http_path)


# ----------------------------------------------------------------------------------------
# the run
# ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Tally:
    """One worker's counts (merged after the run; no locks on the hot path)."""

    by_status: Counter[str] = field(default_factory=Counter)
    spans_sent: int = 0
    spans_rejected: int = 0  # partial_success.rejected_spans of successful requests
    spans_failed: int = 0  # spans of failed requests
    skipped: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    last_done: float = 0.0

    def record(self, status: str, n_spans: int, rejected: int, message: str, latency: float) -> None:
        self.by_status[status] += 1
        self.spans_sent += n_spans
        self.latencies.append(latency)
        if status == OK:
            self.spans_rejected += rejected
        else:
            self.spans_failed += n_spans
        if message and len(self.errors) < MAX_ERRORS:
            self.errors.setdefault(status, message)


@dataclass(frozen=True, slots=True)
class LoadReport:
    """What a run sent and what the endpoint made of it."""

    endpoint: str
    protocol: str
    compression: str
    mode: str  # "rate" (open loop) or "max" (closed loop)
    target_spans_per_s: float | None
    duration_s: float
    elapsed_s: float
    concurrency: int
    spans_per_request: int
    requests_scheduled: int | None
    requests_sent: int
    requests_ok: int
    requests_failed: int
    requests_skipped: int
    requests_by_status: dict[str, int]
    spans_sent: int
    spans_accepted: int
    spans_refused: int
    spans_rejected_partial: int
    spans_failed_requests: int
    sent_spans_per_s: float
    accepted_spans_per_s: float
    latency_ms: dict[str, float]
    loadgen_cpu_s: float
    loadgen_cpu_percent: float
    generator: dict[str, float]
    errors: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    def to_text(self) -> str:
        lat = self.latency_ms
        target = "max" if self.target_spans_per_s is None else f"{self.target_spans_per_s:,.0f} spans/s"
        statuses = ", ".join(f"{k}={v}" for k, v in sorted(self.requests_by_status.items())) or "none"
        lines = [
            f"endpoint     {self.endpoint} ({self.protocol}, compression {self.compression})",
            f"load         {target}, {self.concurrency} workers, {self.spans_per_request} spans/request, "
            f"{self.duration_s:g} s (ran {self.elapsed_s:.2f} s)",
            f"requests     sent {self.requests_sent}, ok {self.requests_ok}, failed {self.requests_failed}, "
            f"skipped {self.requests_skipped} ({statuses})",
            f"spans        sent {self.spans_sent}, accepted {self.spans_accepted}, refused {self.spans_refused} "
            f"(partial success {self.spans_rejected_partial}, failed requests {self.spans_failed_requests})",
            f"rate         accepted {self.accepted_spans_per_s:,.0f} spans/s, "
            f"sent {self.sent_spans_per_s:,.0f} spans/s",
            f"latency ms   p50 {lat['p50']:.3f}  p90 {lat['p90']:.3f}  p99 {lat['p99']:.3f}  max {lat['max']:.3f}"
            f"  mean {lat['mean']:.3f}",
            f"loadgen      cpu {self.loadgen_cpu_s:.2f} s ({self.loadgen_cpu_percent:.0f} % of one core); "
            f"generator ceiling {self.generator['render_spans_per_s']:,.0f} spans/s; "
            f"pool of {self.generator['pool_requests']:.0f} built in {self.generator['pool_build_s']:.2f} s",
        ]
        lines.extend(f"error        {status}: {message}" for status, message in sorted(self.errors.items()))
        return "\n".join(lines)


def _latency_summary(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0, "count": 0.0}
    arr = np.asarray(latencies, np.float64) * 1e3
    p50, p90, p99 = np.percentile(arr, [50, 90, 99])
    return {
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "max": float(arr.max()),
        "mean": float(arr.mean()),
        "count": float(len(arr)),
    }


def build_pool(config: LoadConfig) -> RequestPool:
    """The request pool a run with ``config`` sends from. The compiled encoder builds it when
    its cache is warm (loaded within seconds); otherwise the reference encoder does."""
    from knhk_telemetry.otlp import warmup_in_background

    warmup_in_background().join(timeout=5.0)
    return RequestPool(
        size=config.pool_size,
        spans_per_request=config.spans_per_request,
        services=config.services,
        error_ratio=config.error_ratio,
        seed=config.seed,
    )


def run_load(
    config: LoadConfig,
    *,
    pool: RequestPool | None = None,
    stop: threading.Event | None = None,
    generator_probe_s: float = 0.3,
) -> LoadReport:
    """Send load as ``config`` says and report. ``stop`` (set from another thread) ends the run early."""
    host, port = config.validate()
    if pool is None:
        pool = build_pool(config)
    elif pool.spans_per_request != config.spans_per_request:
        raise LoadgenError(
            f"the pool holds {pool.spans_per_request}-span requests, the config asks for {config.spans_per_request}"
        )
    probe: PoolStats = pool.measure(generator_probe_s)
    stop = stop or threading.Event()
    total = config.scheduled_requests
    interval = 0.0 if config.rate is None else config.spans_per_request / config.rate
    gzip_body = config.compression == "gzip" and config.protocol == "http"
    senders = [make_sender(config, host, port) for _ in range(config.concurrency)]
    tallies = [_Tally() for _ in senders]
    counter = itertools.count()
    t0 = time.perf_counter() + 0.05  # a moment for every worker to reach its loop
    wall0_ns = time.time_ns() + 50_000_000
    end = t0 + config.duration
    hard_end = end + config.timeout

    def work(sender: Sender, tally: _Tally) -> None:
        try:
            while not stop.is_set():
                seq = next(counter)
                if total is not None:
                    if seq >= total:
                        return
                    due = t0 + seq * interval
                    if time.perf_counter() > hard_end:  # hopelessly behind: count, do not send
                        tally.skipped += 1
                        continue
                    data, n = pool.render(seq, wall0_ns + int((due - t0) * 1e9))
                    if gzip_body:
                        data = gzip.compress(data, compresslevel=1)
                    now = time.perf_counter()
                    if due > now and stop.wait(due - now):
                        return
                    started = due
                else:
                    data, n = pool.render(seq)
                    if gzip_body:
                        data = gzip.compress(data, compresslevel=1)
                    started = time.perf_counter()
                    if started >= end:
                        return
                status, rejected, message = sender.send(data)
                done = time.perf_counter()
                tally.record(status, n, rejected, message, done - started)
                tally.last_done = done
        finally:
            sender.close()

    threads = [
        threading.Thread(target=work, args=(s, t), name=f"loadgen-{i}", daemon=True)
        for i, (s, t) in enumerate(zip(senders, tallies, strict=True))
    ]
    cpu0 = time.process_time()
    for th in threads:
        th.start()
    try:
        for th in threads:
            while th.is_alive():
                th.join(0.2)
    except KeyboardInterrupt:
        stop.set()
        for th in threads:
            th.join(config.timeout + 1)
    cpu = time.process_time() - cpu0
    finished = max([t.last_done for t in tallies] + [time.perf_counter() if stop.is_set() else t0])
    elapsed = max(finished - t0, 1e-9)

    by_status: Counter[str] = Counter()
    latencies: list[float] = []
    errors: dict[str, str] = {}
    for t in tallies:
        by_status.update(t.by_status)
        latencies.extend(t.latencies)
        for k, v in t.errors.items():
            if len(errors) < MAX_ERRORS:
                errors.setdefault(k, v)
    sent = sum(by_status.values())
    ok = by_status.get(OK, 0)
    spans_sent = sum(t.spans_sent for t in tallies)
    rejected = sum(t.spans_rejected for t in tallies)
    failed_spans = sum(t.spans_failed for t in tallies)
    refused = rejected + failed_spans
    return LoadReport(
        endpoint=config.endpoint,
        protocol=config.protocol,
        compression=config.compression,
        mode="max" if config.rate is None else "rate",
        target_spans_per_s=config.rate,
        duration_s=config.duration,
        elapsed_s=elapsed,
        concurrency=config.concurrency,
        spans_per_request=config.spans_per_request,
        requests_scheduled=total,
        requests_sent=sent,
        requests_ok=ok,
        requests_failed=sent - ok,
        requests_skipped=sum(t.skipped for t in tallies),
        requests_by_status=dict(sorted(by_status.items())),
        spans_sent=spans_sent,
        spans_accepted=spans_sent - refused,
        spans_refused=refused,
        spans_rejected_partial=rejected,
        spans_failed_requests=failed_spans,
        sent_spans_per_s=spans_sent / elapsed,
        accepted_spans_per_s=(spans_sent - refused) / elapsed,
        latency_ms=_latency_summary(latencies),
        loadgen_cpu_s=cpu,
        loadgen_cpu_percent=100.0 * cpu / elapsed,
        generator={
            "pool_requests": float(probe.requests),
            "pool_build_s": probe.build_s,
            "mean_request_bytes": probe.mean_request_bytes,
            "render_requests_per_s": probe.render_requests_per_s,
            "render_spans_per_s": probe.render_spans_per_s,
        },
        errors=errors,
    )
