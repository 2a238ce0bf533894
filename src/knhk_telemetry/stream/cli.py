"""``knhk-telemetry windows``: keyed windows over an OTLP/JSON lines file (the file exporter's format).

Windows one signal: ``--signal traces|logs|metrics``, by default the signal of the file's first
line (lines of other signals are skipped and counted). Writes one JSON object per window and
key, in firing order, as windows fire (streaming): ``window_start_ns, window_end_ns, key {..}``,
then the signal's aggregates, then ``late`` and ``update`` (firings before this one):

- traces: ``count, error_count, error_rate, sum_duration_ns, avg_duration_ns,
  min_duration_ns, max_duration_ns, p50_ns, p95_ns, p99_ns, throughput_per_s``;
- logs: ``count, error_count, error_rate, throughput_per_s`` (error: severity_number >= 17);
- metrics (gauge and sum points): ``count, sum_value, avg_value, min_value, max_value,
  last_value, last_time_unix_nano, p50_value, p95_value, p99_value, throughput_per_s``;

and any custom aggregations before ``late``. Each line of the input is one batch: the
watermark advances after each line. The overflow key is written as
``{"otel.metric.overflow": true}`` with ``overflow_keys``.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Generator, Iterator
from typing import IO, Any, cast

import click
import pyarrow as pa

from knhk_telemetry.component import Signal
from knhk_telemetry.errors import KnhkTelemetryError
from knhk_telemetry.exporters.file.lines import read_otlp_json_lines
from knhk_telemetry.otlp.json import decode_json, encode_json
from knhk_telemetry.stream.aggregates import Aggregates
from knhk_telemetry.stream.processor import StreamProcessor, WindowConfig
from knhk_telemetry.stream.signals import SIGNALS, SignalName, TimeField
from knhk_telemetry.stream.windows import parse_duration_ns, parse_window

__all__ = ["result_rows", "windows_command"]

#: result columns that are not aggregates (written as the key, or not at all)
_META = ("window_start_ns", "window_end_ns", "key_id", "overflow", "overflow_keys", "late", "update")


def _json_number(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def result_rows(
    table: pa.Table, group_by: tuple[str, ...], aggregates: Aggregates | None = None
) -> Iterator[dict[str, Any]]:
    """The ``windows`` command's JSON objects for a table of results (of any signal).

    The aggregates are the table's columns other than the window, the key and ``late``/``update``,
    in the table's order; ``aggregates`` is accepted for compatibility and not needed.
    """
    skip = {*_META, *group_by}
    names = [c for c in table.column_names if c not in skip]
    for r in table.to_pylist():
        key = {"otel.metric.overflow": True} if r["overflow"] else {d: r[d] for d in group_by}
        out: dict[str, Any] = {"window_start_ns": r["window_start_ns"], "window_end_ns": r["window_end_ns"], "key": key}
        for name in names:
            out[name] = _json_number(r[name])
        out["late"] = r["late"]
        out["update"] = r["update"]
        if r["overflow"]:
            out["overflow_keys"] = r["overflow_keys"]
        yield out


def _duration(value: str, field: str) -> int:
    try:
        return parse_duration_ns(value, field=field)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=f"--{field}") from None


@click.command("windows")
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False), help="OTLP/JSON lines file.")
@click.option("--window", "window_text", required=True, help="tumbling:10s | sliding:30s/10s | session:5s")
@click.option(
    "--signal",
    type=click.Choice(list(SIGNALS)),
    default=None,
    help="Which signal to window; default: the signal of the first line.",
)
@click.option(
    "--group-by",
    default=None,
    help="Comma-separated dimensions. traces: span.name, span.kind, status.code; logs: severity_text, "
    "severity_number, event_name; metrics: metric.name, metric.unit, metric.type; all: scope.name, "
    "resource.KEY or an attribute key. Default: service.name,span.name,span.kind,status.code | "
    "service.name,severity_text | service.name,metric.name.",
)
@click.option("--out-of-orderness", default="0s", show_default=True, help="Watermark lag behind the max event time.")
@click.option("--allowed-lateness", default="0s", show_default=True, help="How long fired windows accept late events.")
@click.option(
    "--time",
    "time_field",
    type=click.Choice(["end", "start", "time", "observed"]),
    default=None,
    help="Event time. traces: end (default) | start; logs: time (default; observed when 0) | observed; "
    "metrics: time (default) | start.",
)
@click.option("--max-keys", type=click.IntRange(min=0), default=0, show_default=True, help="Keys per window; 0 = all.")
@click.option("--output", default="-", show_default=True, help="JSON lines output file ('-' = stdout).")
@click.option("--late-output", default=None, help="Write late events here as OTLP/JSON lines.")
def windows_command(
    *,
    input_path: str,
    window_text: str,
    signal: str | None,
    group_by: str | None,
    out_of_orderness: str,
    allowed_lateness: str,
    time_field: str | None,
    max_keys: int,
    output: str,
    late_output: str | None,
) -> None:
    """Keyed event-time windows (counts, errors, values, percentiles) over spans, logs or metrics in a file."""
    try:
        window = parse_window(window_text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--window") from None
    try:
        config = WindowConfig(
            window=window,
            time=cast(TimeField | None, time_field),
            out_of_orderness=_duration(out_of_orderness, "out-of-orderness"),
            allowed_lateness=_duration(allowed_lateness, "allowed-lateness"),
            max_keys=max_keys,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    aggregates = Aggregates()
    # a generator: closing it (also on errors) closes the file
    reader = cast(Generator[tuple[Signal, bytes], None, None], read_otlp_json_lines(input_path))
    with contextlib.closing(reader) as lines:
        try:
            first = next(lines, None)
        except KnhkTelemetryError as exc:
            raise click.ClickException(str(exc)) from None
        chosen = cast(SignalName, signal or (first[0] if first is not None else "traces"))
        dims = (
            SIGNALS[chosen].default_group_by
            if group_by is None
            else tuple(d.strip() for d in group_by.split(",") if d.strip())
        )
        factory: Any = StreamProcessor  # the signal is only known at run time
        try:
            proc = factory(config, signal=chosen, group_by=dims, aggregates=aggregates)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--time") from None
        _run(proc, first, lines, output, late_output)


def _run(
    proc: Any,
    first: tuple[Signal, bytes] | None,
    lines: Iterator[tuple[Signal, bytes]],
    output: str,
    late_output: str | None,
) -> None:
    out: IO[str] = sys.stdout if output == "-" else open(output, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    written = 0

    def emit(table: pa.Table) -> None:
        nonlocal written
        for row in result_rows(table, proc.group_by):
            out.write(json.dumps(row, separators=(",", ":")) + "\n")
            written += 1

    proc.on_fire = emit
    skipped = 0
    try:
        try:
            for sig, line in _chain(first, lines):
                if sig != proc.signal:
                    skipped += 1
                    continue
                proc.process(decode_json(sig, line).batch)
        except KnhkTelemetryError as exc:
            raise click.ClickException(str(exc)) from None
        proc.flush()
        if late_output is not None:
            late = proc.late_data()
            with open(late_output, "wb") as fh:
                if len(late):
                    fh.write(encode_json(late) + b"\n")
    finally:
        if out is not sys.stdout:
            out.close()
    s = proc.stats
    noun = SIGNALS[proc.signal].noun
    extra = ""
    if proc.signal == "metrics":
        extra = (
            f", {s['non_number_points']} non-number points and {s['no_value_points']} points without a value skipped"
        )
    click.echo(
        f"windows: {s['events']} {noun}, {written} results, {s['late_events']} late {noun}, "
        f"{s['late_updates']} late updates, {skipped} lines of other signals skipped{extra}",
        err=True,
    )


def _chain(first: tuple[Signal, bytes] | None, rest: Iterator[tuple[Signal, bytes]]) -> Iterator[tuple[Signal, bytes]]:
    if first is not None:
        yield first
    yield from rest
