"""Reading live-check input files into batches; what does not decode is counted, never raised.

Formats:

- ``otlp-json``: OTLP/JSON lines as the ``file`` exporter writes them (one
  ``Export*ServiceRequest`` per line, plain/gzip/zstd); each line is decoded on its own, so one
  bad line costs that line only.
- ``otlp-proto``: binary ``Export*ServiceRequest`` messages, either one message for the whole
  file or several, each prefixed by its length as a protobuf varint (``writeDelimitedTo``
  framing); the framing is detected (a file whose varint prefixes exactly tile it is framed).
  The signal is ``signal`` or, for ``auto``, the first of traces, metrics, logs that decodes to
  at least one item.
- ``weaver-json``: Weaver's sample JSON (a JSON array of ``{"resource"|"span"|"metric"|"log"|
  "attribute": {...}}``). Resources become resources of their own (as in Weaver, a sample file does
  not link them to the signals after them); a standalone attribute is checked as an attribute
  without a signal (it is carried as a scope attribute and counted as an ``attribute`` only).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from knhk_telemetry.errors import DecodeError, KnhkTelemetryError, ValidationError
from knhk_telemetry.exporters.file import read_otlp_json_lines
from knhk_telemetry.model import schema as S
from knhk_telemetry.model.batch import Batch, LogBatch, SpanBatch
from knhk_telemetry.model.edge import (
    HistogramDataPoint,
    InstrumentationScope,
    LogEntry,
    Metric,
    NumberDataPoint,
    Resource,
    Span,
    SpanEvent,
    SpanLink,
    SpanStatus,
    logs_to_batch,
    metrics_to_batch,
    spans_to_batch,
)
from knhk_telemetry.model.schema import MetricType, SpanKind, StatusCode
from knhk_telemetry.model.values import AttributeBuilder
from knhk_telemetry.otlp import proto
from knhk_telemetry.otlp.json import decode_json

__all__ = ["INPUT_FORMATS", "InputFormat", "Item", "read_input"]

InputFormat = Literal["otlp-json", "otlp-proto", "weaver-json"]
INPUT_FORMATS: tuple[InputFormat, ...] = ("otlp-json", "otlp-proto", "weaver-json")
ProtoSignal = Literal["auto", "traces", "metrics", "logs"]


@dataclass(slots=True)
class Item:
    """A batch to check, or a count of input that did not decode (with why)."""

    batch: Batch | None = None
    undecodable: int = 0
    message: str = ""
    #: the batch only carries standalone attributes (Weaver ``attribute`` samples) in its scope
    standalone: bool = False


def read_input(path: str | Path, fmt: InputFormat, *, signal: ProtoSignal = "auto") -> Iterator[Item]:
    """Batches (and undecodable counts) of one input file; ``OSError`` if it cannot be read."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(os.strerror(2) + f": {p}")
    if fmt == "otlp-json":
        yield from _otlp_json(p)
    elif fmt == "otlp-proto":
        yield from _otlp_proto(p, signal)
    elif fmt == "weaver-json":
        yield from _weaver_json(p)
    else:
        raise ValueError(f"unknown input format {fmt!r}")


# -- OTLP/JSON lines -------------------------------------------------------------------------


def _otlp_json(path: Path) -> Iterator[Item]:
    unknown: list[int] = []
    try:
        for lineno, (sig, line) in enumerate(read_otlp_json_lines(path, on_unknown=lambda n, _l: unknown.append(n)), 1):
            while unknown:
                yield Item(undecodable=1, message=f"{path}:{unknown.pop(0)}: not an OTLP/JSON request")
            try:
                decoded = decode_json(sig, line)
            except DecodeError as exc:
                yield Item(undecodable=1, message=f"{path}: request {lineno}: {exc}")
                continue
            yield Item(decoded.batch, undecodable=decoded.rejected.total, message=_rejected(path, decoded.rejected))
    except DecodeError as exc:
        yield Item(undecodable=1, message=str(exc))
    while unknown:
        yield Item(undecodable=1, message=f"{path}:{unknown.pop(0)}: not an OTLP/JSON request")


