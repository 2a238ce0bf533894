"""``knhk-telemetry windows``: keyed windows over an OTLP/JSON lines file (the file exporter's format).

Writes one JSON object per window and key, in firing order, as windows fire (streaming):
``window_start_ns, window_end_ns, key {..}, count, error_count, error_rate, sum_duration_ns,
avg_duration_ns, min_duration_ns, max_duration_ns, p50_ns, p95_ns, p99_ns, throughput_per_s,
late`` plus ``update`` (firings before this one) and any custom aggregations. Each line of the
input is one batch: the watermark advances after each line. The overflow key is written as
``{"otel.metric.overflow": true}`` with ``overflow_keys``.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from typing import IO, Any

import click
import pyarrow as pa

from knhk_telemetry.errors import KnhkTelemetryError
from knhk_telemetry.exporters.file.lines import read_otlp_json_lines
from knhk_telemetry.otlp.json import decode_json, encode_json
from knhk_telemetry.stream.aggregates import Aggregates
from knhk_telemetry.stream.keys import DEFAULT_GROUP_BY
from knhk_telemetry.stream.processor import StreamProcessor, WindowConfig
from knhk_telemetry.stream.windows import parse_duration_ns, parse_window

__all__ = ["result_rows", "windows_command"]

_FIXED = (
    "count",
    "error_count",
    "error_rate",
    "sum_duration_ns",
    "avg_duration_ns",
    "min_duration_ns",
    "max_duration_ns",
)


def _json_number(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def result_rows(table: pa.Table, group_by: tuple[str, ...], aggregates: Aggregates) -> Iterator[dict[str, Any]]:
    """The ``windows`` command's JSON objects for a table of results."""
    qnames = aggregates.quantile_names()
    custom = [c.name for c in aggregates.custom]
    for r in table.to_pylist():
        key = {"otel.metric.overflow": True} if r["overflow"] else {d: r[d] for d in group_by}
        out: dict[str, Any] = {"window_start_ns": r["window_start_ns"], "window_end_ns": r["window_end_ns"], "key": key}
        for name in (*_FIXED, *qnames, "throughput_per_s", *custom):
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
    "--group-by",
    default=",".join(DEFAULT_GROUP_BY),
    show_default=True,
    help="Comma-separated: span.name, span.kind, status.code, scope.name, resource.KEY or an attribute key.",
)
@click.option("--out-of-orderness", default="0s", show_default=True, help="Watermark lag behind the max event time.")
@click.option("--allowed-lateness", default="0s", show_default=True, help="How long fired windows accept late spans.")
@click.option("--time", "time_field", type=click.Choice(["end", "start"]), default="end", show_default=True)
@click.option("--max-keys", type=click.IntRange(min=0), default=0, show_default=True, help="Keys per window; 0 = all.")
@click.option("--output", default="-", show_default=True, help="JSON lines output file ('-' = stdout).")
@click.option("--late-output", default=None, help="Write late spans here as OTLP/JSON lines.")
def windows_command(
    *,
    input_path: str,
    window_text: str,
    group_by: str,
    out_of_orderness: str,
    allowed_lateness: str,
    time_field: str,
    max_keys: int,
    output: str,
    late_output: str | None,
) -> None:
    """Keyed event-time windows (count, errors, durations, percentiles) over spans in a file."""
    try:
        window = parse_window(window_text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--window") from None
    dims = tuple(d.strip() for d in group_by.split(",") if d.strip())
    config = WindowConfig(
        window=window,
        time="end" if time_field == "end" else "start",
        out_of_orderness=_duration(out_of_orderness, "out-of-orderness"),
        allowed_lateness=_duration(allowed_lateness, "allowed-lateness"),
        max_keys=max_keys,
    )
    aggregates = Aggregates()
    out: IO[str] = sys.stdout if output == "-" else open(output, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    written = 0

    def emit(table: pa.Table) -> None:
        nonlocal written
        for row in result_rows(table, dims, aggregates):
            out.write(json.dumps(row, separators=(",", ":")) + "\n")
            written += 1

    proc = StreamProcessor(config, group_by=dims, aggregates=aggregates, on_fire=emit)
    skipped = 0
    try:
        try:
            for signal, line in read_otlp_json_lines(input_path):
                if signal != "traces":
                    skipped += 1
                    continue
                proc.process(decode_json("traces", line).batch)
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
    click.echo(
        f"windows: {s['events']} spans, {written} results, {s['late_events']} late spans, "
        f"{s['late_updates']} late updates, {skipped} non-trace lines skipped",
        err=True,
    )
