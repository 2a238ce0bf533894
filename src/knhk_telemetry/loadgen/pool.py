"""A pool of pre-encoded OTLP trace requests, patched in place at send time.

Encoding a 1000-span request takes tens of milliseconds, far too slow to do per send; so a
pool of distinct requests is generated and encoded once, and a protobuf walk records where
every field that must change lives in the bytes: the ``trace_id``/``span_id``/
``parent_span_id`` values and every ``fixed64`` timestamp (span start and end, event time).
Rendering send number ``seq`` then copies request ``seq % size`` and scatters new bytes at
those offsets with numpy (tens of microseconds for 1000 spans):

- times move by ``now - (latest end in the request)``, so spans look as if they just ended;
- with ``cycle = seq // size``, every trace id gets ``base64 ^ cycle`` as its first 8 bytes
  and its last 8 bytes XOR a mask derived from the cycle (so head samplers see fresh random
  bits every cycle); every span and parent id gets ``(base32 ^ cycle) mod 2**32`` as its first
  4 bytes. The last 8 (trace) and 4 (span) bytes are distinct across the whole pool (see
  ``traces``), so ids are unique across sends exactly, not just probably, for 2**32 cycles,
  and parent links inside a request stay intact.

Field sizes never change, so lengths and offsets stay valid. Links, which point into other
traces, are not generated and would not be patched.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from knhk_telemetry.loadgen.traces import Topology, fmix64, topology
from knhk_telemetry.model.batch import SpanBatch

Array = np.ndarray[Any, Any]
Encoder = Callable[[SpanBatch], bytes]

_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5

# field numbers of the messages walked (opentelemetry/proto/{collector/trace,trace}/v1)
_REQUEST_RESOURCE_SPANS: Final = 1
_RESOURCE_SPANS_SCOPE_SPANS: Final = 2
_SCOPE_SPANS_SPANS: Final = 2
_SPAN_TRACE_ID, _SPAN_SPAN_ID, _SPAN_PARENT_SPAN_ID = 1, 2, 4
_SPAN_START, _SPAN_END, _SPAN_EVENTS = 7, 8, 11
_EVENT_TIME: Final = 1


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError(f"varint too long at offset {pos}")


def _fields(buf: bytes, pos: int, end: int) -> list[tuple[int, int, int, int]]:
    """(field number, wire type, value start, value end) of the fields in ``buf[pos:end]``."""
    out = []
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            _, stop = _varint(buf, pos)
        elif wire == _FIXED64:
            stop = pos + 8
        elif wire == _LEN:
            size, pos = _varint(buf, pos)
            stop = pos + size
        elif wire == _FIXED32:
            stop = pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire} at offset {pos}")
        if stop > end:
            raise ValueError(f"field {number} overruns its message at offset {pos}")
        out.append((number, wire, pos, stop))
        pos = stop
    return out


@dataclass(frozen=True, slots=True)
class PatchPoints:
    """Offsets (of the value bytes) of what a render rewrites in one encoded request."""

    trace_ids: Array  # start of every 16-byte trace_id value
    span_ids: Array  # start of every 8-byte span_id and parent_span_id value
    times: Array  # start of every fixed64 timestamp
    n_spans: int


def patch_points(data: bytes) -> PatchPoints:
    """Walk an encoded ``ExportTraceServiceRequest`` and find the fields a render rewrites."""
    trace_ids: list[int] = []
    span_ids: list[int] = []
    times: list[int] = []
    n_spans = 0
    for number, wire, a, b in _fields(data, 0, len(data)):
        if number != _REQUEST_RESOURCE_SPANS or wire != _LEN:
            continue
        for n2, w2, a2, b2 in _fields(data, a, b):
            if n2 != _RESOURCE_SPANS_SCOPE_SPANS or w2 != _LEN:
                continue
            for n3, w3, a3, b3 in _fields(data, a2, b2):
                if n3 != _SCOPE_SPANS_SPANS or w3 != _LEN:
                    continue
                n_spans += 1
                for f, w, lo, hi in _fields(data, a3, b3):
                    if f == _SPAN_TRACE_ID and hi - lo == 16:
                        trace_ids.append(lo)
                    elif f in (_SPAN_SPAN_ID, _SPAN_PARENT_SPAN_ID) and hi - lo == 8:
                        span_ids.append(lo)
                    elif f in (_SPAN_START, _SPAN_END) and w == _FIXED64:
                        times.append(lo)
                    elif f == _SPAN_EVENTS and w == _LEN:
                        times.extend(
                            e_lo for ef, ew, e_lo, _ in _fields(data, lo, hi) if ef == _EVENT_TIME and ew == _FIXED64
                        )
    return PatchPoints(np.array(trace_ids, np.int64), np.array(span_ids, np.int64), np.array(times, np.int64), n_spans)


_LANE8 = np.arange(8, dtype=np.int64)
_LANE4 = np.arange(4, dtype=np.int64)


class RequestTemplate:
    """One encoded request and what a render writes into it (see the module docstring)."""

    __slots__ = ("_index", "_n_span_ids", "_n_trace", "_times", "_trace_lo", "base", "max_end_ns", "n_spans")

    def __init__(self, data: bytes) -> None:
        pts = patch_points(data)
        self.base = np.frombuffer(data, np.uint8).copy()
        self.n_spans = pts.n_spans
        self._n_trace = len(pts.trace_ids)
        # one flat index for a single scatter: trace ids (16 lanes), span ids (4 lanes), times (8)
        self._index = np.concatenate(
            [
                (pts.trace_ids[:, None] + np.arange(16)).ravel(),
                (pts.span_ids[:, None] + _LANE4).ravel(),
                (pts.times[:, None] + _LANE8).ravel(),
            ]
        )
        lo = self.base[(pts.trace_ids[:, None] + 8 + _LANE8)] if len(pts.trace_ids) else np.zeros((0, 8), np.uint8)
        self._trace_lo = np.ascontiguousarray(lo).view(">u8").ravel().astype(np.uint64)
        t = self.base[(pts.times[:, None] + _LANE8)] if len(pts.times) else np.zeros((0, 8), np.uint8)
        self._times = np.ascontiguousarray(t).view("<u8").ravel().astype(np.int64)
        self.max_end_ns = int(self._times.max()) if len(self._times) else 0
        self._n_span_ids = len(pts.span_ids)

    def render(self, *, cycle: int, base64: int, base32: int, now_ns: int) -> bytes:
        """The request with ids for ``cycle`` and times ending at ``now_ns``."""
        hi8 = np.array([(base64 ^ cycle) & 0xFFFF_FFFF_FFFF_FFFF], ">u8").view(np.uint8)
        mask = fmix64(np.array([cycle + 1], np.uint64))[0]
        lo8 = (self._trace_lo ^ mask).astype(">u8").view(np.uint8).reshape(-1, 8)
        trace_vals = np.concatenate([np.broadcast_to(hi8, (self._n_trace, 8)), lo8], axis=1)
        hi4 = np.array([(base32 ^ cycle) & 0xFFFF_FFFF], ">u4").view(np.uint8)
        times = (self._times + (now_ns - self.max_end_ns)).astype("<i8").view(np.uint8)
        values = np.concatenate([trace_vals.ravel(), np.tile(hi4, self._n_span_ids), times])
        buf = self.base.copy()
        buf[self._index] = values
        return buf.tobytes()


@dataclass(frozen=True, slots=True)
class PoolStats:
    """How the pool was built and how fast it renders (no sending)."""

    requests: int
    spans_per_request: int
    build_s: float
    mean_request_bytes: float
    render_requests_per_s: float

    @property
    def render_spans_per_s(self) -> float:
        return self.render_requests_per_s * self.spans_per_request


class RequestPool:
    """Distinct pre-encoded requests of ``spans_per_request`` spans; ``render(seq)`` gives send ``seq``.

    ``render`` is thread-safe (it only reads the templates). ``base64``/``base32`` (random per
    pool unless given) seed the id prefixes, so two runs do not send the same ids.
    """

    def __init__(
        self,
        *,
        size: int = 64,
        spans_per_request: int = 1000,
        services: int = 8,
        error_ratio: float = 0.02,
        seed: int = 0,
        encoder: Encoder | None = None,
        id_base: int | None = None,
    ) -> None:
        if size < 1:
            raise ValueError(f"pool size must be >= 1, not {size}")
        if spans_per_request < 1:
            raise ValueError(f"spans_per_request must be >= 1, not {spans_per_request}")
        if spans_per_request * size >= 2**32:
            raise ValueError("the pool may hold at most 2**32 - 1 spans (span id tails must stay distinct)")
        if encoder is None:
            from knhk_telemetry.otlp import encode_traces

            encoder = encode_traces
        t0 = time.perf_counter()
        topo: Topology = topology(services, seed)
        rng = np.random.default_rng([seed, 2])
        self.templates: list[RequestTemplate] = []
        first_trace = first_span = 0
        for _ in range(size):
            gen = topo.generate(
                spans_per_request, rng=rng, error_ratio=error_ratio, first_trace=first_trace, first_span=first_span
            )
            first_trace += gen.n_traces
            first_span += spans_per_request
            self.templates.append(RequestTemplate(encoder(gen.batch)))
        self.build_s = time.perf_counter() - t0
        self.size = size
        self.spans_per_request = spans_per_request
        base = int.from_bytes(np.random.default_rng().bytes(8), "big") if id_base is None else id_base
        self.base64 = base & 0xFFFF_FFFF_FFFF_FFFF
        self.base32 = (base >> 32) & 0xFFFF_FFFF

    def render(self, seq: int, now_ns: int | None = None) -> tuple[bytes, int]:
        """(bytes of send number ``seq``, its span count)."""
        cycle, i = divmod(seq, self.size)
        tpl = self.templates[i]
        now = time.time_ns() if now_ns is None else now_ns
        return tpl.render(cycle=cycle, base64=self.base64, base32=self.base32, now_ns=now), tpl.n_spans

    def measure(self, seconds: float = 0.3, max_renders: int = 100_000) -> PoolStats:
        """Render for about ``seconds`` (one thread) and report the rate: the generator's own ceiling."""
        n = 0
        t0 = time.perf_counter()
        deadline = t0 + seconds
        while n < max_renders:
            self.render(n)
            n += 1
            if time.perf_counter() >= deadline:
                break
        rate = n / (time.perf_counter() - t0)
        mean_bytes = float(np.mean([len(t.base) for t in self.templates]))
        return PoolStats(self.size, self.spans_per_request, self.build_s, mean_bytes, rate)
