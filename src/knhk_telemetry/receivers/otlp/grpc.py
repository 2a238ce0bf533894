"""OTLP/gRPC: the ``Export`` methods of TraceService, MetricsService and LogsService.

A synchronous ``grpcio`` server with a thread pool. Measured against a ``grpc.aio`` server
(decoding on an executor) with 4 concurrent clients: 1000-span requests ran at the same
~40k spans/s on both (decoding dominates), and with decoding taken out the sync server
answered 1100-1550 requests/s against 1000-1100 for aio; so the simpler one is used.
The methods are registered as generic handlers without a request deserializer, so a handler
gets the request's raw bytes (after gRPC's own gzip decompression) and decodes them once,
columnar; it returns the serialized response.

The message size limit is enforced here, with a message naming ``max_recv_msg_size_mib``;
gRPC's own limit is set to twice that (bounding memory for larger messages, which gRPC then
refuses itself, also with RESOURCE_EXHAUSTED). ``SO_REUSEPORT`` is off so that a port in use
is an error instead of a second server silently sharing it.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NoReturn

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)

from knhk_telemetry.component import SIGNALS, Signal
from knhk_telemetry.config import split_host_port
from knhk_telemetry.errors import (
    BackpressureError,
    ConfigError,
    DecodeError,
    MemoryLimitError,
    PipelineClosedError,
)
from knhk_telemetry.receivers.otlp.config import GrpcConfig, MiB
from knhk_telemetry.receivers.otlp.receiver import ExportResult, SignalNotServed

if TYPE_CHECKING:
    from knhk_telemetry.receivers.otlp.receiver import OtlpReceiver

#: the gRPC service of each signal (method ``Export``)
SERVICES: dict[Signal, str] = {
    "traces": "opentelemetry.proto.collector.trace.v1.TraceService",
    "metrics": "opentelemetry.proto.collector.metrics.v1.MetricsService",
    "logs": "opentelemetry.proto.collector.logs.v1.LogsService",
}
_MAX_INT32 = 2**31 - 1


def export_response(signal: Signal, result: ExportResult) -> Any:
    """The ``Export*ServiceResponse`` for ``result``: ``partial_success`` set only when something was refused."""
    if signal == "traces":
        if not result.rejected:
            return ExportTraceServiceResponse()
        return ExportTraceServiceResponse(
            partial_success=ExportTracePartialSuccess(rejected_spans=result.rejected, error_message=result.message)
        )
    if signal == "metrics":
        if not result.rejected:
            return ExportMetricsServiceResponse()
        return ExportMetricsServiceResponse(
            partial_success=ExportMetricsPartialSuccess(
                rejected_data_points=result.rejected, error_message=result.message
            )
        )
    if not result.rejected:
        return ExportLogsServiceResponse()
    return ExportLogsServiceResponse(
        partial_success=ExportLogsPartialSuccess(rejected_log_records=result.rejected, error_message=result.message)
    )


def retry_info(delay: float) -> error_details_pb2.RetryInfo:
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(round(delay * 1e9))
    return error_details_pb2.RetryInfo(retry_delay=duration)


def grpc_status(code: int, message: str, *, retry_delay: float | None = None) -> grpc.Status:
    """A status with a ``google.rpc.RetryInfo`` detail when ``retry_delay`` is given."""
    details = []
    if retry_delay is not None:
        packed = any_pb2.Any()
        packed.Pack(retry_info(retry_delay))
        details.append(packed)
    status: grpc.Status = rpc_status.to_status(status_pb2.Status(code=code, message=message, details=details))
    return status


class _Failure(Exception):
    def __init__(self, outcome: str, status: grpc.Status) -> None:
        super().__init__(status.details)
        self.outcome = outcome
        self.status = status


class GrpcServer:
    """The gRPC transport of one ``OtlpReceiver``."""

    def __init__(self, receiver: OtlpReceiver, config: GrpcConfig) -> None:
        self.receiver = receiver
        self.config = config
        self.host, self._requested_port = split_host_port(config.endpoint)
        self.port: int | None = None
        self.max_bytes = config.max_recv_msg_size_mib * MiB
        self._server: grpc.Server | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._stopped: Any = None

    def _address(self) -> str:
        host = self.host or "0.0.0.0"
        return f"[{host}]:{self._requested_port}" if ":" in host else f"{host}:{self._requested_port}"

    def start(self) -> None:
        rid = self.receiver.component_id
        options: list[tuple[str, Any]] = [
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", min(2 * self.max_bytes, _MAX_INT32)),
        ]
        if self.config.max_concurrent_streams:
            options.append(("grpc.max_concurrent_streams", self.config.max_concurrent_streams))
        handlers = [
            grpc.method_handlers_generic_handler(
                SERVICES[signal],
                {
                    "Export": grpc.unary_unary_rpc_method_handler(
                        self._handler(signal), request_deserializer=None, response_serializer=None
                    )
                },
            )
            for signal in SIGNALS
        ]
        self._executor = ThreadPoolExecutor(max_workers=self.config.workers, thread_name_prefix=f"knhk-{rid}-grpc")
        self._server = grpc.server(self._executor, handlers=handlers, options=options)
        address = self._address()
        try:
            port = self._server.add_insecure_port(address)
            problem = "" if port else "the address is in use or not available"
        except RuntimeError as exc:
            port, problem = 0, str(exc)
        if not port:
            self._server.stop(None)
            self._executor.shutdown(wait=False)
            self._server = self._executor = None
            raise ConfigError(
                f"OTLP/gRPC cannot listen on {self.config.endpoint}: {problem}",
                path=f"receivers.{rid}.protocols.grpc.endpoint",
            )
        self._server.start()
        self.port = port

    def begin_stop(self, grace: float) -> None:
        """Refuse new calls now; calls in flight get ``grace`` seconds."""
        if self._server is not None and self._stopped is None:
            self._stopped = self._server.stop(grace)

    def wait_stopped(self) -> None:
        if self._stopped is not None:
            self._stopped.wait()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._server = None

    # -- requests -------------------------------------------------------------------------
    def _handler(self, signal: Signal) -> Any:
        def export(request: bytes, context: grpc.ServicerContext) -> bytes:
            start = time.perf_counter()
            outcome = "internal_error"
            try:
                body, outcome = self._export(signal, request, context)
                return body
            except _Failure as failure:
                outcome = failure.outcome
                self._abort(context, failure.status)
            finally:
                self.receiver.stats.request("grpc", signal, outcome, time.perf_counter() - start, len(request))

        return export

    def _abort(self, context: grpc.ServicerContext, status: grpc.Status) -> NoReturn:
        context.abort_with_status(status)
        raise AssertionError("abort_with_status returned")  # it always raises

    def _export(self, signal: Signal, request: bytes, context: grpc.ServicerContext) -> tuple[bytes, str]:
        receiver = self.receiver
        retry = receiver.config.retry_delay
        if len(request) > self.max_bytes:
            message = (
                f"the {signal} request message of {len(request)} bytes is larger than max_recv_msg_size_mib "
                f"({self.config.max_recv_msg_size_mib} MiB = {self.max_bytes} bytes)"
            )
            self._log(signal, context, "too_large", message)
            raise _Failure("too_large", grpc_status(code_pb2.RESOURCE_EXHAUSTED, message))
        try:
            result = receiver.export(signal, "grpc", request)
        except SignalNotServed as exc:
            self._log(signal, context, "no_pipeline", str(exc))
            raise _Failure("no_pipeline", grpc_status(code_pb2.UNIMPLEMENTED, str(exc))) from None
        except DecodeError as exc:
            message = f"the {signal} request does not decode: {exc}"
            self._log(signal, context, "invalid", message)
            raise _Failure("invalid", grpc_status(code_pb2.INVALID_ARGUMENT, message)) from None
        except MemoryLimitError as exc:
            message = f"the server is over its memory limit, retry later: {exc}"
            raise _Failure(
                "memory_limit", grpc_status(code_pb2.RESOURCE_EXHAUSTED, message, retry_delay=retry)
            ) from None
        except BackpressureError as exc:
            message = f"the pipeline is full, retry later: {exc}"
            raise _Failure("backpressure", grpc_status(code_pb2.UNAVAILABLE, message, retry_delay=retry)) from None
        except PipelineClosedError as exc:
            message = f"the server is shutting down: {exc}"
            raise _Failure("shutting_down", grpc_status(code_pb2.UNAVAILABLE, message, retry_delay=retry)) from None
        except Exception as exc:
            receiver.log_failure(
                "internal_error", "gRPC %s request from %s failed", signal, context.peer(), exc_info=True
            )
            message = f"internal error while handling the {signal} request: {type(exc).__name__}: {exc}"
            raise _Failure("internal_error", grpc_status(code_pb2.INTERNAL, message)) from None
        body: bytes = export_response(signal, result).SerializeToString()
        return body, "partial_success" if result.rejected else "success"

    def _log(self, signal: Signal, context: grpc.ServicerContext, kind: str, message: str) -> None:
        self.receiver.log_failure(
            f"grpc_{kind}", "gRPC %s request from %s refused: %s", signal, context.peer(), message
        )
