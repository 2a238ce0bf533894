"""Self-metrics of the running service, served in the Prometheus text format on ``/metrics``.

The service does not keep prometheus_client metric objects: components count in their own
(columnar-friendly) counters and report them through ``self_metrics()``. At scrape time a
``collect`` callable gathers those as :class:`Sample` tuples; a custom collector on a private
``CollectorRegistry`` groups them into metric families. Samples that would make the exposition
invalid (bad names, a family with two types, a duplicate series, a negative counter) are
skipped and counted, so one bad component cannot break the scrape; a ``collect`` that raises
is logged and what it produced before the failure is still served.

Endpoints: ``/metrics`` (text format, OpenMetrics when asked via ``Accept``) and ``/healthz``.

Example::

    server = MetricsServer("127.0.0.1:0", lambda: [Sample("knhk_telemetry_up", "gauge", "Up.", {}, 1.0)])
    server.start()          # server.port is the port the OS picked
    ...
    server.shutdown()
"""

from __future__ import annotations

import logging
import re
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from socketserver import ThreadingMixIn
from types import TracebackType
from typing import Literal, NamedTuple
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIEnvironment

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import Metric

from knhk_telemetry.config import split_host_port
from knhk_telemetry.errors import ConfigError

logger = logging.getLogger(__name__)

MetricType = Literal["counter", "gauge", "summary", "histogram", "unknown"]


class Sample(NamedTuple):
    """One self-metric sample; same shape as ``Component.self_metrics()`` yields.

    Counters may be named with or without ``_total`` (it is always exposed with it); summaries
    give quantile samples (a ``quantile`` label) under the family name plus ``<name>_sum`` and
    ``<name>_count``; histograms give ``<name>_bucket`` (an ``le`` label), ``_sum``, ``_count``.
    """

    name: str
    type: MetricType
    help: str
    labels: Mapping[str, str]
    value: float


#: What ``collect`` may yield: Samples or plain 5-tuples (``Component.self_metrics()``).
SampleLike = tuple[str, str, str, Mapping[str, str], float]
Collect = Callable[[], Iterable[SampleLike]]

_METRIC_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_TYPES: frozenset[str] = frozenset(("counter", "gauge", "summary", "histogram", "unknown"))
#: sample-name suffixes that belong to the family without them, per type
_SUFFIXES: dict[str, tuple[str, ...]] = {
    "counter": ("_total",),
    "summary": ("_sum", "_count"),
    "histogram": ("_bucket", "_sum", "_count"),
}

COLLECT_ERRORS = "knhk_telemetry_self_metrics_collect_errors"
INVALID_SAMPLES = "knhk_telemetry_self_metrics_invalid_samples"
_RESERVED = frozenset((COLLECT_ERRORS, INVALID_SAMPLES))


class InvalidSample(ValueError):
    """A sample that cannot be exposed; the message says why."""


def _family_name(name: str, typ: str, labels: Mapping[str, str]) -> str:
    for suffix in _SUFFIXES.get(typ, ()):
        if name.endswith(suffix) and len(name) > len(suffix):
            if typ == "summary" and "quantile" in labels:
                break  # a quantile sample is named after the family itself
            return name[: -len(suffix)]
    return name


def _sample_name(family: str, name: str, typ: str, labels: Mapping[str, str]) -> str:
    if typ == "counter":
        return family + "_total"
    if typ == "summary" and name == family and "quantile" not in labels:
        raise InvalidSample("a summary sample needs a 'quantile' label, or a _sum/_count suffix")
    if typ == "histogram" and name == family:
        raise InvalidSample("a histogram sample needs a _bucket, _sum or _count suffix")
    if typ == "histogram" and name.endswith("_bucket") and "le" not in labels:
        raise InvalidSample("a histogram _bucket sample needs an 'le' label")
    return name


def build_families(samples: Iterable[SampleLike], on_invalid: Callable[[SampleLike, str], None]) -> list[Metric]:
    """Group samples into prometheus_client metric families, first-seen order; report rejects."""
    families: dict[str, Metric] = {}
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for sample in samples:
        try:
            name, typ, help_text, raw_labels, raw_value = sample
            if typ not in _TYPES:
                raise InvalidSample(f"unknown metric type {typ!r} (expected one of: {', '.join(sorted(_TYPES))})")
            if not isinstance(name, str) or not _METRIC_NAME_RE.fullmatch(name):
                raise InvalidSample(f"invalid metric name {name!r}")
            labels = {str(k): str(v) for k, v in raw_labels.items()}
            for key in labels:
                if not _LABEL_NAME_RE.fullmatch(key) or key.startswith("__"):
                    raise InvalidSample(f"invalid label name {key!r}")
            try:
                value = float(raw_value)
            except (TypeError, ValueError):
                raise InvalidSample(f"value {raw_value!r} is not a number") from None
            if typ == "counter" and not value >= 0:  # also refuses NaN
                raise InvalidSample(f"counter value {value!r} is negative or NaN")
            if "quantile" in labels:
                try:
                    float(labels["quantile"])
                except ValueError:
                    raise InvalidSample(f"quantile label {labels['quantile']!r} is not a number") from None
            family_name = _family_name(name, typ, labels)
            if family_name in _RESERVED:
                raise InvalidSample(f"metric name {family_name!r} is reserved for the metrics server itself")
            sample_name = _sample_name(family_name, name, typ, labels)
            family = families.get(family_name)
            if family is None:
                family = Metric(family_name, str(help_text), typ)
                families[family_name] = family
            elif family.type != typ:
                raise InvalidSample(f"family {family_name!r} is already a {family.type}, not a {typ}")
            series = (sample_name, tuple(sorted(labels.items())))
            if series in seen:
                raise InvalidSample(f"duplicate series {sample_name}{dict(series[1])}")
            seen.add(series)
            family.add_sample(sample_name, labels, value)
        except InvalidSample as exc:
            on_invalid(sample, str(exc))
        except (TypeError, ValueError, AttributeError) as exc:
            on_invalid(sample, f"not a (name, type, help, labels, value) sample: {exc}")
    return list(families.values())


