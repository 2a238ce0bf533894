"""The compiled OTLP protobuf decoder: ``Export*ServiceRequest`` bytes -> columnar batches.

Output, refusals and errors are those of the reference decoder :mod:`knhk_telemetry.otlp.proto`
(its tests compare the two on random, reordered, unknown-field-laden and corrupt messages),
at a multiple of its speed: numba kernels walk the wire format without a Python object per
span, record or attribute:

1. a signal's kernel (``_traces``, ``_metrics``, ``_logs``) counts the rows of every table (a quick,
   bounds-checked skim), then walks the message once, writing the columns and checking
   everything upb (the protobuf runtime behind the reference) checks: bounds, varints, tags,
   groups, UTF-8 of string fields (once per distinct value, as it enters a dictionary), nesting
   depth. Strings, ints and doubles are dictionary-encoded with hash tables over the input
   bytes; attribute keys and values are first compared with those at the same position of
   the previous parent, which is where they usually are;
2. only when that walk finds something wrong does ``_wire.validate`` run, the exact check
   that names upb's error;
3. ``_arrow`` / ``_batch`` wrap the buffers as Arrow arrays without copying.

The kernels are cached on disk (:func:`cache_dir`), in a directory keyed by the source of
the kernel modules and the numba/llvmlite/numpy/Python versions; :func:`warmup` loads or
compiles them all up front so the first request does not pay for it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, overload

from knhk_telemetry._numba import KernelCache
from knhk_telemetry.model.batch import LogBatch, MetricBatch, SpanBatch
from knhk_telemetry.model.rejections import Decoded
from knhk_telemetry.otlp.fast import _batch, _jit
from knhk_telemetry.otlp.proto import Buffer, Signal

__all__ = ["SIGNALS", "cache", "cache_dir", "decode", "decode_logs", "decode_metrics", "decode_traces", "warmup"]

#: every signal with a kernel
SIGNALS: tuple[Signal, ...] = ("traces", "metrics", "logs")


def cache() -> KernelCache:
    """The kernel cache of the decoder (its directory, whether it is complete)."""
    return _jit.CACHE


def cache_dir() -> Path:
    """The directory holding the compiled kernels of this exact source and runtime."""
    return _jit.CACHE_DIR


def decode_traces(data: Buffer) -> Decoded[SpanBatch]:
    """Serialized ``ExportTraceServiceRequest`` bytes as a ``SpanBatch``."""
    return _batch.decode_traces(data)


def decode_logs(data: Buffer) -> Decoded[LogBatch]:
    """Serialized ``ExportLogsServiceRequest`` bytes as a ``LogBatch``."""
    return _batch.decode_logs(data)


def decode_metrics(data: Buffer) -> Decoded[MetricBatch]:
    """Serialized ``ExportMetricsServiceRequest`` bytes as a ``MetricBatch``."""
    return _batch.decode_metrics(data)


@overload
def decode(signal: Literal["traces"], data: Buffer) -> Decoded[SpanBatch]: ...
@overload
def decode(signal: Literal["metrics"], data: Buffer) -> Decoded[MetricBatch]: ...
@overload
def decode(signal: Literal["logs"], data: Buffer) -> Decoded[LogBatch]: ...
@overload
def decode(signal: Signal, data: Buffer) -> Decoded[Any]: ...
def decode(signal: Signal, data: Buffer) -> Decoded[Any]:
    """Serialized ``Export*ServiceRequest`` bytes of ``signal`` as a batch."""
    if signal == "traces":
        return decode_traces(data)
    if signal == "metrics":
        return decode_metrics(data)
    if signal == "logs":
        return decode_logs(data)
    raise ValueError(f"unknown signal {signal!r}; expected 'traces', 'metrics' or 'logs'")


def warmup(signals: Sequence[Signal] = SIGNALS) -> float:
    """Load (or compile, the first time) the kernels of ``signals``, all by default, and the
    exact validator with the traces kernel; returns the seconds it took."""
    t0 = time.perf_counter()
    for signal in signals:
        decode(signal, b"")  # numba compiles a whole kernel on its first call
    if "traces" in signals:
        _batch.validated("traces", _batch.as_array(b""))  # the exact validator, run on bad input
    return time.perf_counter() - t0
