"""The ``otlp`` receiver: one component serving OTLP/gRPC and OTLP/HTTP for every signal.

The transports (``grpc.py``, ``http.py``) only speak their protocol; what a request *means*
is decided here, once for both: :meth:`OtlpReceiver.export` decodes the raw request bytes
(``knhk_telemetry.otlp.decode`` for protobuf, ``otlp.json.decode_json`` for JSON — nothing
is decoded twice), hands the batch to the signal's pipeline and returns what was accepted
and what was refused (the OTLP ``partial_success``), or raises the error the transport maps
to a status code:

=========================  ==========================  =====================================
raised                     gRPC                        HTTP
=========================  ==========================  =====================================
``DecodeError``            INVALID_ARGUMENT            400 (``google.rpc.Status`` body)
``SignalNotServed``        UNIMPLEMENTED               404
``MemoryLimitError``       RESOURCE_EXHAUSTED + Retr.  503 + ``Retry-After``
``BackpressureError``      UNAVAILABLE + RetryInfo     503 + ``Retry-After``
``PipelineClosedError``    UNAVAILABLE + RetryInfo     503 + ``Retry-After``
anything else              INTERNAL (logged)           500 (logged)
=========================  ==========================  =====================================

HTTP 429 is not used: the specification reserves it for a client over its own quota, and
this server has no per-client quota — a full queue or the memory limit is the server being
overloaded, which is 503. RESOURCE_EXHAUSTED always carries ``RetryInfo`` for the memory
limit (the specification makes it retryable only then); for an oversize message it does not.

(``+ Retr.``: with a ``google.rpc.RetryInfo`` detail.) A consumer that takes ``timeout=`` and
``rejections=`` (``TelemetryPipeline.record_batch`` does) is called with
``timeout=backpressure_wait`` (0 by default: never wait), so a slow exporter makes clients
back off instead of holding server threads, and with ``rejections`` so that items refused
on pipeline entry are reported in ``partial_success``; any other consumer gets the batch
alone, and items it did not take (its int result) are reported as ``not_accepted``.
"""

from __future__ import annotations

import bisect
import inspect
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from knhk_telemetry import otlp
from knhk_telemetry.component import SIGNALS, Component, CreateSettings, Signal
from knhk_telemetry.errors import (
    BackpressureError,
    ConfigError,
    KnhkTelemetryError,
    MemoryLimitError,
    PipelineClosedError,
)
from knhk_telemetry.model.batch import Batch
from knhk_telemetry.model.rejections import Rejections
from knhk_telemetry.otlp import json as otlp_json
from knhk_telemetry.receivers.otlp.config import OtlpReceiverConfig

log = logging.getLogger(__name__)

Transport = Literal["grpc", "http"]
Encoding = Literal["protobuf", "json"]
Sample = tuple[str, str, str, dict[str, str], float]

#: items not taken by the pipeline for a reason it did not report (drop strategies, sampling)
NOT_ACCEPTED = "not_accepted"
#: what each signal's items are called in messages
ITEM_NAMES: dict[Signal, str] = {"traces": "spans", "metrics": "data points", "logs": "log records"}
#: upper bounds of the request duration histogram, in seconds
DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: per kind of request failure, at most one log line per this many seconds (the rest are counted)
LOG_INTERVAL_S = 1.0

_PREFIX = "knhk_telemetry_receiver_"


class SignalNotServed(KnhkTelemetryError):
    """A request for a signal that no pipeline takes from this receiver."""


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What became of one request's items."""

    accepted: int
    #: items refused (decode and pipeline-entry refusals, items the pipeline did not take)
    rejected: int
    #: the ``partial_success.error_message``; empty when nothing was refused
    message: str


@dataclass(frozen=True, slots=True)
class _Consumer:
    fn: Callable[..., object]
    #: whether ``fn`` takes ``timeout=`` and ``rejections=`` (``TelemetryPipeline.record_batch`` does)
    takes_options: bool


def _takes_options(fn: Callable[..., object]) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return True
    return "timeout" in params and "rejections" in params


class _Histogram:
    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(DURATION_BUCKETS) + 1)
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(DURATION_BUCKETS, seconds)] += 1
        self.sum += seconds


