"""Reference OTLP protobuf codec: ``Export*ServiceRequest`` <-> ``SpanBatch`` / ``MetricBatch`` / ``LogBatch``.

This is the slow, obviously-correct path over the ``opentelemetry-proto`` generated classes
(a Python loop per span). It defines what every faster decoder must produce, and it is the
oracle their tests compare against. Each column is collected once as a Python list and each
Arrow table is built once per request.

Mapping rules (the model is ``knhk_telemetry.model.schema``):

- proto3 scalars decode to their value, defaults included (``""``, ``0``): a missing string
  is ``""``, never null. Nulls mean *absent* only where OTLP has presence: ``Span.status``
  (``status_code`` and ``status_message`` null), ``KeyValue.value`` (``type`` null),
  ``LogRecord.body`` (``body_type`` null; ``0`` is a present but empty AnyValue), the optional
  histogram ``sum``/``min``/``max``, the exponential histogram ``positive``/``negative``
  buckets (null offset and counts), and the oneof values of number points and exemplars
  (``value_kind`` ``NumberKind.NONE``).
- Empty ``parent_span_id`` is null; empty log and exemplar ``trace_id``/``span_id`` are null.
- Columns that do not apply to a row are null: ``aggregation_temporality`` for gauges and
  summaries, ``is_monotonic`` outside sums, histogram columns on number points, and so on.
- Arrays and kvlists are kept as their serialized ``ArrayValue`` / ``KeyValueList`` bytes.
- ``AnyValue.string_value_strindex`` and ``KeyValue.key_strindex`` belong to the profiles
  signal's string table and are ignored: such a value decodes as an empty AnyValue.
- An absent ``resource`` or ``scope`` decodes like an empty one, and encoding always emits
  both submessages, so those two presences are the only thing a round trip does not keep.

Refusals: a span whose ``trace_id`` is not 16 bytes, ``span_id`` not 8 bytes, non-empty
``parent_span_id`` not 8 bytes, or with a link breaking the first two rules is left out of
the batch and counted in ``Decoded.rejected``; so are log records and exemplars whose
non-empty ids have the wrong length. All-zero ids are kept (that is validation's job).
Enum values that do not fit the model's ``int8`` columns raise ``DecodeError``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, TypeAlias, overload

import numpy as np
import pyarrow as pa
from google.protobuf import message as pb_message
from google.protobuf.internal.containers import RepeatedCompositeFieldContainer
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogsData
from opentelemetry.proto.metrics.v1.metrics_pb2 import MetricsData
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from knhk_telemetry.errors import DecodeError
from knhk_telemetry.model import schema as S
from knhk_telemetry.model.batch import Batch, LogBatch, MetricBatch, SpanBatch
from knhk_telemetry.model.rejections import (
    INVALID_PARENT_SPAN_ID,
    INVALID_SPAN_ID,
    INVALID_TRACE_ID,
    Decoded,
    Rejections,
)
from knhk_telemetry.model.schema import MetricType, NumberKind, ValueType
from knhk_telemetry.model.values import AttributeBuilder, TableBuilder, entity_ref_cell

Signal: TypeAlias = Literal["traces", "metrics", "logs"]
Buffer: TypeAlias = bytes | bytearray | memoryview
TracesMessage: TypeAlias = ExportTraceServiceRequest | TracesData
MetricsMessage: TypeAlias = ExportMetricsServiceRequest | MetricsData
LogsMessage: TypeAlias = ExportLogsServiceRequest | LogsData
AnyRequest: TypeAlias = ExportTraceServiceRequest | ExportMetricsServiceRequest | ExportLogsServiceRequest

#: the request message of each signal
REQUEST_TYPES: dict[str, type[AnyRequest]] = {
    "traces": ExportTraceServiceRequest,
    "metrics": ExportMetricsServiceRequest,
    "logs": ExportLogsServiceRequest,
}

TRACE_ID_SIZE = 16
SPAN_ID_SIZE = 8

# ----------------------------------------------------------------------------------------
# decoding helpers
# ----------------------------------------------------------------------------------------

_ANY_KINDS: dict[str, tuple[ValueType, str]] = {
    "string_value": (ValueType.STRING, "str"),
    "bool_value": (ValueType.BOOL, "bool"),
    "int_value": (ValueType.INT, "int"),
    "double_value": (ValueType.DOUBLE, "double"),
    "bytes_value": (ValueType.BYTES, "bytes"),
    "array_value": (ValueType.ARRAY, "bytes"),
    "kvlist_value": (ValueType.KVLIST, "bytes"),
}


def _split_any(value: AnyValue) -> tuple[int, str, Any]:
    """``(type, column, cell)`` of an AnyValue; arrays and kvlists as their serialized bytes."""
    which = value.WhichOneof("value")
    kind = _ANY_KINDS.get(which) if which is not None else None
    if kind is None:  # unset, or string_value_strindex (profiles only, see the module docstring)
        return ValueType.EMPTY, "", None
    vtype, column = kind
    if column == "bytes" and vtype != ValueType.BYTES:
        return vtype, column, getattr(value, which).SerializeToString()  # type: ignore[arg-type]
    return vtype, column, getattr(value, which)  # type: ignore[arg-type]


def _add_attributes(builder: AttributeBuilder, row: int, attributes: Iterable[KeyValue]) -> None:
    for kv in attributes:
        if kv.HasField("value"):
            vtype, column, cell = _split_any(kv.value)
            builder.add_typed(row, kv.key, vtype, column, cell)
        else:
            builder.add_typed(row, kv.key, None, "", None)


def _int8(value: int, where: str) -> int:
    """An OTLP enum value (open in proto3) checked against the model's ``int8`` column."""
    if not -128 <= value <= 127:
        raise DecodeError(f"{where}: enum value {value} is outside the range the model stores (-128..127)")
    return value