class _SelfMetricsCollector:
    """The prometheus_client collector: calls ``collect`` once per scrape, serialised."""

    def __init__(self, collect: Collect) -> None:
        self._collect = collect
        self._lock = threading.Lock()
        self._collect_errors = 0
        self._logged: set[tuple[str, str]] = set()

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            gathered: list[SampleLike] = []
            try:
                gathered.extend(self._collect())
            except Exception:
                self._collect_errors += 1
                logger.exception("self-metrics collect() failed; serving the %d samples before it", len(gathered))
            invalid = 0

            def reject(sample: SampleLike, reason: str) -> None:
                nonlocal invalid
                invalid += 1
                key = (str(sample[0]) if isinstance(sample, tuple) and sample else repr(sample), reason)
                if key not in self._logged:  # once per name and reason, not once per scrape
                    self._logged.add(key)
                    logger.warning("self-metric sample skipped: %s: %r", reason, sample)

            families = build_families(gathered, reject)
            errors = Metric(COLLECT_ERRORS, "Scrapes whose self-metrics collection raised.", "counter")
            errors.add_sample(COLLECT_ERRORS + "_total", {}, float(self._collect_errors))
            skipped = Metric(INVALID_SAMPLES, "Self-metric samples skipped as invalid in the last scrape.", "gauge")
            skipped.add_sample(INVALID_SAMPLES, {}, float(invalid))
        yield from families
        yield errors
        yield skipped


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        logger.debug("metrics server: " + format, *args)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class MetricsServer:
    """Prometheus ``/metrics`` (and ``/healthz``) for self-metrics, on a background thread."""

    def __init__(self, address: str, collect: Collect) -> None:
        self.address = address
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_SelfMetricsCollector(collect))
        self._metrics_app = make_wsgi_app(self.registry)
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        try:
            self._host, self._port = split_host_port(address)
        except ValueError as exc:
            raise ConfigError(str(exc), path="service.telemetry.metrics.address") from None

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        """The bound port once started (the OS's pick for port 0), else the configured one."""
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else (self._host or "127.0.0.1")
        return f"http://{host}:{self._port}/metrics"

    def start(self) -> None:
        """Bind and serve in a daemon thread; a second call is a no-op. Bind errors name the address."""
        with self._lock:
            if self._server is not None:
                return
            host = self._host or "0.0.0.0"  # ":9464" means every interface, as in Go
            try:
                family = socket.getaddrinfo(host, self._port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
                server_class = _Server6 if family == socket.AF_INET6 else _Server
                server = make_server(host, self._port, self._app, server_class, _QuietHandler)
            except OSError as exc:
                reason = exc.strerror or str(exc)
                raise ConfigError(
                    f"cannot serve self-metrics on {self.address}: {reason}",
                    path="service.telemetry.metrics.address",
                ) from exc
            self._port = int(server.server_address[1])
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.2},
                name=f"knhk-metrics-{self._port}",
                daemon=True,
            )
            self._thread.start()
            logger.info("serving self-metrics on %s", self.url)

    def shutdown(self) -> None:
        """Stop serving and close the socket; idempotent, safe without start."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self) -> MetricsServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()

    def _app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            try:
                return self._metrics_app(environ, start_response)  # type: ignore[no-any-return]
            except Exception:
                logger.exception("self-metrics exposition failed")
                return _text(start_response, "500 Internal Server Error", "self-metrics exposition failed\n")
        if path == "/healthz":
            return _text(start_response, "200 OK", "ok\n")
        return _text(start_response, "404 Not Found", "not found: try /metrics or /healthz\n")


def _text(start_response: StartResponse, status: str, body: str) -> list[bytes]:
    data = body.encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))])
    return [data]


__all__ = [
    "COLLECT_ERRORS",
    "INVALID_SAMPLES",
    "Collect",
    "InvalidSample",
    "MetricType",
    "MetricsServer",
    "Sample",
    "SampleLike",
    "build_families",
]