class ReceiverStats:
    """Counters of one receiver, cheap enough to update per request (one lock, no objects per item)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.accepted: Counter[tuple[str, str]] = Counter()
        self.refused: Counter[tuple[str, str, str]] = Counter()
        self.requests: Counter[tuple[str, str, str]] = Counter()
        self.request_bytes: Counter[tuple[str, str]] = Counter()
        self.durations: dict[tuple[str, str], _Histogram] = {}
        self._last_log: dict[str, float] = {}
        self._suppressed: Counter[str] = Counter()

    def items(self, transport: str, signal: str, accepted: int, refused: Counter[str]) -> None:
        with self._lock:
            if accepted:
                self.accepted[transport, signal] += accepted
            for reason, n in refused.items():
                self.refused[transport, signal, reason] += n

    def request(self, transport: str, signal: str, outcome: str, seconds: float, n_bytes: int) -> None:
        with self._lock:
            self.requests[transport, signal, outcome] += 1
            self.request_bytes[transport, signal] += n_bytes
            hist = self.durations.get((transport, signal))
            if hist is None:
                hist = self.durations[transport, signal] = _Histogram()
            hist.observe(seconds)

    def should_log(self, kind: str) -> int | None:
        """None to stay quiet; else how many lines of this kind were suppressed since the last one."""
        now = time.monotonic()
        with self._lock:
            last = self._last_log.get(kind)
            if last is not None and now - last < LOG_INTERVAL_S:
                self._suppressed[kind] += 1
                return None
            self._last_log[kind] = now
            return self._suppressed.pop(kind, 0)

    def samples(self, receiver: str) -> list[Sample]:
        with self._lock:
            accepted = sorted(self.accepted.items())
            refused = sorted(self.refused.items())
            requests = sorted(self.requests.items())
            request_bytes = sorted(self.request_bytes.items())
            durations = sorted((k, list(h.counts), h.sum) for k, h in self.durations.items())
        out: list[Sample] = []
        for (transport, signal), n in accepted:
            out.append(
                (
                    _PREFIX + "accepted_items_total",
                    "counter",
                    "Items (spans, data points, log records) the pipeline accepted.",
                    {"receiver": receiver, "transport": transport, "signal": signal},
                    float(n),
                )
            )
        for (transport, signal, reason), n in refused:
            out.append(
                (
                    _PREFIX + "refused_items_total",
                    "counter",
                    "Items of decoded requests that were not accepted, by reason.",
                    {"receiver": receiver, "transport": transport, "signal": signal, "reason": reason},
                    float(n),
                )
            )
        for (transport, signal, outcome), n in requests:
            out.append(
                (
                    _PREFIX + "requests_total",
                    "counter",
                    "Export requests answered, by outcome.",
                    {"receiver": receiver, "transport": transport, "signal": signal, "outcome": outcome},
                    float(n),
                )
            )
        for (transport, signal), n in request_bytes:
            out.append(
                (
                    _PREFIX + "request_bytes_total",
                    "counter",
                    "Bytes of request messages (HTTP: the body as sent; gRPC: the message after gRPC decompression).",
                    {"receiver": receiver, "transport": transport, "signal": signal},
                    float(n),
                )
            )
        help_text = "Time from receiving a request to answering it."
        for (transport, signal), counts, total in durations:
            labels = {"receiver": receiver, "transport": transport, "signal": signal}
            cumulative = 0
            for bound, n in zip((*DURATION_BUCKETS, float("inf")), counts, strict=True):
                cumulative += n
                le = "+Inf" if bound == float("inf") else repr(bound)
                name = _PREFIX + "request_duration_seconds_bucket"
                out.append((name, "histogram", help_text, {**labels, "le": le}, float(cumulative)))
            out.append((_PREFIX + "request_duration_seconds_sum", "histogram", help_text, labels, total))
            out.append((_PREFIX + "request_duration_seconds_count", "histogram", help_text, labels, float(cumulative)))
        return out


class OtlpReceiver(Component):
    """OTLP/gRPC and OTLP/HTTP servers pushing into one consumer per signal."""

    def __init__(self, component_id: str, config: OtlpReceiverConfig) -> None:
        super().__init__(component_id)
        self.config = config
        self.stats = ReceiverStats()
        self._consumers: dict[Signal, _Consumer] = {}
        self._servers: list[Any] = []  # GrpcServer / HttpServer, started in order
        self._grpc: Any = None
        self._http: Any = None

    # -- wiring ---------------------------------------------------------------------------
    def register(self, signal: Signal, consumer: Callable[..., object]) -> None:
        """Send ``signal``'s requests to ``consumer`` (one per signal; a second one is refused)."""
        if signal not in SIGNALS:
            raise ValueError(f"unknown signal {signal!r}")
        existing = self._consumers.get(signal)
        if existing is not None and existing.fn is not consumer:
            raise ConfigError(f"receiver {self.component_id} already has a consumer for {signal}")
        self._consumers[signal] = _Consumer(consumer, _takes_options(consumer))

    def attach(self, settings: CreateSettings) -> None:
        """Serve ``settings.signal`` too, handing its requests to ``settings.next_consumer``."""
        if settings.next_consumer is None:
            raise ConfigError(f"receiver {self.component_id} needs a next consumer for {settings.signal}")
        self.register(settings.signal, settings.next_consumer)

    def serves(self, signal: Signal) -> bool:
        return signal in self._consumers

    def signals(self) -> tuple[Signal, ...]:
        return tuple(s for s in SIGNALS if s in self._consumers)

    @property
    def is_started(self) -> bool:
        return self._started

    @property
    def is_shut_down(self) -> bool:
        return self._shut_down

    @property
    def grpc_port(self) -> int | None:
        """The port the gRPC server listens on (None when it is not running)."""
        return self._grpc.port if self._grpc is not None else None

    @property
    def http_port(self) -> int | None:
        """The port the HTTP server listens on (None when it is not running)."""
        return self._http.port if self._http is not None else None

    # -- lifecycle ------------------------------------------------------------------------
    def _start(self) -> None:
        from knhk_telemetry.receivers.otlp.grpc import GrpcServer
        from knhk_telemetry.receivers.otlp.http import HttpServer

        protocols = self.config.protocols
        try:
            if protocols.grpc is not None:
                self._grpc = GrpcServer(self, protocols.grpc)
                self._servers.append(self._grpc)
                self._grpc.start()
            if protocols.http is not None:
                self._http = HttpServer(self, protocols.http)
                self._servers.append(self._http)
                self._http.start()
        except BaseException:
            self._stop_servers(grace=0.0)
            raise
        log.info(
            "otlp receiver %s listening",
            self.component_id,
            extra={
                "grpc": f"{self._grpc.host}:{self._grpc.port}" if self._grpc else None,
                "http": f"{self._http.host}:{self._http.port}" if self._http else None,
                "signals": list(self.signals()),
            },
        )

    def _shutdown(self) -> None:
        self._stop_servers(grace=self.config.shutdown_grace)

    def _stop_servers(self, grace: float) -> None:
        """Stop accepting on every transport at once, then wait (``grace``) for requests in flight."""
        servers, self._servers = self._servers, []
        for server in servers:
            server.begin_stop(grace)
        for server in servers:
            try:
                server.wait_stopped()
            except Exception:
                log.exception("otlp receiver %s: stopping %s failed", self.component_id, type(server).__name__)

    # -- the request path -----------------------------------------------------------------
    def export(
        self, signal: Signal, transport: Transport, data: bytes | bytearray, encoding: Encoding = "protobuf"
    ) -> ExportResult:
        """Decode one ``Export*ServiceRequest`` and push its items into the signal's pipeline.

        Raises ``SignalNotServed``, ``DecodeError``, ``BackpressureError`` (``MemoryLimitError``)
        or ``PipelineClosedError``; items refused on the way are in the result, not errors.
        """
        consumer = self._consumers.get(signal)
        if consumer is None:
            raise SignalNotServed(
                f"no pipeline takes {signal} from receiver {self.component_id} "
                f"(add it to a service.pipelines.{signal} entry's receivers)"
            )
        decoded = otlp_json.decode_json(signal, data) if encoding == "json" else otlp.decode(signal, data)
        rejections: Rejections = decoded.rejected
        batch: Batch = decoded.batch
        n = len(batch)
        accepted = 0
        if n:
            before = rejections.total
            try:
                accepted = self._deliver(consumer, batch, rejections)
            except PipelineClosedError:
                self._refused(transport, signal, rejections, "pipeline_closed", n - (rejections.total - before))
                raise
            except MemoryLimitError:
                self._refused(transport, signal, rejections, "memory_limit", n - (rejections.total - before))
                raise
            except BackpressureError:
                self._refused(transport, signal, rejections, "backpressure", n - (rejections.total - before))
                raise
            missing = n - accepted - (rejections.total - before)
            if missing > 0:
                rejections.add(
                    NOT_ACCEPTED,
                    f"{missing} {ITEM_NAMES[signal]} were not taken by the pipeline (queue full or load shedding)",
                    missing,
                )
        self.stats.items(transport, signal, accepted, rejections.counts)
        return ExportResult(accepted, rejections.total, rejections.summary())

    def _deliver(self, consumer: _Consumer, batch: Batch, rejections: Rejections) -> int:
        if consumer.takes_options:
            out = consumer.fn(batch, timeout=self.config.backpressure_wait, rejections=rejections)
        else:
            out = consumer.fn(batch)
        if isinstance(out, int) and not isinstance(out, bool):
            return out
        return len(batch)

    def _refused(self, transport: Transport, signal: Signal, rejections: Rejections, reason: str, n: int) -> None:
        refused = Counter(rejections.counts)
        refused[reason] += n
        self.stats.items(transport, signal, 0, refused)

    def log_failure(self, kind: str, message: str, *args: object, exc_info: bool = False) -> None:
        """Log a failed request, at most once per ``LOG_INTERVAL_S`` per ``kind`` (all are counted)."""
        suppressed = self.stats.should_log(kind)
        if suppressed is None:
            return
        if suppressed:
            message += " (%d similar failures not logged)"
            args = (*args, suppressed)
        level = logging.ERROR if exc_info else logging.WARNING
        log.log(level, "otlp receiver %s: " + message, self.component_id, *args, exc_info=exc_info)

    # -- observability --------------------------------------------------------------------
    def self_metrics(self) -> list[Sample]:
        return self.stats.samples(self.component_id)