def _id_problem(value: bytes, size: int, name: str, *, optional: bool) -> str | None:
    if len(value) == size or (optional and not value):
        return None
    return f"{name} has {len(value)} bytes, expected {size}"


def _number_kind(which: str | None) -> NumberKind:
    if which == "as_double":
        return NumberKind.DOUBLE
    if which == "as_int":
        return NumberKind.INT
    return NumberKind.NONE


def _parse(cls: type[pb_message.Message], data: Buffer) -> Any:
    msg = cls()
    try:
        msg.ParseFromString(bytes(data))
    except pb_message.DecodeError as exc:
        raise DecodeError(f"{cls.DESCRIPTOR.name}: {exc}") from exc
    return msg


class _Envelope:
    """Builders of the resource and scope tables (and their attributes) of one request."""

    __slots__ = ("resource_attributes", "resources", "scope_attributes", "scopes")

    def __init__(self) -> None:
        self.resources = TableBuilder(S.RESOURCES)
        self.resource_attributes = AttributeBuilder()
        self.scopes = TableBuilder(S.SCOPES)
        self.scope_attributes = AttributeBuilder()

    def resource(self, container: Any) -> int:
        """Add the resource of a ResourceSpans / ResourceMetrics / ResourceLogs."""
        res = container.resource
        row = self.resources.append(
            schema_url=container.schema_url,
            dropped_attributes_count=res.dropped_attributes_count,
            entity_refs=[entity_ref_cell(e) for e in res.entity_refs],
        )
        _add_attributes(self.resource_attributes, row, res.attributes)
        return row

    def scope(self, container: Any, resource: int) -> int:
        """Add the scope of a ScopeSpans / ScopeMetrics / ScopeLogs."""
        scope = container.scope
        row = self.scopes.append(
            resource=resource,
            name=scope.name,
            version=scope.version,
            dropped_attributes_count=scope.dropped_attributes_count,
            schema_url=container.schema_url,
        )
        _add_attributes(self.scope_attributes, row, scope.attributes)
        return row

    def tables(self) -> dict[str, pa.Table]:
        return {
            "resources": self.resources.build(),
            "resource_attributes": self.resource_attributes.build(),
            "scopes": self.scopes.build(),
            "scope_attributes": self.scope_attributes.build(),
        }


# ----------------------------------------------------------------------------------------
# traces
# ----------------------------------------------------------------------------------------


def _span_problem(span: Any) -> tuple[str, str, str] | None:
    """``(reason, where, text)`` of the first id rule the span breaks, else None."""
    text = _id_problem(span.trace_id, TRACE_ID_SIZE, "trace_id", optional=False)
    if text:
        return INVALID_TRACE_ID, "", text
    text = _id_problem(span.span_id, SPAN_ID_SIZE, "span_id", optional=False)
    if text:
        return INVALID_SPAN_ID, "", text
    text = _id_problem(span.parent_span_id, SPAN_ID_SIZE, "parent_span_id", optional=True)
    if text:
        return INVALID_PARENT_SPAN_ID, "", text
    for li, link in enumerate(span.links):
        text = _id_problem(link.trace_id, TRACE_ID_SIZE, "trace_id", optional=False)
        if text:
            return INVALID_TRACE_ID, f".links[{li}]", text
        text = _id_problem(link.span_id, SPAN_ID_SIZE, "span_id", optional=False)
        if text:
            return INVALID_SPAN_ID, f".links[{li}]", text
    return None