def _rejected(path: Path, rejected: Any) -> str:
    return f"{path}: {rejected.total} item(s) refused while decoding" if rejected.total else ""


# -- OTLP protobuf -----------------------------------------------------------------------------


def _varint(data: bytes, pos: int) -> tuple[int, int] | None:
    shift = value = 0
    while pos < len(data) and shift < 64:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
    return None


def _delimited(data: bytes) -> list[bytes] | None:
    """The messages of a length-delimited file, or None when the prefixes do not tile it."""
    out: list[bytes] = []
    pos = 0
    while pos < len(data):
        got = _varint(data, pos)
        if got is None:
            return None
        length, start = got
        if length == 0 or start + length > len(data):
            return None
        out.append(data[start : start + length])
        pos = start + length
    return out if len(out) > 1 or (out and len(out[0]) + 1 < len(data)) else None


def _decode_proto(data: bytes, signal: ProtoSignal) -> Batch:
    signals = ("traces", "metrics", "logs") if signal == "auto" else (signal,)
    last: Exception | None = None
    for sig in signals:
        try:
            decoded = proto.decode(sig, data)  # type: ignore[call-overload]
        except DecodeError as exc:
            last = exc
            continue
        batch: Batch = decoded.batch
        if len(batch) or signal != "auto":
            return batch
    raise DecodeError(str(last) if last else "no traces, metrics or logs in the message")


def _otlp_proto(path: Path, signal: ProtoSignal) -> Iterator[Item]:
    data = path.read_bytes()
    messages = _delimited(data) or [data]
    for i, msg in enumerate(messages, 1):
        try:
            yield Item(_decode_proto(msg, signal))
        except DecodeError as exc:
            yield Item(undecodable=1, message=f"{path}: message {i}: {exc}")


# -- Weaver samples ---------------------------------------------------------------------------

_KINDS = {
    "client": SpanKind.CLIENT,
    "server": SpanKind.SERVER,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
    "internal": SpanKind.INTERNAL,
}
_STATUS = {"unset": StatusCode.UNSET, "ok": StatusCode.OK, "error": StatusCode.ERROR}
_IDS = iter(range(1, 1 << 62))


