"""OTLP/HTTP: ``POST`` of binary protobuf or OTLP/JSON to ``/v1/traces|metrics|logs``.

An aiohttp server on its own thread and event loop. The loop only does I/O: the body is
read there (counted against ``max_request_body_size`` as it arrives, so an oversize body is
never held whole), then decompression, decoding and the hand-off to the pipeline run on a
thread pool, so a large request never stalls the other connections.

Answers, as the OTLP specification says (every 4xx/5xx body is a ``google.rpc.Status`` in the
request's encoding — protobuf unless the request was JSON):

- 200 with an ``Export*ServiceResponse`` (``partial_success`` when items were refused);
- 400 for a body that does not decode (or a corrupt compressed stream); not retryable;
- 404 for a signal no pipeline takes from this receiver, or a path that is no endpoint;
- 405 for other methods (``Allow`` says which); ``OPTIONS`` is a CORS preflight when CORS is on;
- 413 for a body over ``max_request_body_size``, before or after decompression (so a
  decompression bomb is cut off at the limit, never inflated whole); not retryable;
- 415 for a ``Content-Type`` other than ``application/x-protobuf`` / ``application/json``, or
  a ``Content-Encoding`` other than gzip, zstd, deflate (zlib) or identity (RFC 9110 15.5.16);
- 503 with ``Retry-After`` when the pipeline is full, the process is over its memory limit,
  or the receiver is shutting down (retryable; 429 is for a client over its own quota,
  which this server does not have);
- 500 for a bug (logged with the traceback).
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import zstandard
from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2

from knhk_telemetry.component import Signal
from knhk_telemetry.config import split_host_port
from knhk_telemetry.errors import (
    BackpressureError,
    ConfigError,
    DecodeError,
    MemoryLimitError,
    PipelineClosedError,
)
from knhk_telemetry.receivers.otlp.config import CorsConfig, HttpConfig
from knhk_telemetry.receivers.otlp.grpc import export_response
from knhk_telemetry.receivers.otlp.receiver import Encoding, SignalNotServed

if TYPE_CHECKING:
    from knhk_telemetry.receivers.otlp.receiver import OtlpReceiver

CONTENT_TYPES: dict[str, Encoding] = {"application/x-protobuf": "protobuf", "application/json": "json"}
_MEDIA_TYPES: dict[Encoding, str] = {"protobuf": "application/x-protobuf", "json": "application/json"}
#: request headers a browser may always send (CORS-safelisted) plus the two OTLP needs
_ALWAYS_ALLOWED_HEADERS = frozenset(
    ("accept", "accept-language", "content-language", "content-type", "content-encoding")
)
#: request Content-Encodings understood (RFC 9110 names; x-gzip is gzip)
_CODINGS = {"gzip": "gzip", "x-gzip": "gzip", "zstd": "zstd", "deflate": "deflate"}
_READ_CHUNK = 1 << 16
_DECOMPRESS_CHUNK = 1 << 20
#: how long start() waits for the server thread to bind
_START_TIMEOUT_S = 30.0


class _Reply(Exception):
    """An HTTP answer other than 200 (raised anywhere in the request path)."""

    def __init__(
        self,
        status: int,
        outcome: str,
        message: str,
        *,
        code: int,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.outcome = outcome
        self.message = message
        self.code = code
        self.headers = headers or {}


def serialize(message: Message, encoding: Encoding) -> bytes:
    """A protobuf message as binary protobuf or as compact proto3 JSON (lowerCamelCase keys)."""
    if encoding == "json":
        doc = json_format.MessageToDict(message, preserving_proto_field_name=False, use_integers_for_enums=True)
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    data: bytes = message.SerializeToString()
    return data


def decompress(body: bytes, coding: str, limit: int) -> bytearray:
    """``body`` decoded from ``coding`` (gzip, zstd, deflate = zlib), at most ``limit`` bytes.

    Raises the 413 reply beyond ``limit`` (output is produced in bounded steps, so a
    decompression bomb costs at most ``limit`` bytes) and the 400 reply for a corrupt stream."""
    too_large = _Reply(
        413,
        "too_large",
        f"the request body is larger than max_request_body_size ({limit} bytes) once decompressed ({coding})",
        code=code_pb2.RESOURCE_EXHAUSTED,
    )
    out = bytearray()
    try:
        if coding == "zstd":
            reader = zstandard.ZstdDecompressor().stream_reader(body, read_across_frames=True)
            while chunk := reader.read(min(_DECOMPRESS_CHUNK, limit + 1 - len(out))):
                out += chunk
                if len(out) > limit:
                    raise too_large
            return out
        # gzip: one inflater per member (members may follow each other); deflate: one zlib stream
        wbits = 31 if coding == "gzip" else 15
        data = body
        while data:
            inflater = zlib.decompressobj(wbits=wbits)
            while data and not inflater.eof:
                out += inflater.decompress(data, limit + 1 - len(out))
                if len(out) > limit:
                    raise too_large
                data = inflater.unconsumed_tail
            if not inflater.eof:
                raise zlib.error(f"the {coding} stream is truncated")
            data = inflater.unused_data
            if data and coding == "deflate":
                raise zlib.error(f"{len(data)} bytes follow the end of the deflate stream")
        return out
    except (zlib.error, zstandard.ZstdError) as exc:
        raise _Reply(
            400, "invalid", f"the {coding} request body does not decompress: {exc}", code=code_pb2.INVALID_ARGUMENT
        ) from None


def _origin_allowed(origin: str, allowed: tuple[str, ...]) -> bool:
    for pattern in allowed:
        if pattern in ("*", origin):
            return True
        if "*" in pattern:
            head, tail = pattern.split("*", 1)
            if len(origin) >= len(head) + len(tail) and origin.startswith(head) and origin.endswith(tail):
                return True
    return False


class HttpServer:
    """The HTTP transport of one ``OtlpReceiver``."""

    def __init__(self, receiver: OtlpReceiver, config: HttpConfig) -> None:
        self.receiver = receiver
        self.config = config
        self.host, self._requested_port = split_host_port(config.endpoint)
        self.port: int | None = None
        self.paths: dict[str, Signal] = {
            config.traces_url_path: "traces",
            config.metrics_url_path: "metrics",
            config.logs_url_path: "logs",
        }
        self._cors: CorsConfig | None = config.cors if config.cors and config.cors.allowed_origins else None
        self._allow = "POST, OPTIONS" if self._cors else "POST"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: Future[None] | None = None
        self._start_error: BaseException | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        rid = self.receiver.component_id
        self._executor = ThreadPoolExecutor(max_workers=self.config.workers, thread_name_prefix=f"knhk-{rid}-http")
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name=f"knhk-{rid}-http-loop", daemon=True)
        self._thread.start()
        if not ready.wait(_START_TIMEOUT_S):
            raise RuntimeError(f"OTLP/HTTP server of {rid} did not start within {_START_TIMEOUT_S:.0f} s")
        if self._start_error is not None:
            self._thread.join()
            self._executor.shutdown(wait=False)
            self._thread = self._executor = None
            error = self._start_error
            raise ConfigError(
                f"OTLP/HTTP cannot listen on {self.config.endpoint}: {error}",
                path=f"receivers.{rid}.protocols.http.endpoint",
            ) from error

    def _serve(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            try:
                loop.run_until_complete(self._bind())
            except (OSError, ValueError) as exc:
                self._start_error = exc
                loop.run_until_complete(self._cleanup())
                return
            finally:
                ready.set()
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _bind(self) -> None:
        app = web.Application(client_max_size=self.config.max_request_body_size)
        for path, signal in self.paths.items():
            app.router.add_route("*", path, self._endpoint(signal))
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            auto_decompress=False,
            shutdown_timeout=self.receiver.config.shutdown_grace,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host or None, self._requested_port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or ()
        self.port = sockets[0].getsockname()[1] if sockets else self._requested_port

    async def _cleanup(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def begin_stop(self, grace: float) -> None:
        """Close the listening socket now; requests in flight get ``grace`` (set at start)."""
        if self._loop is not None and self._stopping is None and self._thread is not None:
            self._stopping = asyncio.run_coroutine_threadsafe(self._cleanup(), self._loop)

    def wait_stopped(self) -> None:
        try:
            if self._stopping is not None:
                self._stopping.result()
        finally:
            if self._loop is not None and self._thread is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join()
            if self._executor is not None:
                self._executor.shutdown(wait=True)
            self._thread = self._executor = None

    # -- requests -------------------------------------------------------------------------
    def _endpoint(self, signal: Signal) -> Any:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._handle(signal, request)

        return handle

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        message = f"no OTLP endpoint at {request.path}; the endpoints are " + ", ".join(
            f"POST {p} ({s})" for p, s in self.paths.items()
        )
        self.receiver.stats.request("http", "unknown", "not_found", 0.0, 0)
        return self._status_response(_Reply(404, "not_found", message, code=code_pb2.NOT_FOUND), "protobuf", request)

    async def _handle(self, signal: Signal, request: web.Request) -> web.StreamResponse:
        start = time.perf_counter()
        encoding: Encoding = "protobuf"
        n_bytes = 0
        try:
            if request.method == "OPTIONS" and self._cors is not None:
                return self._preflight(request)
            if request.method != "POST":
                raise _Reply(
                    405,
                    "method_not_allowed",
                    f"{request.method} is not allowed on {request.path}: OTLP/HTTP takes POST",
                    code=code_pb2.UNIMPLEMENTED,
                    headers={"Allow": self._allow},
                )
            encoding = self._encoding(request)
            if not self.receiver.serves(signal):
                raise _Reply(
                    404,
                    "no_pipeline",
                    f"no pipeline takes {signal} from receiver {self.receiver.component_id} "
                    f"(add it to a service.pipelines.{signal} entry's receivers)",
                    code=code_pb2.UNIMPLEMENTED,
                )
            coding = self._content_coding(request)
            body = await self._read_body(request)
            n_bytes = len(body)
            assert self._executor is not None
            loop = asyncio.get_running_loop()
            payload, outcome = await loop.run_in_executor(self._executor, self._work, signal, body, coding, encoding)
            response = web.Response(body=payload, status=200, content_type=_MEDIA_TYPES[encoding])
            self._add_cors(request, response)
            self.receiver.stats.request("http", signal, outcome, time.perf_counter() - start, n_bytes)
            return response
        except _Reply as reply:
            if reply.outcome not in ("backpressure", "memory_limit", "shutting_down"):
                self.receiver.log_failure(
                    f"http_{reply.outcome}",
                    "HTTP %s request from %s refused (%d): %s",
                    signal,
                    request.remote,
                    reply.status,
                    reply.message,
                )
            self.receiver.stats.request("http", signal, reply.outcome, time.perf_counter() - start, n_bytes)
            return self._status_response(reply, encoding, request)
        except Exception as exc:
            self.receiver.log_failure(
                "http_internal_error", "HTTP %s request from %s failed", signal, request.remote, exc_info=True
            )
            self.receiver.stats.request("http", signal, "internal_error", time.perf_counter() - start, n_bytes)
            failure = _Reply(
                500,
                "internal_error",
                f"internal error while handling the {signal} request: {type(exc).__name__}: {exc}",
                code=code_pb2.INTERNAL,
            )
            return self._status_response(failure, encoding, request)

    def _encoding(self, request: web.Request) -> Encoding:
        media = request.content_type.lower() if request.headers.get("Content-Type") else ""
        encoding = CONTENT_TYPES.get(media)
        if encoding is None:
            got = f"Content-Type {media!r}" if media else "no Content-Type"
            raise _Reply(
                415,
                "unsupported_media_type",
                f"{got} is not supported: send application/x-protobuf or application/json",
                code=code_pb2.INVALID_ARGUMENT,
            )
        return encoding

    def _content_coding(self, request: web.Request) -> str:
        raw = request.headers.get("Content-Encoding", "")
        codings = [c.strip().lower() for c in raw.split(",") if c.strip() and c.strip().lower() != "identity"]
        if not codings:
            return ""
        if len(codings) == 1 and codings[0] in _CODINGS:
            return _CODINGS[codings[0]]
        raise _Reply(
            415,
            "unsupported_media_type",
            f"Content-Encoding {raw!r} is not supported: send gzip, zstd, deflate or an uncompressed body",
            code=code_pb2.INVALID_ARGUMENT,
            headers={"Accept-Encoding": "gzip, zstd, deflate"},
        )

    def _too_large(self, size: int | None) -> _Reply:
        limit = self.config.max_request_body_size
        got = f" ({size} bytes)" if size is not None else ""
        return _Reply(
            413,
            "too_large",
            f"the request body{got} is larger than max_request_body_size ({limit} bytes)",
            code=code_pb2.RESOURCE_EXHAUSTED,
        )

    async def _read_body(self, request: web.Request) -> bytes:
        limit = self.config.max_request_body_size
        declared = request.content_length
        if declared is not None and declared > limit:
            raise self._too_large(declared)
        chunks: list[bytes] = []
        total = 0
        async for chunk in request.content.iter_chunked(_READ_CHUNK):
            total += len(chunk)
            if total > limit:
                raise self._too_large(None)
            chunks.append(chunk)
        return b"".join(chunks)

    def _work(self, signal: Signal, body: bytes, coding: str, encoding: Encoding) -> tuple[bytes, str]:
        """Off the event loop: decompress, decode, hand to the pipeline, encode the answer."""
        data: bytes | bytearray = decompress(body, coding, self.config.max_request_body_size) if coding else body
        retry = self.receiver.config.retry_delay
        throttled = {"Retry-After": str(max(1, math.ceil(retry)))}
        try:
            result = self.receiver.export(signal, "http", data, encoding)
        except SignalNotServed as exc:
            raise _Reply(404, "no_pipeline", str(exc), code=code_pb2.UNIMPLEMENTED) from None
        except DecodeError as exc:
            raise _Reply(
                400, "invalid", f"the {signal} request does not decode: {exc}", code=code_pb2.INVALID_ARGUMENT
            ) from None
        except MemoryLimitError as exc:
            raise _Reply(
                503,
                "memory_limit",
                f"the server is over its memory limit, retry later: {exc}",
                code=code_pb2.RESOURCE_EXHAUSTED,
                headers=throttled,
            ) from None
        except BackpressureError as exc:
            raise _Reply(
                503,
                "backpressure",
                f"the pipeline is full, retry later: {exc}",
                code=code_pb2.UNAVAILABLE,
                headers=throttled,
            ) from None
        except PipelineClosedError as exc:
            raise _Reply(
                503,
                "shutting_down",
                f"the server is shutting down: {exc}",
                code=code_pb2.UNAVAILABLE,
                headers=throttled,
            ) from None
        payload = serialize(export_response(signal, result), encoding)
        return payload, "partial_success" if result.rejected else "success"

    def _status_response(self, reply: _Reply, encoding: Encoding, request: web.Request) -> web.Response:
        body = serialize(status_pb2.Status(code=reply.code, message=reply.message), encoding)
        response = web.Response(
            body=body, status=reply.status, content_type=_MEDIA_TYPES[encoding], headers=reply.headers
        )
        self._add_cors(request, response)
        return response

    # -- CORS -----------------------------------------------------------------------------
    def _allowed_origin(self, request: web.Request) -> str | None:
        """The ``Access-Control-Allow-Origin`` value for this request, None when it gets none."""
        origin = request.headers.get("Origin")
        if self._cors is None or not origin:
            return None
        if not _origin_allowed(origin, self._cors.allowed_origins):
            return None
        return "*" if "*" in self._cors.allowed_origins else origin

    def _add_cors(self, request: web.Request, response: web.StreamResponse) -> None:
        allowed = self._allowed_origin(request)
        if allowed is not None:
            response.headers["Access-Control-Allow-Origin"] = allowed
            if allowed != "*":
                response.headers["Vary"] = "Origin"

    def _preflight(self, request: web.Request) -> web.StreamResponse:
        assert self._cors is not None
        method = request.headers.get("Access-Control-Request-Method")
        if method is None:  # a plain OPTIONS: say what the endpoint takes
            return web.Response(status=204, headers={"Allow": self._allow})
        origin = request.headers.get("Origin", "")
        allowed = self._allowed_origin(request)
        requested = [
            h.strip() for h in request.headers.get("Access-Control-Request-Headers", "").split(",") if h.strip()
        ]
        extra = {h.lower() for h in self._cors.allowed_headers}
        refused = [h for h in requested if h.lower() not in _ALWAYS_ALLOWED_HEADERS and h.lower() not in extra]
        problem = ""
        if allowed is None:
            problem = f"origin {origin!r} is not in cors.allowed_origins"
        elif method.upper() != "POST":
            problem = f"method {method} is not allowed (OTLP/HTTP takes POST)"
        elif refused and "*" not in extra:
            problem = f"headers {', '.join(refused)} are not in cors.allowed_headers"
        if problem:
            self.receiver.stats.request("http", self.paths[request.path], "cors_refused", 0.0, 0)
            reply = _Reply(403, "cors_refused", f"CORS preflight refused: {problem}", code=code_pb2.PERMISSION_DENIED)
            return self._status_response(reply, "protobuf", request)
        headers = {
            "Access-Control-Allow-Methods": "POST",
            "Vary": "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        }
        assert allowed is not None
        headers["Access-Control-Allow-Origin"] = allowed
        if requested:
            headers["Access-Control-Allow-Headers"] = ", ".join(requested)
        if self._cors.max_age:
            headers["Access-Control-Max-Age"] = str(self._cors.max_age)
        self.receiver.stats.request("http", self.paths[request.path], "preflight", 0.0, 0)
        return web.Response(status=204, headers=headers)