def traces_from_message(msg: TracesMessage) -> Decoded[SpanBatch]:
    """A parsed ``ExportTraceServiceRequest`` (or ``TracesData``) as a ``SpanBatch``."""
    env = _Envelope()
    spans = TableBuilder(S.SPANS)
    span_attrs = AttributeBuilder()
    events = TableBuilder(S.EVENTS)
    event_attrs = AttributeBuilder()
    links = TableBuilder(S.LINKS)
    link_attrs = AttributeBuilder()
    rejected = Rejections()
    for ri, rs in enumerate(msg.resource_spans):
        resource = env.resource(rs)
        for si, ss in enumerate(rs.scope_spans):
            scope = env.scope(ss, resource)
            for i, span in enumerate(ss.spans):
                problem = _span_problem(span)
                if problem is not None:
                    reason, where, text = problem
                    rejected.add(reason, f"resource_spans[{ri}].scope_spans[{si}].spans[{i}]{where}: {text}")
                    continue
                has_status = span.HasField("status")
                path = f"resource_spans[{ri}].scope_spans[{si}].spans[{i}]"
                row = spans.append(
                    scope=scope,
                    trace_id=span.trace_id,
                    span_id=span.span_id,
                    trace_state=span.trace_state,
                    parent_span_id=span.parent_span_id or None,
                    flags=span.flags,
                    name=span.name,
                    kind=_int8(span.kind, f"{path}.kind"),
                    start_time_unix_nano=span.start_time_unix_nano,
                    end_time_unix_nano=span.end_time_unix_nano,
                    dropped_attributes_count=span.dropped_attributes_count,
                    dropped_events_count=span.dropped_events_count,
                    dropped_links_count=span.dropped_links_count,
                    status_code=_int8(span.status.code, f"{path}.status.code") if has_status else None,
                    status_message=span.status.message if has_status else None,
                )
                _add_attributes(span_attrs, row, span.attributes)
                for event in span.events:
                    e = events.append(
                        span=row,
                        time_unix_nano=event.time_unix_nano,
                        name=event.name,
                        dropped_attributes_count=event.dropped_attributes_count,
                    )
                    _add_attributes(event_attrs, e, event.attributes)
                for link in span.links:
                    k = links.append(
                        span=row,
                        trace_id=link.trace_id,
                        span_id=link.span_id,
                        trace_state=link.trace_state,
                        dropped_attributes_count=link.dropped_attributes_count,
                        flags=link.flags,
                    )
                    _add_attributes(link_attrs, k, link.attributes)
    tables = env.tables()
    tables.update(
        spans=spans.build(),
        span_attributes=span_attrs.build(),
        events=events.build(),
        event_attributes=event_attrs.build(),
        links=links.build(),
        link_attributes=link_attrs.build(),
    )
    return Decoded(SpanBatch(tables), rejected)


def decode_traces(data: Buffer) -> Decoded[SpanBatch]:
    """Serialized ``ExportTraceServiceRequest`` bytes as a ``SpanBatch``."""
    return traces_from_message(_parse(ExportTraceServiceRequest, data))


# ----------------------------------------------------------------------------------------
# metrics
# ----------------------------------------------------------------------------------------

_METRIC_TYPES: dict[str, MetricType] = {
    "gauge": MetricType.GAUGE,
    "sum": MetricType.SUM,
    "histogram": MetricType.HISTOGRAM,
    "exponential_histogram": MetricType.EXPONENTIAL_HISTOGRAM,
    "summary": MetricType.SUMMARY,
}
_METRIC_FIELDS: dict[int, str] = {int(v): k for k, v in _METRIC_TYPES.items()}


def _point_columns(which: str, p: Any) -> dict[str, Any]:
    """The point-table cells of one data point of a metric whose data field is ``which``."""
    cols: dict[str, Any] = {
        "start_time_unix_nano": p.start_time_unix_nano,
        "time_unix_nano": p.time_unix_nano,
        "flags": p.flags,
    }
    if which in ("gauge", "sum"):
        kind = _number_kind(p.WhichOneof("value"))
        cols["value_kind"] = int(kind)
        cols["value_double"] = p.as_double if kind == NumberKind.DOUBLE else None
        cols["value_int"] = p.as_int if kind == NumberKind.INT else None
        return cols
    cols["count"] = p.count
    if which == "summary":
        cols["sum"] = p.sum
        cols["quantile_values"] = [{"quantile": q.quantile, "value": q.value} for q in p.quantile_values]
        return cols
    cols["sum"] = p.sum if p.HasField("sum") else None
    cols["min"] = p.min if p.HasField("min") else None
    cols["max"] = p.max if p.HasField("max") else None
    if which == "histogram":
        cols["bucket_counts"] = list(p.bucket_counts)
        cols["explicit_bounds"] = list(p.explicit_bounds)
        return cols
    cols["scale"] = p.scale
    cols["zero_count"] = p.zero_count
    cols["zero_threshold"] = p.zero_threshold
    for side in ("positive", "negative"):
        if p.HasField(side):
            buckets = getattr(p, side)
            cols[f"{side}_offset"] = buckets.offset
            cols[f"{side}_bucket_counts"] = list(buckets.bucket_counts)
    return cols


