"""The OTLP load generator: trace realism, the pre-encoded pool, sending, the report and the CLI.

Servers here are minimal OTLP endpoints on loopback (a gRPC generic handler and an
``http.server``) that decode every request with the reference decoder and count what they
saw, so the report can be checked against an independent count. No assertion depends on
timing: rate-limited runs are checked by the exact number of sends they schedule.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import numpy as np
import pytest
from click.testing import CliRunner
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from knhk_telemetry.loadgen import (
    LoadConfig,
    LoadgenError,
    RequestPool,
    generate_traces,
    is_loopback,
    loadgen_command,
    parse_endpoint,
    patch_points,
    run_load,
)
from knhk_telemetry.model.batch import SpanBatch
from knhk_telemetry.model.edge import Span, batch_to_spans
from knhk_telemetry.model.schema import SpanKind, StatusCode
from knhk_telemetry.otlp import decode_traces

SERVICE_NAMES = ["frontend", "checkout", "cart", "payment", "inventory", "users", "search", "shipping"]


# ----------------------------------------------------------------------------------------
# test servers
# ----------------------------------------------------------------------------------------


@dataclass
class Seen:
    """What a test server received (decoded with the reference decoder)."""

    requests: int = 0
    spans: int = 0
    trace_ids: Counter[bytes] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, data: bytes) -> int:
        batch = decode_traces(data).batch
        with self.lock:
            self.requests += 1
            self.spans += len(batch)
            self.trace_ids.update(batch.spans.column("trace_id").to_pylist())
            return self.requests


# a reply policy: request number (1-based) -> (rejected spans, failure or None)
Policy = Callable[[int], tuple[int, str | None]]


def _accept_all(n: int) -> tuple[int, str | None]:
    return 0, None


def _reply(rejected: int) -> bytes:
    resp = ExportTraceServiceResponse()
    if rejected:
        resp.partial_success.rejected_spans = rejected
        resp.partial_success.error_message = f"refused {rejected}"
    return resp.SerializeToString()


@pytest.fixture
def grpc_endpoint() -> Iterator[Callable[[Policy], tuple[str, Seen]]]:
    servers: list[grpc.Server] = []

    def start(policy: Policy = _accept_all) -> tuple[str, Seen]:
        seen = Seen()

        def export(request: bytes, context: grpc.ServicerContext) -> bytes:
            rejected, failure = policy(seen.add(request))
            if failure is not None:
                context.abort(getattr(grpc.StatusCode, failure), "test failure")
            return _reply(rejected)

        handler = grpc.method_handlers_generic_handler(
            "opentelemetry.proto.collector.trace.v1.TraceService",
            {"Export": grpc.unary_unary_rpc_method_handler(export)},
        )
        server = grpc.server(futures.ThreadPoolExecutor(4))
        server.add_generic_rpc_handlers((handler,))
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        return f"127.0.0.1:{port}", seen

    yield start
    for server in servers:
        server.stop(None).wait()


@pytest.fixture
def http_endpoint() -> Iterator[Callable[[Policy], tuple[str, Seen]]]:
    started: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def start(policy: Policy = _accept_all) -> tuple[str, Seen]:
        seen = Seen()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the loadgen expects

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                assert self.path == "/v1/traces"
                assert self.headers["Content-Type"] == "application/x-protobuf"
                rejected, failure = policy(seen.add(body))
                out = _reply(rejected) if failure is None else b"unavailable"
                self.send_response(200 if failure is None else int(failure))
                self.send_header("Content-Type", "application/x-protobuf" if failure is None else "text/plain")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        started.append((server, thread))
        return f"127.0.0.1:{server.server_address[1]}", seen

    yield start
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join()


# ----------------------------------------------------------------------------------------
# generated traces
# ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def traces() -> tuple[SpanBatch, list[Span]]:
    batch = generate_traces(6000, services=8, error_ratio=0.1, seed=3)
    return batch, batch_to_spans(batch)


def test_generated_batch_is_valid_and_exact_in_size(traces: tuple[SpanBatch, list[Span]]) -> None:
    batch, spans = traces
    batch.check()
    assert len(batch) == 6000
    assert len({(s.trace_id, s.span_id) for s in spans}) == 6000
    assert len({s.span_id for s in spans}) == 6000  # span ids are distinct even across traces


def test_every_service_has_its_resource(traces: tuple[SpanBatch, list[Span]]) -> None:
    batch, spans = traces
    names = sorted({str(s.resource.attributes["service.name"]) for s in spans})
    assert names == sorted(SERVICE_NAMES)
    assert batch.resources.num_rows == 8
    for s in spans:
        assert {"service.name", "service.version", "host.name", "telemetry.sdk.language", "telemetry.sdk.name",
                "telemetry.sdk.version"} <= set(s.resource.attributes)  # fmt: skip
        assert s.resource.attributes["telemetry.sdk.name"] == "opentelemetry"


def test_trees_parents_exist_and_contain_children(traces: tuple[SpanBatch, list[Span]]) -> None:
    _, spans = traces
    by_id = {(s.trace_id, s.span_id): s for s in spans}
    roots: Counter[bytes] = Counter()
    for s in spans:
        assert s.end_time_unix_nano >= s.start_time_unix_nano
        if s.parent_span_id is None:
            roots[s.trace_id] += 1
            assert s.kind == SpanKind.SERVER
            continue
        parent = by_id[(s.trace_id, s.parent_span_id)]  # the parent is in the same trace
        assert parent.start_time_unix_nano <= s.start_time_unix_nano
        assert s.end_time_unix_nano <= parent.end_time_unix_nano
        if s.kind == SpanKind.SERVER:  # called from another service's CLIENT span
            assert parent.kind == SpanKind.CLIENT
            assert parent.resource.attributes["service.name"] != s.resource.attributes["service.name"]
            assert s.flags == 0x301  # sampled, parent is remote
        else:
            assert s.flags == 0x101
    assert set(roots.values()) == {1}  # one root per trace
    assert len(roots) == len({s.trace_id for s in spans})
    kinds = Counter(s.kind for s in spans)
    assert set(kinds) == {SpanKind.SERVER, SpanKind.CLIENT, SpanKind.INTERNAL}
    assert max(len([x for x in spans if x.trace_id == t]) for t in list(roots)[:200]) > 5  # real trees, not singletons


def test_error_ratio_and_error_shape(traces: tuple[SpanBatch, list[Span]]) -> None:
    _, spans = traces
    roots = [s for s in spans if s.parent_span_id is None]
    failed = [s for s in roots if s.status is not None and s.status.code == StatusCode.ERROR]
    assert abs(len(failed) / len(roots) - 0.1) < 0.02
    errors = [s for s in spans if s.status is not None and s.status.code == StatusCode.ERROR]
    with_event = [s for s in errors if s.events]
    assert len(with_event) == len(failed)  # one exception event per failing trace, where it started
    for s in with_event:
        assert [e.name for e in s.events] == ["exception"]
        assert set(s.events[0].attributes) == {"exception.type", "exception.message", "exception.stacktrace"}
        assert s.events[0].attributes["exception.type"] == s.attributes["error.type"]
        assert s.start_time_unix_nano <= s.events[0].time_unix_nano <= s.end_time_unix_nano
    for s in errors:
        assert "error.type" in s.attributes
        if "http.response.status_code" in s.attributes:
            assert s.attributes["http.response.status_code"] in (500, 502, 503, 504)
    assert all("error.type" not in s.attributes for s in spans if s.status is None or s.status.code != StatusCode.ERROR)


def test_semantic_convention_attributes(traces: tuple[SpanBatch, list[Span]]) -> None:
    _, spans = traces
    servers = [s for s in spans if s.kind == SpanKind.SERVER]
    db = [s for s in spans if s.kind == SpanKind.CLIENT and "db.system.name" in s.attributes]
    http_clients = [s for s in spans if s.kind == SpanKind.CLIENT and "url.full" in s.attributes]
    internal = [s for s in spans if s.kind == SpanKind.INTERNAL]
    assert db
    assert http_clients
    assert internal
    for s in servers:
        assert {"http.request.method", "http.route", "url.path", "server.address", "server.port",
                "http.response.status_code"} <= set(s.attributes)  # fmt: skip
        assert s.name == f"{s.attributes['http.request.method']!s} {s.attributes['http.route']!s}"
    for s in db:
        assert {"db.system.name", "db.namespace", "db.operation.name", "db.query.text", "server.address"} <= set(
            s.attributes
        )
        assert s.attributes["db.system.name"] in ("postgresql", "mysql", "redis", "mongodb")
    for s in http_clients:
        assert {"http.request.method", "server.address", "server.port", "http.response.status_code"} <= set(
            s.attributes
        )
    for s in internal:
        assert "code.function.name" in s.attributes


def test_generation_is_deterministic_per_seed() -> None:
    a = generate_traces(300, services=4, seed=7)
    assert a == generate_traces(300, services=4, seed=7)
    assert a != generate_traces(300, services=4, seed=8)
    assert {str(s.resource.attributes["service.name"]) for s in batch_to_spans(generate_traces(500, services=3))} == {
        "frontend",
        "checkout",
        "cart",
    }


def test_latencies_are_long_tailed() -> None:
    durations = generate_traces(20_000, seed=1).durations_ns()
    p50, p99 = np.percentile(durations, [50, 99])
    assert p99 > 10 * p50


# ----------------------------------------------------------------------------------------
# the pre-encoded pool
# ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pool() -> RequestPool:
    return RequestPool(size=3, spans_per_request=60, services=5, error_ratio=0.2, seed=1, id_base=0x1234)


def test_pool_requests_decode_to_the_span_count(pool: RequestPool) -> None:
    now = 1_750_000_000_000_000_000
    for seq in range(6):
        data, n = pool.render(seq, now)
        decoded = decode_traces(data)
        assert n == 60
        assert len(decoded.batch) == 60
        assert decoded.rejected.total == 0
        ends = decoded.batch.spans.column("end_time_unix_nano").to_numpy()
        assert int(ends.max()) == now  # times shifted so the request ends now
        assert pool.render(seq, now)[0] == data  # a render depends on (seq, now) only
    assert len({pool.render(seq, now)[0] for seq in range(3)}) == 3  # distinct requests


def test_patch_points_find_every_id_and_time(pool: RequestPool) -> None:
    data, _ = pool.render(0)
    batch = decode_traces(data).batch
    pts = patch_points(data)
    n_roots = batch.spans.column("parent_span_id").null_count
    assert pts.n_spans == 60
    assert len(pts.trace_ids) == 60
    assert len(pts.span_ids) == 2 * 60 - n_roots
    assert len(pts.times) == 2 * 60 + batch.table("events").num_rows
    assert all(data[o : o + 16] in batch.spans.column("trace_id").to_pylist() for o in pts.trace_ids.tolist())


def test_ids_unique_across_cycles_and_trees_intact(pool: RequestPool) -> None:
    trace_owner: dict[bytes, int] = {}
    span_ids: set[bytes] = set()
    for seq in range(4 * pool.size):  # four cycles over the pool
        spans = batch_to_spans(decode_traces(pool.render(seq)[0]).batch)
        ids = {(s.trace_id, s.span_id) for s in spans}
        for s in spans:
            assert trace_owner.setdefault(s.trace_id, seq) == seq  # a trace id belongs to one send
            if s.parent_span_id is not None:
                assert (s.trace_id, s.parent_span_id) in ids
        new = {s.span_id for s in spans}
        assert not new & span_ids
        span_ids |= new
    assert len(span_ids) == 4 * pool.size * 60


def test_pool_measures_its_render_rate(pool: RequestPool) -> None:
    stats = pool.measure(seconds=0.0, max_renders=5)
    assert stats.requests == 3
    assert stats.spans_per_request == 60
    assert stats.render_requests_per_s > 0
    assert stats.render_spans_per_s == stats.render_requests_per_s * 60


# ----------------------------------------------------------------------------------------
# endpoints
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "host", "port"),
    [("127.0.0.1:4317", "127.0.0.1", 4317), ("[::1]:4318", "::1", 4318), ("localhost:1", "localhost", 1)],
)
def test_parse_endpoint(endpoint: str, host: str, port: int) -> None:
    assert parse_endpoint(endpoint) == (host, port)


@pytest.mark.parametrize("endpoint", ["127.0.0.1", ":4317", "host:port", "127.0.0.1:0", "127.0.0.1:70000"])
def test_parse_endpoint_refuses_malformed(endpoint: str) -> None:
    with pytest.raises(LoadgenError, match="--endpoint"):
        parse_endpoint(endpoint)


def test_only_loopback_without_allow_remote() -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("127.3.2.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("10.0.0.1")
    assert not is_loopback("example.com")  # names are not resolved
    assert not is_loopback("0.0.0.0")
    with pytest.raises(LoadgenError, match="not a loopback address; traffic to other hosts needs --allow-remote"):
        LoadConfig(endpoint="192.0.2.7:4317").validate()
    with pytest.raises(LoadgenError, match="--allow-remote"):
        run_load(LoadConfig(endpoint="example.com:4317", duration=0.1))
    assert LoadConfig(endpoint="192.0.2.7:4317", allow_remote=True).validate() == ("192.0.2.7", 4317)


@pytest.mark.parametrize(
    ("changes", "option"),
    [
        ({"rate": 0.0}, "--rate"),
        ({"duration": 0.0}, "--duration"),
        ({"concurrency": 0}, "--concurrency"),
        ({"spans_per_request": 0}, "--spans-per-request"),
        ({"error_ratio": 1.5}, "--error-ratio"),
        ({"http_path": "v1/traces"}, "--http-path"),
        ({"pool_size": 10_000, "spans_per_request": 1000}, "--pool-size × --spans-per-request must be at most"),
    ],
)
def test_config_errors_name_the_option(changes: dict[str, Any], option: str) -> None:
    with pytest.raises(LoadgenError, match=option):
        LoadConfig(**changes).validate()


# ----------------------------------------------------------------------------------------
# sending
# ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_pool() -> RequestPool:
    return RequestPool(size=4, spans_per_request=10, services=4, seed=2)


def test_rate_limited_grpc_sends_the_scheduled_count(
    grpc_endpoint: Callable[[Policy], tuple[str, Seen]], small_pool: RequestPool
) -> None:
    endpoint, seen = grpc_endpoint(_accept_all)
    config = LoadConfig(endpoint=endpoint, rate=1000.0, duration=0.5, concurrency=3, spans_per_request=10)
    assert config.scheduled_requests == 50
    report = run_load(config, pool=small_pool, generator_probe_s=0.0)
    assert seen.requests == 50
    assert seen.spans == 500
    assert report.mode == "rate"
    assert report.requests_scheduled == 50
    assert report.requests_sent == 50
    assert report.requests_ok == 50
    assert report.requests_by_status == {"OK": 50}
    assert report.spans_sent == report.spans_accepted == 500
    assert report.latency_ms["count"] == 50
    assert (
        0 < report.latency_ms["p50"] <= report.latency_ms["p90"] <= report.latency_ms["p99"] <= report.latency_ms["max"]
    )
    assert sum(seen.trace_ids.values()) == 500


def test_grpc_report_counts_partial_success_and_failures(
    grpc_endpoint: Callable[[Policy], tuple[str, Seen]], small_pool: RequestPool
) -> None:
    def policy(n: int) -> tuple[int, str | None]:
        return (0, "RESOURCE_EXHAUSTED") if n % 4 == 0 else (3, None)

    endpoint, seen = grpc_endpoint(policy)
    report = run_load(
        LoadConfig(endpoint=endpoint, rate=800.0, duration=0.5, concurrency=2, spans_per_request=10),
        pool=small_pool,
        generator_probe_s=0.0,
    )
    assert seen.requests == report.requests_sent == 40
    assert report.requests_by_status == {"OK": 30, "RESOURCE_EXHAUSTED": 10}
    assert report.requests_ok == 30
    assert report.requests_failed == 10
    assert report.spans_rejected_partial == 30 * 3
    assert report.spans_failed_requests == 10 * 10
    assert report.spans_refused == 190
    assert report.spans_accepted == 400 - 190
    assert report.errors["RESOURCE_EXHAUSTED"] == "test failure"


def test_closed_loop_report_matches_server(
    grpc_endpoint: Callable[[Policy], tuple[str, Seen]], small_pool: RequestPool
) -> None:
    endpoint, seen = grpc_endpoint(_accept_all)
    report = run_load(
        LoadConfig(endpoint=endpoint, rate=None, duration=0.3, concurrency=2, spans_per_request=10),
        pool=small_pool,
        generator_probe_s=0.0,
    )
    assert report.mode == "max"
    assert report.requests_scheduled is None
    assert report.requests_sent == seen.requests > 0
    assert report.spans_accepted == seen.spans == 10 * seen.requests
    assert max(seen.trace_ids.values()) <= 10  # no trace id sent twice (a trace has at most 10 spans here)


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_http_sends_and_counts(
    http_endpoint: Callable[[Policy], tuple[str, Seen]], small_pool: RequestPool, compression: str
) -> None:
    def policy(n: int) -> tuple[int, str | None]:
        return (0, "503") if n % 5 == 0 else (1, None)

    endpoint, seen = http_endpoint(policy)
    report = run_load(
        LoadConfig(
            endpoint=endpoint,
            protocol="http",
            rate=500.0,
            duration=0.5,
            concurrency=2,
            spans_per_request=10,
            compression=compression,  # type: ignore[arg-type]
        ),
        pool=small_pool,
        generator_probe_s=0.0,
    )
    assert seen.requests == report.requests_sent == 25
    assert seen.spans == 250
    assert report.requests_by_status == {"OK": 20, "503": 5}
    assert report.spans_rejected_partial == 20
    assert report.spans_failed_requests == 50
    assert report.spans_accepted == 250 - 70
    assert report.errors["503"] == "unavailable"


def test_unreachable_endpoint_counts_failures(small_pool: RequestPool) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    report = run_load(
        LoadConfig(
            endpoint=f"127.0.0.1:{port}", rate=100.0, duration=0.05, concurrency=1, spans_per_request=10, timeout=2
        ),
        pool=small_pool,
        generator_probe_s=0.0,
    )
    assert report.requests_sent == 1
    assert report.requests_ok == 0
    assert report.requests_by_status == {"UNAVAILABLE": 1}
    assert report.spans_refused == 10


def test_report_text_and_json(grpc_endpoint: Callable[[Policy], tuple[str, Seen]], small_pool: RequestPool) -> None:
    endpoint, _ = grpc_endpoint(_accept_all)
    report = run_load(
        LoadConfig(endpoint=endpoint, rate=200.0, duration=0.1, spans_per_request=10),
        pool=small_pool,
        generator_probe_s=0.0,
    )
    text = report.to_text()
    assert "requests     sent 2, ok 2, failed 0, skipped 0 (OK=2)" in text
    assert "spans        sent 20, accepted 20, refused 0" in text
    data = json.loads(report.to_json())
    assert data["requests_sent"] == 2
    assert set(data["latency_ms"]) == {"p50", "p90", "p99", "max", "mean", "count"}


# ----------------------------------------------------------------------------------------
# the command
# ----------------------------------------------------------------------------------------


def test_cli_one_second_run(grpc_endpoint: Callable[[Policy], tuple[str, Seen]]) -> None:
    endpoint, seen = grpc_endpoint(_accept_all)
    args = ["--endpoint", endpoint, "--rate", "300", "--duration", "1", "--spans-per-request", "10"]
    result = CliRunner().invoke(loadgen_command, [*args, "--pool-size", "4", "--services", "3", "--concurrency", "2"])
    assert result.exit_code == 0, result.output
    assert seen.requests == 30
    assert "requests     sent 30, ok 30, failed 0, skipped 0 (OK=30)" in result.output
    assert "spans        sent 300, accepted 300, refused 0" in result.output
    assert "latency ms   p50 " in result.output


def test_cli_json_over_http(http_endpoint: Callable[[Policy], tuple[str, Seen]]) -> None:
    endpoint, seen = http_endpoint(_accept_all)
    args = ["--endpoint", endpoint, "--protocol", "http", "--rate", "100", "--duration", "0.5"]
    result = CliRunner().invoke(loadgen_command, [*args, "--spans-per-request", "10", "--pool-size", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["requests_ok"] == seen.requests == 5
    assert report["spans_accepted"] == 50
    assert report["protocol"] == "http"


def test_cli_refuses_remote_and_bad_rate() -> None:
    result = CliRunner().invoke(loadgen_command, ["--endpoint", "192.0.2.1:4317", "--duration", "1"])
    assert result.exit_code == 2
    assert "not a loopback address" in result.output
    result = CliRunner().invoke(loadgen_command, ["--rate", "fast"])
    assert result.exit_code == 2
    assert "must be spans per second or 'max'" in result.output


def test_cli_exits_1_when_nothing_succeeds() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["--endpoint", f"127.0.0.1:{port}", "--rate", "10", "--duration", "0.1", "--spans-per-request", "1"]
    result = CliRunner().invoke(loadgen_command, [*args, "--pool-size", "1", "--timeout", "2"])
    assert result.exit_code == 1
    assert "UNAVAILABLE=1" in result.output