def _attrs(raw: Any, where: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise ValueError(f"{where}.attributes must be a list")
    out: dict[str, Any] = {}
    for i, a in enumerate(raw):
        if not isinstance(a, Mapping) or not isinstance(a.get("name"), str):
            raise ValueError(f"{where}.attributes[{i}] needs a string 'name'")
        out[a["name"]] = a.get("value")
    return out


def _ids() -> tuple[bytes, bytes]:
    i = next(_IDS)
    return i.to_bytes(16, "big"), i.to_bytes(8, "big")


def _span(s: Mapping[str, Any], where: str) -> SpanBatch:
    trace, span_id = _ids()
    status = s.get("status") or {}
    events = [
        SpanEvent(str(e.get("name", "")), attributes=_attrs(e.get("attributes"), f"{where}.span_events[{i}]"))
        for i, e in enumerate(s.get("span_events") or [])
    ]
    links = []
    for i, link in enumerate(s.get("span_links") or []):
        lt, ls = _ids()
        links.append(SpanLink(lt, ls, attributes=_attrs(link.get("attributes"), f"{where}.span_links[{i}]")))
    span = Span(
        trace,
        span_id,
        str(s["name"]),
        1,
        2,
        kind=_KINDS.get(str(s.get("kind", "internal")), SpanKind.INTERNAL),
        attributes=_attrs(s.get("attributes"), where),
        events=events,
        links=links,
        status=SpanStatus(
            _STATUS.get(str(status.get("code", "unset")), StatusCode.UNSET), str(status.get("message") or "")
        ),
    )
    return spans_to_batch([span])


def _metric(m: Mapping[str, Any], where: str) -> Batch:
    instrument = str(m.get("instrument", ""))
    raw_points = m.get("data_points") or []
    if instrument == "histogram":
        hpoints: list[Any] = [
            HistogramDataPoint(
                attributes=_attrs(p.get("attributes"), f"{where}.data_points[{i}]"),
                count=int(p.get("count") or 0),
                sum=p.get("sum"),
            )
            for i, p in enumerate(raw_points)
        ]
        metric = Metric(str(m["name"]), MetricType.HISTOGRAM, hpoints, unit=str(m.get("unit", "")))
    else:
        points: list[Any] = [
            NumberDataPoint(attributes=_attrs(p.get("attributes"), f"{where}.data_points[{i}]"), value=p.get("value"))
            for i, p in enumerate(raw_points)
        ]
        types = {
            "counter": (MetricType.SUM, True),
            "updowncounter": (MetricType.SUM, False),
            "gauge": (MetricType.GAUGE, False),
        }
        mtype, mono = types.get(
            instrument, (MetricType.SUMMARY if instrument == "Summary" else MetricType.EMPTY, False)
        )
        if mtype in (MetricType.SUMMARY, MetricType.EMPTY):
            points = []
        metric = Metric(str(m["name"]), mtype, points, unit=str(m.get("unit", "")), is_monotonic=mono)
    return metrics_to_batch([metric])


def _log(r: Mapping[str, Any], where: str) -> LogBatch:
    entry = LogEntry(
        severity_number=int(r.get("severity_number") or 0),
        severity_text=str(r.get("severity_text") or ""),
        body=r.get("body"),
        attributes=_attrs(r.get("attributes"), where),
        event_name=str(r.get("event_name") or ""),
    )
    return logs_to_batch([entry])


def _weaver_json(path: Path) -> Iterator[Item]:
    try:
        samples = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        yield Item(undecodable=1, message=f"{path}: not JSON: {exc}")
        return
    if not isinstance(samples, list):
        yield Item(undecodable=1, message=f"{path}: a Weaver sample file is a JSON array")
        return
    for i, sample in enumerate(samples):
        where = f"{path}: sample {i}"
        try:
            if not isinstance(sample, Mapping) or len(sample) != 1:
                raise ValueError("a sample is an object with one key (resource, span, metric, log, attribute)")
            ((kind, body),) = sample.items()
            if not isinstance(body, Mapping):
                raise ValueError(f"{kind} must be an object")
            if kind == "span":
                yield Item(_span(body, where))
            elif kind == "metric":
                yield Item(_metric(body, where))
            elif kind == "log":
                yield Item(_log(body, where))
            elif kind == "resource":
                yield Item(_resource_batch(body, where))
            elif kind == "attribute":
                yield Item(_attribute_batch(body), standalone=True)
            else:
                raise ValueError(f"unknown sample kind {kind!r}")
        except (ValueError, TypeError, KeyError, KnhkTelemetryError, ValidationError) as exc:
            yield Item(undecodable=1, message=f"{where}: {exc}")


def _resource_batch(body: Mapping[str, Any], where: str) -> LogBatch:
    """A batch holding only one resource (no records): the resource and its attributes are checked."""
    return _origin_only(Resource(attributes=_attrs(body.get("attributes"), where)), InstrumentationScope())


def _attribute_batch(body: Mapping[str, Any]) -> LogBatch:
    name = body.get("name")
    if not isinstance(name, str):
        raise ValueError("attribute needs a string 'name'")
    return _origin_only(Resource(), InstrumentationScope(attributes={name: body.get("value")}), with_resource=False)


def _origin_only(resource: Resource, scope: InstrumentationScope, *, with_resource: bool = True) -> LogBatch:
    ra = AttributeBuilder()
    ra.add_all(0, resource.attributes)
    sa = AttributeBuilder()
    sa.add_all(0, scope.attributes)
    tables: dict[str, pa.Table] = {
        "resources": pa.table({"schema_url": [""], "dropped_attributes_count": pa.array([0], pa.uint32())}).cast(
            pa.schema([S.RESOURCES.field("schema_url"), S.RESOURCES.field("dropped_attributes_count")])
        ),
        "resource_attributes": ra.build(),
    }
    if not with_resource:
        tables = {"resources": tables["resources"]}
    tables["scopes"] = pa.table({"resource": pa.array([0], pa.int32())})
    tables["scope_attributes"] = sa.build()
    return LogBatch(tables)