def _exemplar_problem(ex: Any) -> tuple[str, str] | None:
    text = _id_problem(ex.trace_id, TRACE_ID_SIZE, "trace_id", optional=True)
    if text:
        return INVALID_TRACE_ID, text
    text = _id_problem(ex.span_id, SPAN_ID_SIZE, "span_id", optional=True)
    if text:
        return INVALID_SPAN_ID, text
    return None


def metrics_from_message(msg: MetricsMessage) -> Decoded[MetricBatch]:
    """A parsed ``ExportMetricsServiceRequest`` (or ``MetricsData``) as a ``MetricBatch``."""
    env = _Envelope()
    metrics = TableBuilder(S.METRICS)
    metadata = AttributeBuilder()
    points = TableBuilder(S.POINTS)
    point_attrs = AttributeBuilder()
    exemplars = TableBuilder(S.EXEMPLARS)
    exemplar_attrs = AttributeBuilder()
    rejected = Rejections()
    for ri, rm in enumerate(msg.resource_metrics):
        resource = env.resource(rm)
        for si, sm in enumerate(rm.scope_metrics):
            scope = env.scope(sm, resource)
            for mi, metric in enumerate(sm.metrics):
                which = metric.WhichOneof("data")
                data: Any = getattr(metric, which) if which is not None else None
                path = f"resource_metrics[{ri}].scope_metrics[{si}].metrics[{mi}]"
                temporality = None
                if which in ("sum", "histogram", "exponential_histogram"):
                    temporality = _int8(data.aggregation_temporality, f"{path}.{which}.aggregation_temporality")
                m = metrics.append(
                    scope=scope,
                    name=metric.name,
                    description=metric.description,
                    unit=metric.unit,
                    type=int(_METRIC_TYPES[which]) if which is not None else int(MetricType.EMPTY),
                    aggregation_temporality=temporality,
                    is_monotonic=data.is_monotonic if which == "sum" else None,
                )
                _add_attributes(metadata, m, metric.metadata)
                if which is None:
                    continue
                for pi, p in enumerate(data.data_points):
                    row = points.append(metric=m, **_point_columns(which, p))
                    _add_attributes(point_attrs, row, p.attributes)
                    if which == "summary":
                        continue
                    for ei, ex in enumerate(p.exemplars):
                        problem = _exemplar_problem(ex)
                        if problem is not None:
                            reason, text = problem
                            rejected.add(reason, f"{path}.{which}.data_points[{pi}].exemplars[{ei}]: {text}")
                            continue
                        kind = _number_kind(ex.WhichOneof("value"))
                        e = exemplars.append(
                            point=row,
                            time_unix_nano=ex.time_unix_nano,
                            value_kind=int(kind),
                            value_double=ex.as_double if kind == NumberKind.DOUBLE else None,
                            value_int=ex.as_int if kind == NumberKind.INT else None,
                            span_id=ex.span_id or None,
                            trace_id=ex.trace_id or None,
                        )
                        _add_attributes(exemplar_attrs, e, ex.filtered_attributes)
    tables = env.tables()
    tables.update(
        metrics=metrics.build(),
        metric_metadata=metadata.build(),
        points=points.build(),
        point_attributes=point_attrs.build(),
        exemplars=exemplars.build(),
        exemplar_attributes=exemplar_attrs.build(),
    )
    return Decoded(MetricBatch(tables), rejected)


def decode_metrics(data: Buffer) -> Decoded[MetricBatch]:
    """Serialized ``ExportMetricsServiceRequest`` bytes as a ``MetricBatch``."""
    return metrics_from_message(_parse(ExportMetricsServiceRequest, data))


# ----------------------------------------------------------------------------------------
# logs
# ----------------------------------------------------------------------------------------


