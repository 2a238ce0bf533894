"""The ``debug`` exporter: what arrives, written for a person, like the Collector's.

``verbosity`` decides how much:

- ``basic``: one summary line per batch (``traces: 2 spans, 1 resources``); it reads only
  table sizes, never the items, so it costs nothing per span;
- ``normal``: the summary, then one line per item (a span's trace id, span id, name and
  duration; a data point's metric, type and value; a log record's time, severity, body);
- ``detailed``: the summary, then every column of the flattened row of each item
  (resource, scope, attributes, events, links, point values, log body).

Sampling works like the Collector's (zap's sampler): in each second the first
``sampling_initial`` batches are written, after that every ``sampling_thereafter``-th.

Example::

    >>> import sys
    >>> from knhk_telemetry.exporters.debug import DebugConfig, DebugExporter
    >>> from knhk_telemetry.model import SpanBatch
    >>> exporter = DebugExporter("debug", DebugConfig(output="stdout"))
    >>> exporter.consume_spans(SpanBatch.empty())
    traces: 0 spans, 0 resources
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from knhk_telemetry.component import SIGNALS, Component, ComponentConfig, CreateSettings, Factory, Signal
from knhk_telemetry.exporters.parquet.flatten import (
    column,
    enum_names,
    flatten,
    hex_ids,
    render_values,
    strings,
    timestamps,
)
from knhk_telemetry.model.batch import Batch, LogBatch, MetricBatch, SpanBatch
from knhk_telemetry.model.schema import MetricType, NumberKind, ValueType

logger = logging.getLogger("knhk_telemetry.exporters.debug")

Verbosity = Literal["basic", "normal", "detailed"]
Output = Literal["log", "stderr", "stdout"]

_ITEM_NAMES: dict[str, str] = {"traces": "span", "metrics": "point", "logs": "log"}
_UNITS = ((1_000_000_000, "s", 9), (1_000_000, "ms", 6), (1_000, "µs", 3))


class DebugConfig(ComponentConfig):
    """How much the ``debug`` exporter writes, and where."""

    verbosity: Verbosity = "basic"
    #: batches written in each second before sampling starts; 0: sample from the first
    sampling_initial: int = Field(default=2, ge=0)
    #: after ``sampling_initial`` in a second, write every N-th batch; 1: all; 0: none
    sampling_thereafter: int = Field(default=1, ge=0)
    #: "log": INFO records of the ``knhk_telemetry.exporters.debug`` logger (one per batch);
    #: "stderr"/"stdout": plain text lines on that stream
    output: Output = "log"


def format_duration(ns: int) -> str:
    """Nanoseconds in the largest unit that keeps them exact: ``1.5ms``, ``250ns``, ``-2s``.

    >>> format_duration(1_500_000), format_duration(250), format_duration(12_345), format_duration(0)
    ('1.5ms', '250ns', '12.345µs', '0s')
    """
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    magnitude = abs(ns)
    for unit, name, digits in _UNITS:
        if magnitude >= unit:
            whole, fraction = divmod(magnitude, unit)
            decimals = f"{fraction:0{digits}d}".rstrip("0")
            return f"{sign}{whole}{'.' + decimals if decimals else ''}{name}"
    return f"{sign}{magnitude}ns"


def summary(batch: Batch) -> str:
    """The one-line description of a batch: sizes only, no item is read."""
    resources = batch.resources.num_rows
    if isinstance(batch, SpanBatch):
        return f"traces: {len(batch)} spans, {resources} resources"
    if isinstance(batch, MetricBatch):
        return f"metrics: {len(batch)} data points, {batch.metrics.num_rows} metrics, {resources} resources"
    return f"logs: {len(batch)} log records, {resources} resources"


def _quoted(text: str | None) -> str:
    return "null" if text is None else json.dumps(text, ensure_ascii=False)


def _body(text: str | None, is_string: bool) -> str:
    """A rendered body, quoted when it is a string so that ``"3"`` and ``3`` differ."""
    return _quoted(text) if is_string else text or "null"


def _times(values: pa.Array) -> list[str | None]:
    """Nanosecond times as RFC 3339 text (``2024-01-02T03:04:05.000000000Z``); 0 is None."""
    text = timestamps(values).cast(pa.string())
    return pc.replace_substring(text, " ", "T", max_replacements=1).to_pylist()  # type: ignore[no-any-return]


def normal_lines(batch: Batch) -> list[str]:
    """One line per item; reads only the columns it prints."""
    if isinstance(batch, SpanBatch):
        spans = batch.spans
        return [
            f"  span trace_id={trace} span_id={span} name={_quoted(name)} duration={format_duration(ns)}"
            for trace, span, name, ns in zip(
                hex_ids(column(spans, "trace_id")).to_pylist(),
                hex_ids(column(spans, "span_id")).to_pylist(),
                strings(column(spans, "name")).to_pylist(),
                batch.durations_ns().tolist(),
                strict=True,
            )
        ]
    if isinstance(batch, MetricBatch):
        return _point_lines(batch)
    if isinstance(batch, LogBatch):
        logs = batch.logs
        severity = pc.coalesce(
            strings(column(logs, "severity_text")), column(logs, "severity_number").cast(pa.string())
        )
        body = render_values(logs, prefix="body_")
        is_str = pc.fill_null(pc.equal(column(logs, "body_type"), int(ValueType.STRING)), False)
        return [
            f"  log time={when or 'unset'} severity={level or 'unset'} body={_body(text, quote)}"
            for when, level, text, quote in zip(
                _times(column(logs, "time_unix_nano")),
                severity.to_pylist(),
                body.to_pylist(),
                is_str.to_pylist(),
                strict=True,
            )
        ]
    raise TypeError(f"not a batch: {type(batch).__name__}")


def _point_lines(batch: MetricBatch) -> list[str]:
    points, metrics = batch.points, batch.metrics
    metric = column(points, "metric")
    kinds = column(points, "value_kind").to_pylist()
    lines = []
    for name, mtype, kind, as_int, as_double, count, total in zip(
        strings(column(metrics, "name")).take(metric).to_pylist(),
        enum_names(column(metrics, "type"), MetricType).take(metric).to_pylist(),
        kinds,
        column(points, "value_int").to_pylist(),
        column(points, "value_double").to_pylist(),
        column(points, "count").to_pylist(),
        column(points, "sum").to_pylist(),
        strict=True,
    ):
        if mtype in ("GAUGE", "SUM"):
            value = as_int if kind == NumberKind.INT else as_double if kind == NumberKind.DOUBLE else None
            shown = f"value={json.dumps(value)}"
        else:
            shown = f"count={count} sum={json.dumps(total)}"
        lines.append(f"  point metric={_quoted(name)} type={mtype} {shown}")
    return lines


def _display_type(dtype: pa.DataType) -> pa.DataType:
    """``dtype`` with every timestamp (at any depth) as string, so rows convert to Python."""
    if pa.types.is_timestamp(dtype):
        return pa.string()
    if pa.types.is_struct(dtype):
        return pa.struct([f.with_type(_display_type(f.type)) for f in dtype])
    if pa.types.is_list(dtype):
        return pa.list_(dtype.value_field.with_type(_display_type(dtype.value_type)))
    return dtype


def _plain(value: Any, dtype: pa.DataType) -> Any:
    """A cell converted under :func:`_display_type`, shaped by its original ``dtype``: maps
    as dicts (pyarrow gives lists of pairs), timestamps as RFC 3339 text."""
    if value is None:
        return None
    if pa.types.is_timestamp(dtype):
        return value.replace(" ", "T", 1)
    if pa.types.is_map(dtype):
        return dict(value)
    if pa.types.is_struct(dtype):
        return {f.name: _plain(value[f.name], f.type) for f in dtype}
    if pa.types.is_list(dtype):
        return [_plain(v, dtype.value_type) for v in value]
    return value


def detailed_lines(batch: Batch) -> list[str]:
    """Every non-null column of every item's flattened row, one ``name: value`` line each;
    list columns (events, links, exemplars, quantiles) one element per line."""
    rows = flatten(batch)
    display = rows.cast(pa.schema([f.with_type(_display_type(f.type)) for f in rows.schema]))
    columns = [(f, display.column(f.name).to_pylist()) for f in rows.schema]
    label = _ITEM_NAMES[batch.SIGNAL]
    lines = []
    for i in range(rows.num_rows):
        lines.append(f"  {label} #{i}")
        for fld, values in columns:
            value = _plain(values[i], fld.type)
            if value is None:
                continue
            if isinstance(value, str):
                lines.append(f"    {fld.name}: {value}")
            elif pa.types.is_list(fld.type) and pa.types.is_struct(fld.type.value_type):
                lines.append(f"    {fld.name}: {len(value)}")
                lines.extend(f"      - {json.dumps(v, ensure_ascii=False)}" for v in value)
            else:
                lines.append(f"    {fld.name}: {json.dumps(value, ensure_ascii=False)}")
    return lines


class DebugExporter(Component):
    """Writes batches for a person to read; see the module docstring."""

    def __init__(self, component_id: str, config: DebugConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(component_id)
        self.config = config
        self._clock = clock
        self._state = threading.Lock()
        self._items: dict[Signal, int] = dict.fromkeys(SIGNALS, 0)
        self._batches: dict[Signal, int] = dict.fromkeys(SIGNALS, 0)
        self._sampled_out: dict[Signal, int] = dict.fromkeys(SIGNALS, 0)
        self._second_start: float | None = None
        self._in_second = 0

    def consume_spans(self, batch: SpanBatch) -> None:
        self._export("traces", batch)

    def consume_metrics(self, batch: MetricBatch) -> None:
        self._export("metrics", batch)

    def consume_logs(self, batch: LogBatch) -> None:
        self._export("logs", batch)

    def _sampled(self) -> bool:
        """zap's sampler: per second, the first ``initial`` pass, then every ``thereafter``-th."""
        now = self._clock()
        if self._second_start is None or now - self._second_start >= 1.0:
            self._second_start, self._in_second = now, 0
        self._in_second += 1
        initial, thereafter = self.config.sampling_initial, self.config.sampling_thereafter
        n = self._in_second
        return n <= initial or (thereafter > 0 and (n - initial) % thereafter == 0)

    def _export(self, signal: Signal, batch: Batch) -> None:
        with self._state:
            self._items[signal] += len(batch)
            self._batches[signal] += 1
            keep = self._sampled()
            if not keep:
                self._sampled_out[signal] += 1
        if not keep:
            return
        lines = [summary(batch)]
        if self.config.verbosity == "normal":
            lines += normal_lines(batch)
        elif self.config.verbosity == "detailed":
            lines += detailed_lines(batch)
        self._emit("\n".join(lines))

    def _emit(self, text: str) -> None:
        if self.config.output == "log":
            logger.info("%s", text, extra={"exporter": self.component_id})
            return
        stream = sys.stdout if self.config.output == "stdout" else sys.stderr
        with self._state:  # whole batches, not interleaved lines, when pipelines share this instance
            stream.write(text + "\n")
            stream.flush()

    def self_metrics(self) -> Iterable[tuple[str, str, str, dict[str, str], float]]:
        with self._state:
            items, batches, dropped = dict(self._items), dict(self._batches), dict(self._sampled_out)
        for signal in SIGNALS:
            labels = {"exporter": self.component_id, "signal": signal}
            yield (
                "knhk_telemetry_exporter_sent_items_total", "counter",
                "Spans, data points or log records accepted.", labels, float(items[signal]),
            )  # fmt: skip
            yield (
                "knhk_telemetry_exporter_sent_batches_total",
                "counter",
                "Batches accepted.",
                labels,
                float(batches[signal]),
            )
            yield (
                "knhk_telemetry_exporter_sampled_out_batches_total", "counter",
                "Batches accepted but not written because of sampling.", labels, float(dropped[signal]),
            )  # fmt: skip


def _create(settings: CreateSettings, config: DebugConfig) -> DebugExporter:
    return DebugExporter(settings.component_id, config)


#: registered in ``REGISTRY`` by whoever wires the built-in components; ``shared`` so that
#: sampling and counts cover every pipeline that names the exporter
FACTORY = Factory(
    type="debug",
    kind="exporter",
    config_class=DebugConfig,
    creators={"traces": _create, "metrics": _create, "logs": _create},
    shared=True,
)
