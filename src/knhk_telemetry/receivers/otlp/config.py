"""Config of the ``otlp`` receiver, shaped like the Collector's otlpreceiver.

```yaml
receivers:
  otlp:
    protocols:
      grpc: {endpoint: 127.0.0.1:4317, max_recv_msg_size_mib: 16}
      http: {endpoint: 127.0.0.1:4318, max_request_body_size: 16MiB, cors: {allowed_origins: ["*"]}}
```

Only the protocols present are served. As in the Collector, a protocol key with no body
(``grpc:``) means that protocol with its defaults, and an ``otlp:`` with no protocol at all
is an error. The keys ``backpressure_wait``, ``retry_delay``, ``shutdown_grace`` and
``workers`` are ours (the Collector has no equivalent).
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import Field, model_validator

from knhk_telemetry.component import ComponentConfig
from knhk_telemetry.config import Duration, Size, split_host_port
from knhk_telemetry.errors import ConfigError

MiB = 1 << 20


def default_workers() -> int:
    """Handler threads when ``workers`` is not set: the CPUs, at most 4 (see ``GrpcConfig.workers``)."""
    return max(1, min(4, os.cpu_count() or 1))


def _check_endpoint(endpoint: str, path: str) -> tuple[str, int]:
    try:
        return split_host_port(endpoint)
    except ValueError as exc:
        raise ConfigError(str(exc), path=path) from None


class GrpcConfig(ComponentConfig):
    """The OTLP/gRPC server (TraceService, MetricsService, LogsService ``Export``)."""

    #: host:port to listen on; port 0 picks a free port (see ``OtlpReceiver.grpc_port``)
    endpoint: str = "127.0.0.1:4317"
    #: largest request message accepted, in MiB after gRPC decompression (the Collector's
    #: default is 4; 16 takes ~45k spans of the load generator's traces in one request)
    max_recv_msg_size_mib: int = Field(16, gt=0)
    #: HTTP/2 streams one connection may have open at once; 0: gRPC's default (no limit)
    max_concurrent_streams: int = Field(0, ge=0)
    #: threads that decode and record requests; each holds one request at a time. Default:
    #: the CPUs, at most 4. More threads only contend for the GIL (decoding itself releases
    #: it): on 2 cores, 2 workers took 717k spans/s at 592k spans per CPU-second, 8 workers
    #: 581k at 486k, with 48 context switches per request against 29 (BENCHMARKS.md,
    #: ``bench/ingest.py --workers N``)
    workers: int = Field(default_factory=default_workers, gt=0)


class CorsConfig(ComponentConfig):
    """Cross-origin requests from browsers (preflight ``OPTIONS`` and the response headers)."""

    #: origins allowed to post, exactly (``https://app.example.com``), with one ``*`` wildcard
    #: (``https://*.example.com``), or ``*`` for any; empty: CORS is off
    allowed_origins: tuple[str, ...] = ()
    #: request headers allowed besides the CORS-safelisted ones and ``Content-Type``,
    #: ``Content-Encoding``; ``*`` allows any
    allowed_headers: tuple[str, ...] = ()
    #: seconds a browser may cache a preflight answer; 0: no ``Access-Control-Max-Age`` header
    max_age: int = Field(0, ge=0)


class HttpConfig(ComponentConfig):
    """The OTLP/HTTP server (``POST`` of protobuf or JSON, gzip/zstd ``Content-Encoding``)."""

    #: host:port to listen on; port 0 picks a free port (see ``OtlpReceiver.http_port``)
    endpoint: str = "127.0.0.1:4318"
    #: largest request body, in bytes (an integer, as the Collector's key) or a size such as
    #: ``16MiB``; it limits the body as sent and again after decompression (413 beyond it)
    max_request_body_size: Size = Field(20 * MiB, gt=0)
    #: CORS; absent: no CORS headers and ``OPTIONS`` is answered 405
    cors: CorsConfig | None = None
    traces_url_path: str = "/v1/traces"
    metrics_url_path: str = "/v1/metrics"
    logs_url_path: str = "/v1/logs"
    #: threads that decompress, decode and record request bodies off the event loop;
    #: default: the CPUs, at most 4 (as for gRPC: more only contend for the GIL)
    workers: int = Field(default_factory=default_workers, gt=0)


class ProtocolsConfig(ComponentConfig):
    """The transports to serve; a key that is absent is not served."""

    grpc: GrpcConfig | None = None
    http: HttpConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _empty_means_defaults(cls, data: Any) -> Any:
        """``grpc:`` with no body (YAML null) is that protocol with its defaults, as in the Collector."""
        if isinstance(data, dict):
            return {k: ({} if v is None and k in ("grpc", "http") else v) for k, v in data.items()}
        return data


class OtlpReceiverConfig(ComponentConfig):
    """The ``otlp`` receiver: which transports to serve and how to push back."""

    protocols: ProtocolsConfig = Field(default_factory=ProtocolsConfig)
    #: how long a request may wait for room in a full pipeline queue before the client is
    #: told to retry (gRPC UNAVAILABLE / HTTP 503); 0: never wait (a server thread is never
    #: held up by a slow exporter)
    backpressure_wait: Duration = Field(0.0, ge=0)
    #: the retry delay suggested to throttled clients (gRPC RetryInfo; HTTP Retry-After,
    #: rounded up to whole seconds)
    retry_delay: Duration = Field(1.0, gt=0)
    #: at shutdown, how long requests in flight may take to finish before they are cancelled
    shutdown_grace: Duration = Field(5.0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _null_protocols(cls, data: Any) -> Any:
        if isinstance(data, dict) and "protocols" in data and data["protocols"] is None:
            return {**data, "protocols": {}}
        return data

    def validate_config(self, path: str) -> None:
        grpc, http = self.protocols.grpc, self.protocols.http
        if grpc is None and http is None:
            raise ConfigError(
                "names no protocol: add grpc: and/or http: (an empty key serves that protocol with its defaults)",
                path=f"{path}.protocols",
            )
        endpoints: dict[tuple[str, int], str] = {}
        for name, proto in (("grpc", grpc), ("http", http)):
            if proto is None:
                continue
            where = f"{path}.protocols.{name}.endpoint"
            host, port = _check_endpoint(proto.endpoint, where)
            if port and (host, port) in endpoints:
                raise ConfigError(f"is the same address as {endpoints[host, port]}", path=where)
            endpoints[host, port] = where
        if http is not None:
            seen: dict[str, str] = {}
            for signal in ("traces", "metrics", "logs"):
                key = f"{signal}_url_path"
                value: str = getattr(http, key)
                where = f"{path}.protocols.http.{key}"
                if not value.startswith("/"):
                    raise ConfigError(f"must start with '/', got {value!r}", path=where)
                if value in seen:
                    raise ConfigError(f"is the same path as {seen[value]} ({value!r})", path=where)
                seen[value] = where
            if http.cors is not None:
                for i, origin in enumerate(http.cors.allowed_origins):
                    if origin.count("*") > 1 or not origin.strip():
                        raise ConfigError(
                            f"invalid origin {origin!r}: an origin, '*', or one '*' wildcard",
                            path=f"{path}.protocols.http.cors.allowed_origins[{i}]",
                        )