def logs_from_message(msg: LogsMessage) -> Decoded[LogBatch]:
    """A parsed ``ExportLogsServiceRequest`` (or ``LogsData``) as a ``LogBatch``."""
    env = _Envelope()
    logs = TableBuilder(S.LOGS)
    log_attrs = AttributeBuilder()
    rejected = Rejections()
    for ri, rl in enumerate(msg.resource_logs):
        resource = env.resource(rl)
        for si, sl in enumerate(rl.scope_logs):
            scope = env.scope(sl, resource)
            for i, rec in enumerate(sl.log_records):
                path = f"resource_logs[{ri}].scope_logs[{si}].log_records[{i}]"
                text = _id_problem(rec.trace_id, TRACE_ID_SIZE, "trace_id", optional=True)
                if text:
                    rejected.add(INVALID_TRACE_ID, f"{path}: {text}")
                    continue
                text = _id_problem(rec.span_id, SPAN_ID_SIZE, "span_id", optional=True)
                if text:
                    rejected.add(INVALID_SPAN_ID, f"{path}: {text}")
                    continue
                body: dict[str, Any] = {}
                if rec.HasField("body"):
                    vtype, column, cell = _split_any(rec.body)
                    body["body_type"] = int(vtype)
                    if column:
                        body[f"body_{column}"] = cell
                row = logs.append(
                    scope=scope,
                    time_unix_nano=rec.time_unix_nano,
                    observed_time_unix_nano=rec.observed_time_unix_nano,
                    severity_number=_int8(rec.severity_number, f"{path}.severity_number"),
                    severity_text=rec.severity_text,
                    dropped_attributes_count=rec.dropped_attributes_count,
                    flags=rec.flags,
                    trace_id=rec.trace_id or None,
                    span_id=rec.span_id or None,
                    event_name=rec.event_name,
                    **body,
                )
                _add_attributes(log_attrs, row, rec.attributes)
    tables = env.tables()
    tables.update(logs=logs.build(), log_attributes=log_attrs.build())
    return Decoded(LogBatch(tables), rejected)


def decode_logs(data: Buffer) -> Decoded[LogBatch]:
    """Serialized ``ExportLogsServiceRequest`` bytes as a ``LogBatch``."""
    return logs_from_message(_parse(ExportLogsServiceRequest, data))


# ----------------------------------------------------------------------------------------
# encoding helpers
# ----------------------------------------------------------------------------------------


def _pylists(table: pa.Table) -> dict[str, list[Any]]:
    return {name: table.column(name).to_pylist() for name in table.column_names}


def _ranges(table: pa.Table, column: str, n_parent: int) -> tuple[list[int], list[int]]:
    """Per parent row, the ``[lo, hi)`` rows of a child table sorted by ``column``."""
    parent = np.asarray(table.column(column).to_numpy())
    rows = np.arange(n_parent)
    lo = np.searchsorted(parent, rows, side="left")
    hi = np.searchsorted(parent, rows, side="right")
    return lo.tolist(), hi.tolist()


class _Children:
    """A child table as Python lists with the row range of every parent row."""

    __slots__ = ("cols", "hi", "lo", "name")

    def __init__(self, batch: Batch, name: str, parent_column: str, n_parent: int) -> None:
        table = batch.table(name)
        self.name = name
        self.cols = _pylists(table)
        self.lo, self.hi = _ranges(table, parent_column, n_parent)

    def rows(self, parent: int) -> range:
        return range(self.lo[parent], self.hi[parent])


def _fill_any(target: AnyValue, vtype: int, cols: dict[str, list[Any]], i: int, *, prefix: str, where: str) -> None:
    """Set ``target`` (made present) from the sparse value cells of row ``i``."""
    target.SetInParent()
    if vtype == ValueType.EMPTY:
        return
    if vtype == ValueType.STRING:
        target.string_value = cols[prefix + "str"][i] or ""
    elif vtype == ValueType.BOOL:
        target.bool_value = bool(cols[prefix + "bool"][i])
    elif vtype == ValueType.INT:
        target.int_value = cols[prefix + "int"][i] or 0
    elif vtype == ValueType.DOUBLE:
        value = cols[prefix + "double"][i]
        target.double_value = 0.0 if value is None else value
    elif vtype == ValueType.BYTES:
        target.bytes_value = cols[prefix + "bytes"][i] or b""
    elif vtype in (ValueType.ARRAY, ValueType.KVLIST):
        nested: Any = target.array_value if vtype == ValueType.ARRAY else target.kvlist_value
        nested.SetInParent()
        try:
            nested.MergeFromString(cols[prefix + "bytes"][i] or b"")
        except pb_message.DecodeError as exc:
            raise DecodeError(f"{where}: the bytes of a {nested.DESCRIPTOR.name} do not parse: {exc}") from exc
    else:
        raise ValueError(f"{where}: unknown value type {vtype}")


def _write_attributes(attrs: _Children, parent: int, target: RepeatedCompositeFieldContainer[KeyValue]) -> None:
    c = attrs.cols
    for i in attrs.rows(parent):
        kv = target.add(key=c["key"][i])
        vtype = c["type"][i]
        if vtype is not None:
            _fill_any(kv.value, vtype, c, i, prefix="", where=f"{attrs.name} row {i}")


