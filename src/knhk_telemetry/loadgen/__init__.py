"""OTLP load generator: realistic traces, pre-encoded, sent over gRPC or HTTP at a fixed rate or flat out.

``knhk-telemetry loadgen`` is :data:`loadgen_command`; from Python::

    report = run_load(LoadConfig(endpoint="127.0.0.1:4317", rate=50_000, duration=5))
    print(report.to_text())

- :mod:`.traces`: trace trees across services, columnar (``generate_traces``);
- :mod:`.pool`: the pre-encoded request pool patched per send (``RequestPool``);
- :mod:`.run`: senders, open/closed-loop workers, the report (``run_load``, ``LoadReport``).
"""

from knhk_telemetry.loadgen.cli import loadgen_command
from knhk_telemetry.loadgen.pool import PoolStats, RequestPool, RequestTemplate, patch_points
from knhk_telemetry.loadgen.run import (
    GrpcSender,
    HttpSender,
    LoadConfig,
    LoadgenError,
    LoadReport,
    build_pool,
    is_loopback,
    parse_endpoint,
    run_load,
)
from knhk_telemetry.loadgen.traces import GeneratedTraces, Topology, generate_traces, topology

__all__ = [
    "GeneratedTraces",
    "GrpcSender",
    "HttpSender",
    "LoadConfig",
    "LoadReport",
    "LoadgenError",
    "PoolStats",
    "RequestPool",
    "RequestTemplate",
    "Topology",
    "build_pool",
    "generate_traces",
    "is_loopback",
    "loadgen_command",
    "parse_endpoint",
    "patch_points",
    "run_load",
    "topology",
]
