"""The parquet exporter and its flattening: files read back with DuckDB and polars."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from knhk_telemetry.component import CreateSettings
from knhk_telemetry.errors import ConfigError, ExportError, PipelineClosedError
from knhk_telemetry.exporters.parquet import FACTORY, ParquetConfig, ParquetExporter
from knhk_telemetry.exporters.parquet.flatten import (
    LOG_ROWS,
    POINT_ROWS,
    SPAN_ROWS,
    attribute_maps,
    attribute_value,
    enum_names,
    flatten,
    hex_ids,
    item_times,
    render_values,
    timestamps,
)
from knhk_telemetry.model import schema as S
from knhk_telemetry.model.batch import LogBatch, MetricBatch, SpanBatch
from knhk_telemetry.model.schema import SpanKind
from knhk_telemetry.model.values import AttributeBuilder, TableBuilder

T0 = 1_704_164_645_000_000_000  # 2024-01-02T03:04:05Z
HOUR = 3_600_000_000_000
TRACE_A = bytes(range(16))
TRACE_B = b"\xff" * 16


# -- batches ---------------------------------------------------------------------------------
def span_batch() -> SpanBatch:
    """Two resources (one without service.name), two spans an hour apart, an event, a link."""
    resources = TableBuilder(S.RESOURCES)
    resources.append(schema_url="https://opentelemetry.io/schemas/1.26.0")
    resources.append()
    resource_attrs = AttributeBuilder()
    resource_attrs.add_all(0, {"service.name": "checkout", "host.name": "h1"})
    resource_attrs.add_all(1, {"host.name": "h2"})
    scopes = TableBuilder(S.SCOPES)
    scopes.append(resource=0, name="lib", version="1.0")
    scopes.append(resource=1, name="other")
    spans = TableBuilder(S.SPANS)
    spans.append(
        scope=0, trace_id=TRACE_A, span_id=bytes(range(8)), name="GET /users", kind=2,
        start_time_unix_nano=T0, end_time_unix_nano=T0 + 1_500_000, status_code=2, status_message="boom",
        flags=1, dropped_attributes_count=0, dropped_events_count=3, dropped_links_count=0,
    )  # fmt: skip
    spans.append(
        scope=1, trace_id=TRACE_B, span_id=b"\xab" * 8, parent_span_id=bytes(range(8)), name="db", kind=3,
        start_time_unix_nano=T0 + HOUR, end_time_unix_nano=T0 + HOUR + 250, status_code=0,
    )  # fmt: skip
    span_attrs = AttributeBuilder()
    span_attrs.add_all(
        0,
        {"s": "x", "i": 3, "d": 1.0, "d2": 0.25, "b": True, "by": b"\x00\x01", "arr": [1, "a"], "kv": {"k": [1.5]},
         "none": None},
    )  # fmt: skip
    events = TableBuilder(S.EVENTS)
    events.append(span=0, time_unix_nano=T0 + 10, name="exception", dropped_attributes_count=0)
    event_attrs = AttributeBuilder()
    event_attrs.add_all(0, {"exception.type": "ValueError"})
    links = TableBuilder(S.LINKS)
    links.append(span=1, trace_id=b"\x11" * 16, span_id=b"\x22" * 8, flags=0)
    link_attrs = AttributeBuilder()
    link_attrs.add_all(0, {"why": "retry"})
    return SpanBatch(
        {
            "resources": resources.build(),
            "resource_attributes": resource_attrs.build(),
            "scopes": scopes.build(),
            "spans": spans.build(),
            "span_attributes": span_attrs.build(),
            "events": events.build(),
            "event_attributes": event_attrs.build(),
            "links": links.build(),
            "link_attributes": link_attrs.build(),
        }
    )


def many_spans(n: int, start: int = T0) -> SpanBatch:
    """``n`` spans of one service, one nanosecond apart (one partition)."""
    resources = TableBuilder(S.RESOURCES)
    resources.append()
    resource_attrs = AttributeBuilder()
    resource_attrs.add(0, "service.name", "svc")
    scopes = TableBuilder(S.SCOPES)
    scopes.append(resource=0, name="lib")
    spans = TableBuilder(S.SPANS)
    for i in range(n):
        spans.append(
            scope=0, trace_id=i.to_bytes(16, "big"), span_id=(i + 1).to_bytes(8, "big"), name=f"op{i}", kind=1,
            start_time_unix_nano=start + i, end_time_unix_nano=start + i + 100,
        )  # fmt: skip
    return SpanBatch(
        {
            "resources": resources.build(),
            "resource_attributes": resource_attrs.build(),
            "scopes": scopes.build(),
            "spans": spans.build(),
        }
    )


def metric_batch() -> MetricBatch:
    """One point of each of the five types; an exemplar on the gauge point."""
    resources = TableBuilder(S.RESOURCES)
    resources.append()
    resource_attrs = AttributeBuilder()
    resource_attrs.add(0, "service.name", "api")
    scopes = TableBuilder(S.SCOPES)
    scopes.append(resource=0, name="meter", version="2")
    metrics = TableBuilder(S.METRICS)
    metrics.append(scope=0, name="cpu", unit="1", type=5)
    metrics.append(scope=0, name="requests", description="served", unit="{request}", type=7,
                   aggregation_temporality=2, is_monotonic=True)  # fmt: skip
    metrics.append(scope=0, name="latency", unit="ms", type=9, aggregation_temporality=1)
    metrics.append(scope=0, name="size", unit="By", type=10, aggregation_temporality=1)
    metrics.append(scope=0, name="rtt", unit="s", type=11)
    points = TableBuilder(S.POINTS)
    points.append(metric=0, time_unix_nano=T0, value_kind=4, value_double=0.5)
    points.append(metric=1, start_time_unix_nano=T0 - 10, time_unix_nano=T0, value_kind=6, value_int=42)
    points.append(metric=2, time_unix_nano=T0, count=3, sum=12.5, min=1.0, max=8.0,
                  bucket_counts=[1, 2, 0], explicit_bounds=[5.0, 10.0])  # fmt: skip
    points.append(metric=3, time_unix_nano=T0, count=4, sum=9.0, scale=2, zero_count=1, zero_threshold=0.0,
                  positive_offset=-1, positive_bucket_counts=[2, 1], negative_offset=0,
                  negative_bucket_counts=[])  # fmt: skip
    points.append(metric=4, time_unix_nano=T0 + HOUR, count=10, sum=3.0,
                  quantile_values=[{"quantile": 0.5, "value": 0.2}, {"quantile": 0.99, "value": 0.9}])  # fmt: skip
    point_attrs = AttributeBuilder()
    point_attrs.add(0, "cpu", 1)
    point_attrs.add(1, "http.route", "/a")
    exemplars = TableBuilder(S.EXEMPLARS)
    exemplars.append(point=0, time_unix_nano=T0 - 1, value_kind=4, value_double=0.75, trace_id=TRACE_A,
                     span_id=bytes(range(8)))  # fmt: skip
    exemplar_attrs = AttributeBuilder()
    exemplar_attrs.add(0, "user", "u1")
    return MetricBatch(
        {
            "resources": resources.build(),
            "resource_attributes": resource_attrs.build(),
            "scopes": scopes.build(),
            "metrics": metrics.build(),
            "points": points.build(),
            "point_attributes": point_attrs.build(),
            "exemplars": exemplars.build(),
            "exemplar_attributes": exemplar_attrs.build(),
        }
    )


def log_batch() -> LogBatch:
    resources = TableBuilder(S.RESOURCES)
    resources.append()
    resource_attrs = AttributeBuilder()
    resource_attrs.add(0, "service.name", "worker")
    scopes = TableBuilder(S.SCOPES)
    scopes.append(resource=0, name="logger")
    logs = TableBuilder(S.LOGS)
    logs.append(scope=0, time_unix_nano=T0, observed_time_unix_nano=T0 + 5, severity_number=9,
                severity_text="INFO", body_type=1, body_str="hello", trace_id=TRACE_A, span_id=bytes(range(8)),
                flags=1)  # fmt: skip
    logs.append(scope=0, time_unix_nano=0, observed_time_unix_nano=T0 + 2 * HOUR, severity_number=17,
                body_type=3, body_int=7, event_name="job.done")  # fmt: skip
    log_attrs = AttributeBuilder()
    log_attrs.add(1, "job", "nightly")
    return LogBatch(
        {
            "resources": resources.build(),
            "resource_attributes": resource_attrs.build(),
            "scopes": scopes.build(),
            "logs": logs.build(),
            "log_attributes": log_attrs.build(),
        }
    )


# -- helpers ---------------------------------------------------------------------------------
def exporter(path: Path, **options: Any) -> ParquetExporter:
    options.setdefault("flush_interval", 0)
    return ParquetExporter("parquet/test", ParquetConfig(path=str(path), **options))


def files(root: Path, pattern: str = "*.parquet") -> list[str]:
    return sorted(str(p.relative_to(root).parent) for p in root.rglob(pattern))


def query(root: Path, signal: str, sql: str) -> list[tuple[Any, ...]]:
    source = f"read_parquet('{root}/{signal}/**/*.parquet', hive_partitioning=true)"
    relation = duckdb.sql(sql.format(t=source))
    assert relation is not None
    return relation.fetchall()


# -- flattening --------------------------------------------------------------------------------
def test_hex_ids_keeps_nulls_and_respects_slices() -> None:
    ids = pa.array([b"\x00" * 7 + b"\x01", None, b"\xde\xad\xbe\xef" * 2], pa.binary(8))
    assert hex_ids(ids).to_pylist() == ["0000000000000001", None, "deadbeefdeadbeef"]
    assert hex_ids(ids.slice(2)).to_pylist() == ["deadbeefdeadbeef"]
    assert hex_ids(pa.chunked_array([ids.slice(0, 1), ids.slice(2)])).to_pylist() == [
        "0000000000000001",
        "deadbeefdeadbeef",
    ]
    assert hex_ids(pa.array([], pa.binary(16))).to_pylist() == []


def test_render_values_every_type() -> None:
    attrs = AttributeBuilder()
    values: dict[str, Any] = {
        "s": "text", "i": -5, "big": 2**63 - 1, "d": 2.0, "f": 0.1, "e": 1e300, "t": True, "no": False,
        "by": b"\xff\x00", "arr": [1, 2.5, "x", None, b"\x01"], "kv": {"a": {"b": True}}, "empty": None,
    }  # fmt: skip
    attrs.add_all(0, values)
    assert render_values(attrs.build()).to_pylist() == [
        "text", "-5", "9223372036854775807", "2.0", "0.1", "1e+300", "true", "false", "/wA=",
        '[1,2.5,"x",null,"AQ=="]', '{"a":{"b":true}}', None,
    ]  # fmt: skip


def test_attribute_maps_give_empty_maps_to_rows_without_attributes() -> None:
    attrs = AttributeBuilder()
    attrs.add(1, "a", "x")
    attrs.add(1, "b", 2)
    attrs.add(3, "a", "y")
    maps = attribute_maps(attrs.build(), 5)
    assert maps.to_pylist() == [[], [("a", "x"), ("b", "2")], [], [("a", "y")], []]
    assert attribute_value(attrs.build(), 5, "a").to_pylist() == [None, "x", None, "y", None]


def test_attribute_value_takes_the_first_of_repeated_keys() -> None:
    attrs = AttributeBuilder()
    attrs.add(0, "k", "first")
    attrs.add(0, "k", "second")
    assert attribute_value(attrs.build(), 2, "k").to_pylist() == ["first", None]


def test_enum_names_and_timestamps() -> None:
    kinds = pa.array([0, 2, 5, 9, None, -3], pa.int8())
    assert enum_names(kinds, SpanKind).to_pylist() == ["UNSPECIFIED", "SERVER", "CONSUMER", None, None, None]
    ts = timestamps(pa.array([0, 5, None], pa.uint64()))
    assert ts.type == pa.timestamp("ns", tz="UTC")
    assert ts.cast(pa.int64()).to_pylist() == [None, 5, None]


def test_flatten_keeps_the_row_schemas() -> None:
    assert flatten(span_batch()).schema.equals(SPAN_ROWS)
    assert flatten(metric_batch()).schema.equals(POINT_ROWS)
    assert flatten(log_batch()).schema.equals(LOG_ROWS)
    assert flatten(SpanBatch.empty()).num_rows == 0
    assert flatten(SpanBatch.empty()).schema.equals(SPAN_ROWS)


def test_item_times_fall_back_when_unset() -> None:
    logs = flatten(log_batch())
    assert item_times(logs, "logs").tolist() == [T0, T0 + 2 * HOUR]
    spans = flatten(span_batch())
    assert item_times(spans, "traces").tolist() == [T0 + 1_500_000, T0 + HOUR + 250]


def test_flatten_chunked_tables() -> None:
    batch = SpanBatch.concat([span_batch(), span_batch().slice(1)], combine=False)
    assert batch.spans.column("trace_id").num_chunks == 2
    rows = flatten(batch)
    assert rows.column("trace_id").to_pylist() == ["000102030405060708090a0b0c0d0e0f", "ff" * 16, "ff" * 16]
    assert rows.column("service_name").to_pylist() == ["checkout", None, None]
    assert rows.column("scope_name").to_pylist() == ["lib", "other", "other"]
    assert [len(links) for links in rows.column("links").to_pylist()] == [0, 1, 1]
    assert hex_ids(pa.nulls(2, pa.binary(8))).to_pylist() == [None, None]


def test_flatten_sliced_batch_renumbers_context() -> None:
    second = span_batch().slice(1)
    rows = flatten(second)
    assert rows.column("trace_id").to_pylist() == ["ff" * 16]
    assert rows.column("scope_name").to_pylist() == ["other"]
    assert rows.column("links").to_pylist()[0][0]["attributes"] == [("why", "retry")]


# -- spans -------------------------------------------------------------------------------------
def test_spans_read_back_with_duckdb(tmp_path: Path) -> None:
    exp = exporter(tmp_path)
    exp.start()
    exp.consume_spans(span_batch())
    exp.shutdown()

    assert files(tmp_path) == ["traces/date=2024-01-02/hour=03", "traces/date=2024-01-02/hour=04"]
    assert files(tmp_path, "*.tmp") == []
    rows = query(
        tmp_path,
        "traces",
        "select trace_id, span_id, parent_span_id, name, kind, kind_name, duration_ns, status_code,"
        " status_code_name, status_message, service_name, scope_name, scope_version, epoch_ns(start_time),"
        " end_time_unix_nano, date::varchar, hour::varchar, flags, dropped_events_count from {t} order by trace_id",
    )
    assert rows == [
        (
            "000102030405060708090a0b0c0d0e0f", "0001020304050607", None, "GET /users", 2, "SERVER", 1_500_000, 2,
            "ERROR", "boom", "checkout", "lib", "1.0", T0, T0 + 1_500_000, "2024-01-02", "03", 1, 3,
        ),
        (
            "ffffffffffffffffffffffffffffffff", "abababababababab", "0001020304050607", "db", 3, "CLIENT", 250, 0,
            "UNSET", None, None, "other", None, T0 + HOUR, T0 + HOUR + 250, "2024-01-02", "04", None, None,
        ),
    ]  # fmt: skip
    attrs = query(
        tmp_path,
        "traces",
        "select attributes['s'], attributes['i'], attributes['d'], attributes['b'], attributes['by'],"
        " attributes['arr'], attributes['kv'], attributes['none'], cardinality(attributes),"
        " resource_attributes['host.name'] from {t} order by trace_id",
    )
    assert attrs == [
        ("x", "3", "1.0", "true", "AAE=", '[1,"a"]', '{"k":[1.5]}', None, 9, "h1"),
        (None, None, None, None, None, None, None, None, 0, "h2"),
    ]
    events = query(
        tmp_path,
        "traces",
        "select e.name, epoch_ns(e.time), e.attributes['exception.type'] from {t}, unnest(events) as u(e)",
    )
    assert events == [("exception", T0 + 10, "ValueError")]
    links = query(
        tmp_path, "traces", "select l.trace_id, l.span_id, l.attributes['why'] from {t}, unnest(links) as u(l)"
    )
    assert links == [("11" * 16, "22" * 8, "retry")]


def test_spans_read_back_with_polars(tmp_path: Path) -> None:
    exp = exporter(tmp_path)
    exp.consume_spans(span_batch())
    exp.shutdown()
    frame = pl.read_parquet(tmp_path / "traces" / "**" / "*.parquet", hive_partitioning=True).sort("trace_id")
    assert frame["trace_id"].to_list() == ["000102030405060708090a0b0c0d0e0f", "ff" * 16]
    assert frame["duration_ns"].to_list() == [1_500_000, 250]
    assert frame["service_name"].to_list() == ["checkout", None]
    assert frame["hour"].to_list() == [3, 4]
    assert frame["end_time"].dt.epoch("ns").to_list() == [T0 + 1_500_000, T0 + HOUR + 250]
    attributes = frame["attributes"].to_list()
    assert (attributes[0]["i"], attributes[0]["by"], attributes[0]["none"], attributes[1]) == ("3", "AAE=", None, {})
    assert frame["events"].to_list()[0][0]["attributes"] == {"exception.type": "ValueError"}


# -- metrics and logs ----------------------------------------------------------------------------
def test_metrics_of_all_five_types(tmp_path: Path) -> None:
    exp = exporter(tmp_path)
    exp.consume_metrics(metric_batch())
    exp.shutdown()
    assert files(tmp_path) == ["metrics/date=2024-01-02/hour=03", "metrics/date=2024-01-02/hour=04"]
    rows = query(
        tmp_path,
        "metrics",
        "select metric_name, metric_type, aggregation_temporality, is_monotonic, value, value_int, count, sum,"
        " min, max, bucket_counts, explicit_bounds, scale, zero_count, positive_offset, positive_bucket_counts,"
        " negative_bucket_counts, quantile_values, attributes, service_name, scope_name, hour::varchar,"
        " epoch_ns(start_time)"
        " from {t} order by metric_name",
    )
    q = [{"quantile": 0.5, "value": 0.2}, {"quantile": 0.99, "value": 0.9}]
    assert rows == [
        ("cpu", "GAUGE", None, None, 0.5, None, None, None, None, None, None, None, None, None, None, None, None,
         None, {"cpu": "1"}, "api", "meter", "03", None),
        ("latency", "HISTOGRAM", "DELTA", None, None, None, 3, 12.5, 1.0, 8.0, [1, 2, 0], [5.0, 10.0], None, None,
         None, None, None, None, {}, "api", "meter", "03", None),
        ("requests", "SUM", "CUMULATIVE", True, 42.0, 42, None, None, None, None, None, None, None, None, None,
         None, None, None, {"http.route": "/a"}, "api", "meter", "03", T0 - 10),
        ("rtt", "SUMMARY", None, None, None, None, 10, 3.0, None, None, None, None, None, None, None, None, None,
         q, {}, "api", "meter", "04", None),
        ("size", "EXPONENTIAL_HISTOGRAM", "DELTA", None, None, None, 4, 9.0, None, None, None, None, 2, 1, -1,
         [2, 1], [], None, {}, "api", "meter", "03", None),
    ]  # fmt: skip
    exemplars = query(
        tmp_path,
        "metrics",
        "select x.value, x.trace_id, x.span_id, x.filtered_attributes['user'], epoch_ns(x.time)"
        " from {t}, unnest(exemplars) as u(x)",
    )
    assert exemplars == [(0.75, "000102030405060708090a0b0c0d0e0f", "0001020304050607", "u1", T0 - 1)]


def test_logs(tmp_path: Path) -> None:
    exp = exporter(tmp_path)
    exp.consume_logs(log_batch())
    exp.shutdown()
    # the second record has no time: it is partitioned by its observed time
    assert files(tmp_path) == ["logs/date=2024-01-02/hour=03", "logs/date=2024-01-02/hour=05"]
    rows = query(
        tmp_path,
        "logs",
        "select epoch_ns(time), time_unix_nano, severity_number, severity_text, body, body_type, attributes,"
        " trace_id, span_id, event_name, flags, service_name, scope_name, hour::varchar from {t} order by hour",
    )
    assert rows == [
        (T0, T0, 9, "INFO", "hello", "STRING", {}, "000102030405060708090a0b0c0d0e0f", "0001020304050607", None,
         1, "worker", "logger", "03"),
        (None, 0, 17, None, "7", "INT", {"job": "nightly"}, None, None, "job.done", None, "worker", "logger", "05"),
    ]  # fmt: skip


# -- files, row groups and lifecycle -------------------------------------------------------------
def test_rotation_at_max_rows_per_file(tmp_path: Path) -> None:
    exp = exporter(tmp_path, max_rows_per_file=2, row_group_size=1)
    exp.consume_spans(many_spans(3))
    exp.consume_spans(many_spans(2, start=T0 + 3))
    # four rows filled two files; the fifth waits in an open file until shutdown
    assert len(list(tmp_path.rglob("*.parquet"))) == 2
    assert len(list(tmp_path.rglob("*.parquet.tmp"))) == 1
    exp.shutdown()
    written = sorted(tmp_path.rglob("*.parquet"))
    assert len(written) == 3
    assert sorted(pq.ParquetFile(p).metadata.num_rows for p in written) == [1, 2, 2]
    assert all(pq.ParquetFile(p).metadata.num_row_groups == pq.ParquetFile(p).metadata.num_rows for p in written)
    names = query(tmp_path, "traces", "select name from {t} order by start_time_unix_nano")
    assert names == [("op0",), ("op1",), ("op2",), ("op0",), ("op1",)]


def test_rows_are_buffered_into_row_groups(tmp_path: Path) -> None:
    exp = exporter(tmp_path, row_group_size=2)
    exp.consume_spans(many_spans(1))
    assert list(tmp_path.rglob("*.parquet*")) == []  # buffered, nothing written yet
    exp.consume_spans(many_spans(4, start=T0 + 1))
    exp.shutdown()
    (only,) = tmp_path.rglob("*.parquet")
    meta = pq.ParquetFile(only).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [2, 2, 1]
    assert meta.row_group(0).column(0).compression == "ZSTD"


def test_flush_writes_and_closing_renames(tmp_path: Path) -> None:
    exp = exporter(tmp_path)
    exp.consume_spans(many_spans(3))
    exp.flush()
    (tmp,) = tmp_path.rglob("*.parquet.tmp")
    assert list(tmp_path.rglob("*.parquet")) == []
    exp.flush(close_files=True)
    assert not tmp.exists()
    assert [p.name for p in tmp_path.rglob("*.parquet")] == [tmp.name.removesuffix(".tmp")]
    exp.shutdown()
    assert len(list(tmp_path.rglob("*.parquet"))) == 1


def test_tick_closes_files_older_than_max_file_age(tmp_path: Path) -> None:
    now = [100.0]
    exp = ParquetExporter(
        "parquet", ParquetConfig(path=str(tmp_path), flush_interval=0, max_file_age=5), clock=lambda: now[0]
    )
    exp.consume_spans(many_spans(2))
    exp.tick()  # writes the rows into a file opened at 100
    assert len(list(tmp_path.rglob("*.parquet.tmp"))) == 1
    now[0] = 104.0
    exp.tick()
    assert list(tmp_path.rglob("*.parquet")) == []
    now[0] = 105.0
    exp.tick()
    assert len(list(tmp_path.rglob("*.parquet"))) == 1
    assert list(tmp_path.rglob("*.tmp")) == []
    exp.shutdown()


def test_background_flusher_starts_and_stops(tmp_path: Path) -> None:
    exp = exporter(tmp_path, flush_interval=3600)
    exp.start()
    exp.consume_logs(log_batch())
    exp.shutdown()
    assert len(list(tmp_path.rglob("*.parquet"))) == 2
    assert exp._flusher is not None
    assert not exp._flusher.is_alive()


def test_partitioning_by_date_and_none(tmp_path: Path) -> None:
    by_date = exporter(tmp_path / "d", partitioning="date")
    by_date.consume_spans(span_batch())
    by_date.shutdown()
    assert files(tmp_path / "d") == ["traces/date=2024-01-02"]
    flat = exporter(tmp_path / "n", partitioning="none")
    flat.consume_spans(span_batch())
    flat.shutdown()
    assert files(tmp_path / "n") == ["traces"]


@pytest.mark.parametrize(("compression", "stored"), [("gzip", "GZIP"), ("snappy", "SNAPPY"), ("none", "UNCOMPRESSED")])
def test_compression(tmp_path: Path, compression: str, stored: str) -> None:
    exp = exporter(tmp_path, compression=compression)
    exp.consume_spans(many_spans(1))
    exp.shutdown()
    (only,) = tmp_path.rglob("*.parquet")
    assert pq.ParquetFile(only).metadata.row_group(0).column(0).compression == stored


def test_shutdown_twice_and_consume_after(tmp_path: Path) -> None:
    exp = exporter(tmp_path)
    exp.consume_spans(many_spans(2))
    exp.shutdown()
    exp.shutdown()
    assert len(list(tmp_path.rglob("*.parquet"))) == 1
    with pytest.raises(PipelineClosedError, match="parquet/test"):
        exp.consume_spans(many_spans(1))


def test_shutdown_without_start_or_data(tmp_path: Path) -> None:
    exp = exporter(tmp_path / "never")
    exp.shutdown()
    assert not (tmp_path / "never").exists()


def test_empty_batch_writes_nothing(tmp_path: Path) -> None:
    exp = exporter(tmp_path, row_group_size=1)
    exp.start()
    exp.consume_spans(SpanBatch.empty())
    exp.consume_metrics(MetricBatch.empty())
    exp.consume_logs(LogBatch.empty())
    exp.shutdown()
    assert list(tmp_path.iterdir()) == []


def test_unwritable_path_raises_export_error_naming_it(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    root = blocker / "out"
    with pytest.raises(ExportError, match=str(root)):
        exporter(root).start()

    exp = exporter(root, row_group_size=1)
    with pytest.raises(ExportError, match=f"cannot write {root / 'traces'}"):
        exp.consume_spans(many_spans(1))
    # the rows are kept, so shutdown tries again and reports the same failure
    assert ("knhk_telemetry_exporter_buffered_items", "gauge", "Rows accepted and not yet written.",
            {"exporter": "parquet/test", "signal": "traces"}, 1.0) in list(exp.self_metrics())  # fmt: skip
    with pytest.raises(ExportError, match="parquet/test"):
        exp.shutdown()


def test_failed_write_keeps_the_rows_for_the_next_flush(tmp_path: Path) -> None:
    blocker = tmp_path / "traces"
    blocker.write_text("in the way")
    exp = exporter(tmp_path, row_group_size=1)
    with pytest.raises(ExportError):
        exp.consume_spans(many_spans(1))
    blocker.unlink()
    exp.shutdown()
    assert query(tmp_path, "traces", "select name from {t}") == [("op0",)]


def test_pipelines_sharing_one_instance(tmp_path: Path) -> None:
    exp = exporter(tmp_path, row_group_size=7, max_rows_per_file=50)
    exp.start()

    def feed(signal: str) -> None:
        for i in range(20):
            if signal == "traces":
                exp.consume_spans(many_spans(5, start=T0 + 10 * i))
            elif signal == "metrics":
                exp.consume_metrics(metric_batch())
            else:
                exp.consume_logs(log_batch())

    threads = [threading.Thread(target=feed, args=(s,)) for s in ("traces", "metrics", "logs", "traces")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    exp.shutdown()
    assert query(tmp_path, "traces", "select count(*) from {t}") == [(200,)]
    assert query(tmp_path, "metrics", "select count(*) from {t}") == [(100,)]
    assert query(tmp_path, "logs", "select count(*) from {t}") == [(40,)]
    per_file = sorted(pq.ParquetFile(p).metadata.num_rows for p in (tmp_path / "traces").rglob("*.parquet"))
    assert per_file == [50, 50, 50, 50]
    sent = {
        labels["signal"]: value
        for name, _, _, labels, value in exp.self_metrics()
        if name == "knhk_telemetry_exporter_sent_items_total"
    }
    assert sent == {"traces": 200.0, "metrics": 100.0, "logs": 40.0}


def test_self_metrics_after_shutdown(tmp_path: Path) -> None:
    exp = exporter(tmp_path)
    exp.consume_spans(span_batch())
    exp.shutdown()
    metrics = {(name, labels.get("signal")): value for name, _, _, labels, value in exp.self_metrics()}
    size = sum(p.stat().st_size for p in tmp_path.rglob("*.parquet"))
    assert metrics[("knhk_telemetry_exporter_sent_items_total", "traces")] == 2.0
    assert metrics[("knhk_telemetry_exporter_files_total", "traces")] == 2.0
    assert metrics[("knhk_telemetry_exporter_written_bytes_total", "traces")] == float(size)
    assert metrics[("knhk_telemetry_exporter_buffered_items", "traces")] == 0.0
    assert metrics[("knhk_telemetry_exporter_open_files", None)] == 0.0
    assert metrics[("knhk_telemetry_exporter_write_errors_total", None)] == 0.0


# -- config and factory ---------------------------------------------------------------------------
def test_config_requires_a_path() -> None:
    config = FACTORY.default_config()
    assert isinstance(config, ParquetConfig)
    assert (config.partitioning, config.compression, config.row_group_size) == ("hour", "zstd", 65_536)
    with pytest.raises(ConfigError, match=r"exporters\.parquet\.path: is required") as info:
        config.validate_config("exporters.parquet")
    assert info.value.path == "exporters.parquet.path"
    with pytest.raises(ConfigError, match=r"exporters\.parquet/x\.path"):
        ParquetExporter("parquet/x", config)


def test_config_refuses_a_level_for_snappy() -> None:
    with pytest.raises(ConfigError, match=r"exporters\.p\.compression_level: compression 'snappy' takes no level"):
        ParquetConfig(path="/x", compression="snappy", compression_level=3).validate_config("exporters.p")


def test_factory_creates_one_exporter_type_for_every_signal(tmp_path: Path) -> None:
    assert (FACTORY.type, FACTORY.kind, FACTORY.shared) == ("parquet", "exporter", True)
    assert FACTORY.signals() == ("traces", "metrics", "logs")
    config = ParquetConfig(path=str(tmp_path))
    made = FACTORY.create("logs", CreateSettings("parquet/a", "logs"), config)
    assert isinstance(made, ParquetExporter)
    assert made.component_id == "parquet/a"
    made.shutdown()


def test_many_rows_round_trip(tmp_path: Path) -> None:
    batch = many_spans(3000)
    exp = exporter(tmp_path, row_group_size=1000)
    exp.consume_spans(batch)
    exp.shutdown()
    got = query(tmp_path, "traces", "select sum(duration_ns), count(*), min(span_id), max(trace_id) from {t}")
    assert got == [(300_000, 3000, "0000000000000001", f"{2999:032x}")]
    (only,) = tmp_path.rglob("*.parquet")
    assert pq.ParquetFile(only).metadata.num_row_groups == 3
