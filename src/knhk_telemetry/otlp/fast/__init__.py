"""The compiled OTLP protobuf decoder: ``Export*ServiceRequest`` bytes -> columnar batches.

Output, refusals and errors are those of the reference decoder :mod:`knhk_telemetry.otlp.proto`
(its tests compare the two on random, reordered, unknown-field-laden and corrupt messages),
at a multiple of its speed: numba kernels walk the wire format twice, without a Python
object per span or attribute:

1. ``_wire.validate`` checks the whole message the way upb (the protobuf runtime behind the
   reference) does -- bounds, varints, tags, groups, UTF-8 of string fields, nesting depth --
   and counts the messages at every position of the OTLP tree;
2. a signal's fill kernel (``_traces``, ``_logs``, ``_metrics``) writes the columns into
   arrays of exactly those sizes, dictionary-encoding strings, ints and doubles with hash
   tables over the input bytes;
3. ``_arrow`` wraps the buffers as Arrow arrays without copying.

The kernels are cached on disk (:func:`cache_dir`), in a directory keyed by the source of
this package and the numba/llvmlite/numpy/Python versions; :func:`warmup` loads or compiles
them all up front so the first request does not pay for it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
from numpy.typing import NDArray

from knhk_telemetry.errors import DecodeError
from knhk_telemetry.model.batch import LogBatch, MetricBatch, SpanBatch
from knhk_telemetry.model.rejections import Decoded
from knhk_telemetry.otlp import proto
from knhk_telemetry.otlp.fast import _jit, _traces
from knhk_telemetry.otlp.fast._schema import ROOTS, SCHEMA
from knhk_telemetry.otlp.fast._wire import ERROR_TEXT, OK, validate
from knhk_telemetry.otlp.proto import Buffer, Signal

__all__ = ["cache_dir", "decode", "decode_logs", "decode_metrics", "decode_traces", "warmup"]


def cache_dir() -> Path:
    """The directory holding the compiled kernels of this exact source and runtime."""
    return _jit.CACHE_DIR


def _as_array(data: Buffer) -> NDArray[np.uint8]:
    """The request bytes as a read-only uint8 array (one compiled variant for all inputs)."""
    if isinstance(data, memoryview) and not data.contiguous:
        data = data.tobytes()
    arr = np.frombuffer(data, dtype=np.uint8)
    if arr.flags.writeable:
        arr.flags.writeable = False
    return arr


def _validated(signal: str, arr: NDArray[np.uint8]) -> NDArray[np.int64]:
    """Run the validating pass; the per-type message counts, or ``DecodeError`` as upb."""
    counts = np.zeros(SCHEMA.n_types, dtype=np.int64)
    code, _ = validate(arr, SCHEMA.tid(signal), SCHEMA.kind, SCHEMA.wire, SCHEMA.child, counts)
    if code != OK:
        name = ROOTS[signal].name
        raise DecodeError(f"{name}: Error parsing message with type '{ROOTS[signal].full_name}': {ERROR_TEXT[code]}")
    return counts


def decode_traces(data: Buffer) -> Decoded[SpanBatch]:
    """Serialized ``ExportTraceServiceRequest`` bytes as a ``SpanBatch``."""
    arr = _as_array(data)
    return _traces.build(data, arr, _validated("traces", arr))


def decode_logs(data: Buffer) -> Decoded[LogBatch]:
    """Serialized ``ExportLogsServiceRequest`` bytes as a ``LogBatch``."""
    return proto.decode_logs(data)


def decode_metrics(data: Buffer) -> Decoded[MetricBatch]:
    """Serialized ``ExportMetricsServiceRequest`` bytes as a ``MetricBatch``."""
    return proto.decode_metrics(data)


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


def warmup() -> float:
    """Load (or compile, the first time) every kernel; returns the seconds it took."""
    t0 = time.perf_counter()
    signals: tuple[Signal, ...] = ("traces", "metrics", "logs")
    for signal in signals:
        decode(signal, b"")  # numba compiles a whole kernel on its first call
    return time.perf_counter() - t0