def _d(value: Any, default: Any) -> Any:
    return default if value is None else value


class _EnvelopeWriter:
    """Writes resources and scopes of a batch into ``Resource*`` / ``Scope*`` containers."""

    __slots__ = ("n_resources", "resource_attrs", "resources", "scope_attrs", "scopes", "scopes_of")

    def __init__(self, batch: Batch) -> None:
        self.n_resources = batch.resources.num_rows
        n_scopes = batch.scopes.num_rows
        self.resources = _pylists(batch.resources)
        self.resource_attrs = _Children(batch, "resource_attributes", "row", self.n_resources)
        self.scopes_of = _Children(batch, "scopes", "resource", self.n_resources)
        self.scopes = self.scopes_of.cols
        self.scope_attrs = _Children(batch, "scope_attributes", "row", n_scopes)

    def resource(self, r: int, container: Any) -> None:
        c = self.resources
        container.schema_url = _d(c["schema_url"][r], "")
        res = container.resource
        res.SetInParent()
        res.dropped_attributes_count = _d(c["dropped_attributes_count"][r], 0)
        for ref in c["entity_refs"][r] or ():
            res.entity_refs.add(
                schema_url=_d(ref["schema_url"], ""),
                type=_d(ref["type"], ""),
                id_keys=_d(ref["id_keys"], ()),
                description_keys=_d(ref["description_keys"], ()),
            )
        _write_attributes(self.resource_attrs, r, res.attributes)

    def scope(self, s: int, container: Any) -> None:
        c = self.scopes
        container.schema_url = _d(c["schema_url"][s], "")
        scope = container.scope
        scope.SetInParent()
        scope.name = _d(c["name"][s], "")
        scope.version = _d(c["version"][s], "")
        scope.dropped_attributes_count = _d(c["dropped_attributes_count"][s], 0)
        _write_attributes(self.scope_attrs, s, scope.attributes)


# ----------------------------------------------------------------------------------------
# encoding
# ----------------------------------------------------------------------------------------


def traces_to_message(batch: SpanBatch) -> ExportTraceServiceRequest:
    """A ``SpanBatch`` as an ``ExportTraceServiceRequest`` (one ResourceSpans per resource row)."""
    req = ExportTraceServiceRequest()
    env = _EnvelopeWriter(batch)
    n_spans = batch.spans.num_rows
    spans = _Children(batch, "spans", "scope", batch.scopes.num_rows)
    span_attrs = _Children(batch, "span_attributes", "row", n_spans)
    events = _Children(batch, "events", "span", n_spans)
    event_attrs = _Children(batch, "event_attributes", "row", batch.table("events").num_rows)
    links = _Children(batch, "links", "span", n_spans)
    link_attrs = _Children(batch, "link_attributes", "row", batch.table("links").num_rows)
    c, ce, cl = spans.cols, events.cols, links.cols
    for r in range(env.n_resources):
        rs = req.resource_spans.add()
        env.resource(r, rs)
        for s in env.scopes_of.rows(r):
            ss = rs.scope_spans.add()
            env.scope(s, ss)
            for i in spans.rows(s):
                span = ss.spans.add(
                    trace_id=c["trace_id"][i],
                    span_id=c["span_id"][i],
                    trace_state=_d(c["trace_state"][i], ""),
                    parent_span_id=_d(c["parent_span_id"][i], b""),
                    flags=_d(c["flags"][i], 0),
                    name=_d(c["name"][i], ""),
                    kind=_d(c["kind"][i], 0),
                    start_time_unix_nano=_d(c["start_time_unix_nano"][i], 0),
                    end_time_unix_nano=_d(c["end_time_unix_nano"][i], 0),
                    dropped_attributes_count=_d(c["dropped_attributes_count"][i], 0),
                    dropped_events_count=_d(c["dropped_events_count"][i], 0),
                    dropped_links_count=_d(c["dropped_links_count"][i], 0),
                )
                code, message = c["status_code"][i], c["status_message"][i]
                if code is not None or message is not None:
                    span.status.SetInParent()
                    span.status.code = _d(code, 0)
                    span.status.message = _d(message, "")
                _write_attributes(span_attrs, i, span.attributes)
                for e in events.rows(i):
                    event = span.events.add(
                        time_unix_nano=_d(ce["time_unix_nano"][e], 0),
                        name=_d(ce["name"][e], ""),
                        dropped_attributes_count=_d(ce["dropped_attributes_count"][e], 0),
                    )
                    _write_attributes(event_attrs, e, event.attributes)
                for k in links.rows(i):
                    link = span.links.add(
                        trace_id=cl["trace_id"][k],
                        span_id=cl["span_id"][k],
                        trace_state=_d(cl["trace_state"][k], ""),
                        dropped_attributes_count=_d(cl["dropped_attributes_count"][k], 0),
                        flags=_d(cl["flags"][k], 0),
                    )
                    _write_attributes(link_attrs, k, link.attributes)
    return req


