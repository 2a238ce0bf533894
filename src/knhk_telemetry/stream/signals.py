"""What a window event is for each signal: the per-signal front of ``StreamProcessor``.

Everything after this front (window assignment, watermarks, lateness, idle timeout, keys,
firing) is one code path for the three signals; a front only turns a batch into columns, one
entry per event, with no Python per item:

- traces: every span; event time = end time (``time="start"``: start time); value = duration
  (int64 ns); error = status code ERROR.
- logs: every log record; event time = ``time_unix_nano``, or ``observed_time_unix_nano``
  where that is 0 (``time="observed"``: the observed time, or ``time_unix_nano`` where that
  is 0); no value; error = ``severity_number >= 17`` (ERROR and FATAL ranges).
- metrics: NUMBER data points (gauge and sum) that carry a finite value; event time = the
  point's ``time_unix_nano`` (``time="start"``: ``start_time_unix_nano``, or the time where
  that is 0); value = ``as_int`` or ``as_double`` as float64; no errors. Histogram,
  exponential-histogram and summary points (and points of metrics with no data) are skipped
  and counted as ``non_number_points``; number points without a value (value unset, the
  ``NO_RECORDED_VALUE`` flag, nan or inf) are skipped and counted as ``no_value_points``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from knhk_telemetry.model.batch import Batch, LogBatch, MetricBatch, SpanBatch
from knhk_telemetry.model.schema import MetricType, StatusCode
from knhk_telemetry.stream.keys import (
    DEFAULT_GROUP_BY,
    DEFAULT_LOG_GROUP_BY,
    DEFAULT_METRIC_GROUP_BY,
    metric_values,
)

__all__ = ["ERROR_SEVERITY", "SIGNALS", "Extracted", "SignalName", "SignalSpec", "TimeField", "extract"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
SignalName: TypeAlias = Literal["traces", "logs", "metrics"]
TimeField: TypeAlias = Literal["end", "start", "time", "observed"]
#: a log record is an error from this severity number on (SEVERITY_NUMBER_ERROR)
ERROR_SEVERITY = 17
#: DataPointFlags.FLAG_NO_RECORDED_VALUE
_NO_RECORDED_VALUE = 1
_NUMBER_TYPES = (MetricType.GAUGE, MetricType.SUM)


@dataclass(frozen=True, slots=True)
class SignalSpec:
    """The constants of one signal's windows."""

    name: SignalName
    batch_type: type[Batch]
    noun: str  # what an event is called in messages: "spans", "log records", "points"
    default_group_by: tuple[str, ...]
    times: tuple[TimeField, ...]  # allowed WindowConfig.time values; the first is the default
    errors: bool  # whether results have error_count / error_rate
    value: Literal["duration", "value", "none"]  # what the value columns aggregate


SIGNALS: dict[SignalName, SignalSpec] = {
    "traces": SignalSpec("traces", SpanBatch, "spans", DEFAULT_GROUP_BY, ("end", "start"), True, "duration"),
    "logs": SignalSpec("logs", LogBatch, "log records", DEFAULT_LOG_GROUP_BY, ("time", "observed"), True, "none"),
    "metrics": SignalSpec("metrics", MetricBatch, "points", DEFAULT_METRIC_GROUP_BY, ("time", "start"), False, "value"),
}


@dataclass(slots=True)
class Extracted:
    """The event columns of one batch."""

    ts: I64  # event time per event
    rows: I64 | None  # item row of each event; None: every item, in order
    values: npt.NDArray[Any] | None  # int64 durations, float64 metric values, None for logs
    errors: npt.NDArray[np.bool_] | None
    skipped: dict[str, int] = field(default_factory=dict)  # items that are no event, by reason


def _u64(table: pa.Table, column: str) -> I64:
    out: I64 = table.column(column).combine_chunks().fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    return out


def _either(first: I64, second: I64) -> I64:
    """``first`` where it is set (non-zero), else ``second``."""
    out: I64 = np.where(first != 0, first, second)
    return out


def extract(batch: Batch, spec: SignalSpec, time: TimeField) -> Extracted:
    """The events of ``batch`` (a ``spec.batch_type``) with event time field ``time``."""
    if isinstance(batch, SpanBatch):
        spans = batch.spans
        ts = _u64(spans, "end_time_unix_nano" if time == "end" else "start_time_unix_nano")
        status = spans.column("status_code").combine_chunks().fill_null(0).to_numpy(zero_copy_only=False)
        return Extracted(ts, None, batch.durations_ns(), status == StatusCode.ERROR)
    if isinstance(batch, LogBatch):
        logs = batch.logs
        t, o = _u64(logs, "time_unix_nano"), _u64(logs, "observed_time_unix_nano")
        sev = logs.column("severity_number").combine_chunks().fill_null(0).to_numpy(zero_copy_only=False)
        return Extracted(_either(t, o) if time == "time" else _either(o, t), None, None, sev >= ERROR_SEVERITY)
    if isinstance(batch, MetricBatch):
        return _metric_events(batch, time)
    raise TypeError(f"expected a SpanBatch, LogBatch or MetricBatch, got {type(batch).__name__}")


def _metric_events(batch: MetricBatch, time: TimeField) -> Extracted:
    pts = batch.points
    n = len(batch)
    if n == 0:
        z = np.zeros(0, dtype=np.int64)
        return Extracted(z, z, np.zeros(0), None, {"non_number_points": 0, "no_value_points": 0})
    mtype = batch.metrics.column("type").combine_chunks().fill_null(0).to_numpy(zero_copy_only=False)
    metric = pts.column("metric").combine_chunks().to_numpy(zero_copy_only=False)
    number = np.isin(mtype, np.array(_NUMBER_TYPES, dtype=mtype.dtype))[metric]
    values = metric_values(batch)
    flags = pts.column("flags").combine_chunks().fill_null(0).to_numpy(zero_copy_only=False)
    ok = number & np.isfinite(values) & ((flags & _NO_RECORDED_VALUE) == 0)
    rows = np.flatnonzero(ok).astype(np.int64)
    t = _u64(pts, "time_unix_nano")
    ts = t if time == "time" else _either(_u64(pts, "start_time_unix_nano"), t)
    n_number = int(number.sum())
    skipped = {"non_number_points": n - n_number, "no_value_points": n_number - int(rows.size)}
    return Extracted(ts[rows], rows, values[rows], None, skipped)
