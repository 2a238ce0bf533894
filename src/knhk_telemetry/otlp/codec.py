"""Which protobuf codec serves a call: the compiled one once it is loaded, the reference until then.

The compiled codecs (``otlp.fast`` decoder, ``otlp.fastenc`` encoder) are numba kernels. Loading
them from their cache takes about half a second; compiling them the first time on a new machine
(or after an upgrade) takes minutes on a 2-core machine. A server must not wait for that, so:

- ``auto`` (the default): calls use the reference codec (``otlp.proto``) until :func:`warmup`
  has loaded the compiled kernels, then switch. ``knhk-telemetry run`` starts the warm-up in a
  background thread at start; ``knhk-telemetry warmup`` builds the cache ahead of time. On a
  cold cache the kernels compile in child processes, in parallel
  (``_numba.compile_in_workers``): the serving process's GIL stays with its requests, and
  this process then only loads them.
- ``compiled``: always the compiled codec (the first call compiles if the cache is cold).
- ``reference``: never the compiled codec.

The mode comes from ``$KNHK_TELEMETRY_CODEC`` or :func:`set_mode`. Both codecs return exactly
the same batches and bytes (property-tested against each other), so switching is invisible.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal, get_args

from knhk_telemetry.model.batch import Batch, LogBatch, MetricBatch, SpanBatch
from knhk_telemetry.model.rejections import Decoded
from knhk_telemetry.otlp import proto

log = logging.getLogger("knhk_telemetry.otlp")

Mode = Literal["auto", "compiled", "reference"]
MODE_ENV = "KNHK_TELEMETRY_CODEC"


@dataclass(frozen=True, slots=True)
class WarmupReport:
    """Seconds spent loading (or compiling) each compiled codec, and where they are cached."""

    decoder_s: float
    encoder_s: float
    decoder_cache: str
    encoder_cache: str
    #: wall seconds of the compilation in child processes (0 when the caches were complete)
    compile_s: float = 0.0
    #: how many child processes compiled (one per decoder signal, one for the encoder)
    compile_jobs: int = 0


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.mode: Mode = _mode_from_env()
        self.decoder: ModuleType | None = None  # set once warm
        self.encoder: ModuleType | None = None
        self.thread: threading.Thread | None = None
        self.report: WarmupReport | None = None


def _mode_from_env() -> Mode:
    value = os.environ.get(MODE_ENV, "auto")
    if value not in get_args(Mode):
        raise ValueError(f"${MODE_ENV}={value!r}: expected one of {', '.join(get_args(Mode))}")
    return value  # type: ignore[return-value]


_state = _State()


def set_mode(mode: Mode) -> None:
    """Choose the codec policy for this process (see the module docstring)."""
    if mode not in get_args(Mode):
        raise ValueError(f"unknown codec mode {mode!r}; one of {', '.join(get_args(Mode))}")
    with _state.lock:
        _state.mode = mode


def active() -> str:
    """``"compiled"`` or ``"reference"``: what a decode call would use right now."""
    return "compiled" if _decoder() is not None else "reference"


def _fast_modules() -> tuple[ModuleType, ModuleType]:
    from knhk_telemetry.otlp import fast, fastenc

    return fast, fastenc


def _decoder_job(signal: str) -> str:
    return f"from knhk_telemetry.otlp import fast; fast.warmup(({signal!r},))"


#: a cold cache's compile jobs, (is it the encoder's, statement), the longest first so that
#: the workers finish close together: measured on 2 cores, the metrics decoder 163 s, traces
#: 108 s, the encoder 85 s, logs 34 s (``run`` logs each at INFO)
_JOBS: tuple[tuple[bool, str], ...] = (
    (False, _decoder_job("metrics")),
    (False, _decoder_job("traces")),
    (True, "from knhk_telemetry.otlp import fastenc; fastenc.warmup()"),
    (False, _decoder_job("logs")),
)


def warmup(*, parallel: bool = True) -> WarmupReport:
    """Load both compiled codecs, then route calls to them. A cache not yet complete is first
    filled by child processes (``parallel``; otherwise, or for what they missed, numba
    compiles here)."""
    from knhk_telemetry._numba import compile_in_workers
    from knhk_telemetry.otlp.fastenc._cache import CACHE as ENCODER_CACHE

    fast, fastenc = _fast_modules()
    jobs: list[str] = []
    # a private cache (unwritable root) is this process's own: workers would compile for nothing
    if parallel and not (fast.cache().private or ENCODER_CACHE.private):
        done = {False: fast.cache().complete, True: ENCODER_CACHE.complete}
        jobs = [job for encoder, job in _JOBS if not done[encoder]]
    t0 = time.perf_counter()
    if jobs:
        compile_in_workers(jobs)
    compile_s = time.perf_counter() - t0
    decoder_s = fast.warmup()
    encoder_s = fastenc.warmup()
    fast.cache().mark_complete()
    ENCODER_CACHE.mark_complete()
    report = WarmupReport(
        decoder_s, encoder_s, str(fast.cache_dir()), str(fastenc.cache_dir()), compile_s if jobs else 0.0, len(jobs)
    )
    with _state.lock:
        _state.decoder, _state.encoder, _state.report = fast, fastenc, report
    log.info(
        "compiled OTLP codecs ready",
        extra={"seconds": round(time.perf_counter() - t0, 3), "decoder_cache": report.decoder_cache},
    )
    return report


def warmup_in_background() -> threading.Thread:
    """Start :func:`warmup` in a daemon thread (once); calls use the reference until it ends."""
    with _state.lock:
        if _state.thread is not None:
            return _state.thread
        thread = threading.Thread(target=_warm_safely, name="knhk-codec-warmup", daemon=True)
        _state.thread = thread
    thread.start()
    return thread


def _warm_safely() -> None:
    try:
        warmup()
    except Exception:  # a broken toolchain must not take the server down: the reference serves
        log.exception("compiling the OTLP codecs failed; the reference codec keeps serving")


def _decoder() -> ModuleType | None:
    if _state.mode == "reference":
        return None
    if _state.decoder is None and _state.mode == "compiled":
        _state.decoder, _state.encoder = _fast_modules()
    return _state.decoder


def _encoder() -> ModuleType | None:
    if _state.mode == "reference":
        return None
    if _state.encoder is None and _state.mode == "compiled":
        _state.decoder, _state.encoder = _fast_modules()
    return _state.encoder


def decode(signal: proto.Signal, data: proto.Buffer) -> Decoded[Any]:
    """An ``Export*ServiceRequest`` of ``signal`` as a batch (see ``otlp.proto.decode``)."""
    fast = _decoder()
    return fast.decode(signal, data) if fast is not None else proto.decode(signal, data)


def decode_traces(data: proto.Buffer) -> Decoded[SpanBatch]:
    fast = _decoder()
    return fast.decode_traces(data) if fast is not None else proto.decode_traces(data)


def decode_metrics(data: proto.Buffer) -> Decoded[MetricBatch]:
    fast = _decoder()
    return fast.decode_metrics(data) if fast is not None else proto.decode_metrics(data)


def decode_logs(data: proto.Buffer) -> Decoded[LogBatch]:
    fast = _decoder()
    return fast.decode_logs(data) if fast is not None else proto.decode_logs(data)


def encode(batch: Batch) -> bytes:
    """A batch as its ``Export*ServiceRequest`` protobuf bytes (see ``otlp.proto.encode``)."""
    fast = _encoder()
    return fast.encode(batch) if fast is not None else proto.encode(batch)


def encode_traces(batch: SpanBatch) -> bytes:
    fast = _encoder()
    return fast.encode_traces(batch) if fast is not None else proto.encode_traces(batch)


def encode_metrics(batch: MetricBatch) -> bytes:
    fast = _encoder()
    return fast.encode_metrics(batch) if fast is not None else proto.encode_metrics(batch)


def encode_logs(batch: LogBatch) -> bytes:
    fast = _encoder()
    return fast.encode_logs(batch) if fast is not None else proto.encode_logs(batch)