def _write_point(which: str, c: dict[str, list[Any]], i: int, p: Any) -> None:
    p.start_time_unix_nano = _d(c["start_time_unix_nano"][i], 0)
    p.time_unix_nano = _d(c["time_unix_nano"][i], 0)
    p.flags = _d(c["flags"][i], 0)
    if which in ("gauge", "sum"):
        kind = c["value_kind"][i]
        if kind == NumberKind.DOUBLE:
            p.as_double = _d(c["value_double"][i], 0.0)
        elif kind == NumberKind.INT:
            p.as_int = _d(c["value_int"][i], 0)
        return
    p.count = _d(c["count"][i], 0)
    if which == "summary":
        p.sum = _d(c["sum"][i], 0.0)
        for q in c["quantile_values"][i] or ():
            p.quantile_values.add(quantile=_d(q["quantile"], 0.0), value=_d(q["value"], 0.0))
        return
    for name in ("sum", "min", "max"):
        if c[name][i] is not None:
            setattr(p, name, c[name][i])
    if which == "histogram":
        p.bucket_counts.extend(c["bucket_counts"][i] or ())
        p.explicit_bounds.extend(c["explicit_bounds"][i] or ())
        return
    p.scale = _d(c["scale"][i], 0)
    p.zero_count = _d(c["zero_count"][i], 0)
    p.zero_threshold = _d(c["zero_threshold"][i], 0.0)
    for side in ("positive", "negative"):
        offset = c[f"{side}_offset"][i]
        if offset is not None:
            buckets = getattr(p, side)
            buckets.SetInParent()
            buckets.offset = offset
            buckets.bucket_counts.extend(c[f"{side}_bucket_counts"][i] or ())


def metrics_to_message(batch: MetricBatch) -> ExportMetricsServiceRequest:
    """A ``MetricBatch`` as an ``ExportMetricsServiceRequest``."""
    req = ExportMetricsServiceRequest()
    env = _EnvelopeWriter(batch)
    n_metrics = batch.metrics.num_rows
    n_points = batch.points.num_rows
    n_exemplars = batch.table("exemplars").num_rows
    metrics = _Children(batch, "metrics", "scope", batch.scopes.num_rows)
    metadata = _Children(batch, "metric_metadata", "row", n_metrics)
    points = _Children(batch, "points", "metric", n_metrics)
    point_attrs = _Children(batch, "point_attributes", "row", n_points)
    exemplars = _Children(batch, "exemplars", "point", n_points)
    exemplar_attrs = _Children(batch, "exemplar_attributes", "row", n_exemplars)
    c, cp, cx = metrics.cols, points.cols, exemplars.cols
    for r in range(env.n_resources):
        rm = req.resource_metrics.add()
        env.resource(r, rm)
        for s in env.scopes_of.rows(r):
            sm = rm.scope_metrics.add()
            env.scope(s, sm)
            for m in metrics.rows(s):
                metric = sm.metrics.add(
                    name=_d(c["name"][m], ""), description=_d(c["description"][m], ""), unit=_d(c["unit"][m], "")
                )
                _write_attributes(metadata, m, metric.metadata)
                mtype = _d(c["type"][m], 0)
                if mtype == MetricType.EMPTY:
                    continue
                which = _METRIC_FIELDS.get(mtype)
                if which is None:
                    raise ValueError(f"metrics row {m}: unknown metric type {mtype}")
                data: Any = getattr(metric, which)
                data.SetInParent()
                if which in ("sum", "histogram", "exponential_histogram"):
                    data.aggregation_temporality = _d(c["aggregation_temporality"][m], 0)
                if which == "sum":
                    data.is_monotonic = bool(c["is_monotonic"][m])
                for i in points.rows(m):
                    p = data.data_points.add()
                    _write_point(which, cp, i, p)
                    _write_attributes(point_attrs, i, p.attributes)
                    if which == "summary":
                        continue
                    for x in exemplars.rows(i):
                        ex = p.exemplars.add(
                            time_unix_nano=_d(cx["time_unix_nano"][x], 0),
                            span_id=_d(cx["span_id"][x], b""),
                            trace_id=_d(cx["trace_id"][x], b""),
                        )
                        kind = cx["value_kind"][x]
                        if kind == NumberKind.DOUBLE:
                            ex.as_double = _d(cx["value_double"][x], 0.0)
                        elif kind == NumberKind.INT:
                            ex.as_int = _d(cx["value_int"][x], 0)
                        _write_attributes(exemplar_attrs, x, ex.filtered_attributes)
    return req


def logs_to_message(batch: LogBatch) -> ExportLogsServiceRequest:
    """A ``LogBatch`` as an ``ExportLogsServiceRequest``."""
    req = ExportLogsServiceRequest()
    env = _EnvelopeWriter(batch)
    logs = _Children(batch, "logs", "scope", batch.scopes.num_rows)
    log_attrs = _Children(batch, "log_attributes", "row", batch.logs.num_rows)
    c = logs.cols
    for r in range(env.n_resources):
        rl = req.resource_logs.add()
        env.resource(r, rl)
        for s in env.scopes_of.rows(r):
            sl = rl.scope_logs.add()
            env.scope(s, sl)
            for i in logs.rows(s):
                rec = sl.log_records.add(
                    time_unix_nano=_d(c["time_unix_nano"][i], 0),
                    observed_time_unix_nano=_d(c["observed_time_unix_nano"][i], 0),
                    severity_number=_d(c["severity_number"][i], 0),
                    severity_text=_d(c["severity_text"][i], ""),
                    dropped_attributes_count=_d(c["dropped_attributes_count"][i], 0),
                    flags=_d(c["flags"][i], 0),
                    trace_id=_d(c["trace_id"][i], b""),
                    span_id=_d(c["span_id"][i], b""),
                    event_name=_d(c["event_name"][i], ""),
                )
                body_type = c["body_type"][i]
                if body_type is not None:
                    _fill_any(rec.body, body_type, c, i, prefix="body_", where=f"logs row {i} body")
                _write_attributes(log_attrs, i, rec.attributes)
    return req


def encode_traces(batch: SpanBatch) -> bytes:
    """A ``SpanBatch`` as serialized ``ExportTraceServiceRequest`` bytes."""
    return traces_to_message(batch).SerializeToString()


def encode_metrics(batch: MetricBatch) -> bytes:
    """A ``MetricBatch`` as serialized ``ExportMetricsServiceRequest`` bytes."""
    return metrics_to_message(batch).SerializeToString()


def encode_logs(batch: LogBatch) -> bytes:
    """A ``LogBatch`` as serialized ``ExportLogsServiceRequest`` bytes."""
    return logs_to_message(batch).SerializeToString()


# ----------------------------------------------------------------------------------------
# dispatch by signal
# ----------------------------------------------------------------------------------------


def _check_signal(signal: str) -> None:
    if signal not in REQUEST_TYPES:
        raise ValueError(f"unknown signal {signal!r}; expected 'traces', 'metrics' or 'logs'")


@overload
def from_message(signal: Literal["traces"], msg: TracesMessage) -> Decoded[SpanBatch]: ...
@overload
def from_message(signal: Literal["metrics"], msg: MetricsMessage) -> Decoded[MetricBatch]: ...
@overload
def from_message(signal: Literal["logs"], msg: LogsMessage) -> Decoded[LogBatch]: ...
@overload
def from_message(signal: Signal, msg: AnyRequest | TracesData | MetricsData | LogsData) -> Decoded[Any]: ...
def from_message(signal: Signal, msg: Any) -> Decoded[Any]:
    """A parsed request message of ``signal`` as a batch."""
    _check_signal(signal)
    if signal == "traces":
        return traces_from_message(msg)
    if signal == "metrics":
        return metrics_from_message(msg)
    return logs_from_message(msg)


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
    _check_signal(signal)
    return from_message(signal, _parse(REQUEST_TYPES[signal], data))


@overload
def to_message(batch: SpanBatch) -> ExportTraceServiceRequest: ...
@overload
def to_message(batch: MetricBatch) -> ExportMetricsServiceRequest: ...
@overload
def to_message(batch: LogBatch) -> ExportLogsServiceRequest: ...
@overload
def to_message(batch: Batch) -> AnyRequest: ...
def to_message(batch: Batch) -> AnyRequest:
    """The ``Export*ServiceRequest`` of a batch of any signal."""
    if isinstance(batch, SpanBatch):
        return traces_to_message(batch)
    if isinstance(batch, MetricBatch):
        return metrics_to_message(batch)
    if isinstance(batch, LogBatch):
        return logs_to_message(batch)
    raise TypeError(f"cannot encode {type(batch).__name__}; expected SpanBatch, MetricBatch or LogBatch")


def encode(batch: Batch) -> bytes:
    """Serialized ``Export*ServiceRequest`` bytes of a batch of any signal."""
    return to_message(batch).SerializeToString()
