"""OTLP/JSON <-> batches, as the OTLP specification defines the JSON Protobuf Encoding.

OTLP/JSON is the proto3 JSON mapping with deviations: trace and span ids are hex strings
(not base64), enums are integers, keys are lowerCamelCase. We convert through protobuf's
``json_format`` and rewrite the id fields between hex (OTLP/JSON) and base64 (what
``json_format`` speaks), then reuse the protobuf reference codec, so both encodings map to
batches identically.

Input is read leniently, as receivers should be: unknown keys are ignored, snake_case field
names and enum names are accepted (``json_format`` knows both), 64-bit integers may be
decimal strings or numbers, hex ids in either case. Output is strict: lowerCamelCase keys,
integer enums, 64-bit integers as decimal strings, lowercase hex ids, bytes values as base64,
fields at their default value omitted, one compact document without a trailing newline.

Ids of a wrong (even) length are not a decode error: they reach the protobuf codec, which
refuses the span, log record or exemplar and counts it. An id that is not hex at all is a
``DecodeError`` naming its JSON path.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, overload

from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from opentelemetry.proto.logs.v1.logs_pb2 import LogsData
from opentelemetry.proto.metrics.v1.metrics_pb2 import MetricsData
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from knhk_telemetry.errors import DecodeError
from knhk_telemetry.model.batch import Batch, LogBatch, MetricBatch, SpanBatch
from knhk_telemetry.model.rejections import Decoded
from knhk_telemetry.otlp import proto
from knhk_telemetry.otlp.proto import Signal

# ----------------------------------------------------------------------------------------
# where the ids are: a small map of the OTLP tree, by lowerCamelCase JSON name
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Node:
    """A message type in the JSON tree: its id fields and the message fields leading to more."""

    ids: tuple[str, ...] = ()
    repeated: tuple[tuple[str, _Node], ...] = ()
    singular: tuple[tuple[str, _Node], ...] = ()


_IDS = ("traceId", "spanId")
_EXEMPLAR_POINT = _Node(repeated=(("exemplars", _Node(ids=_IDS)),))
_POINTS = _Node(repeated=(("dataPoints", _EXEMPLAR_POINT),))


def _under(names: tuple[str, str, str], leaf: _Node) -> _Node:
    """``leaf`` reached through the repeated fields ``names`` (resource, scope, item)."""
    node = leaf
    for name in reversed(names):
        node = _Node(repeated=((name, node),))
    return node


_METRIC_DATA = ("gauge", "sum", "histogram", "exponentialHistogram")  # summary points have no exemplars
_TREES: dict[str, _Node] = {
    "traces": _under(
        ("resourceSpans", "scopeSpans", "spans"),
        _Node(ids=(*_IDS, "parentSpanId"), repeated=(("links", _Node(ids=_IDS)),)),
    ),
    "metrics": _under(
        ("resourceMetrics", "scopeMetrics", "metrics"),
        _Node(singular=tuple((name, _POINTS) for name in _METRIC_DATA)),
    ),
    "logs": _under(("resourceLogs", "scopeLogs", "logRecords"), _Node(ids=_IDS)),
}

_CAMEL_HUMP = re.compile(r"([A-Z])")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")


def _snake(name: str) -> str:
    return _CAMEL_HUMP.sub(lambda m: "_" + m.group(1).lower(), name)


def _keys(obj: dict[str, Any], camel: str) -> list[str]:
    """The spellings of a field present in ``obj`` (lowerCamelCase and, on input, snake_case)."""
    snake = _snake(camel)
    return [k for k in (camel, snake) if k in obj] if snake != camel else ([camel] if camel in obj else [])


def _walk(obj: Any, node: _Node, path: str, convert: Callable[[Any, str], Any]) -> None:
    """Apply ``convert`` in place to every id field under ``obj``; leave wrong shapes to json_format."""
    if not isinstance(obj, dict):
        return
    for name in node.ids:
        for key in _keys(obj, name):
            obj[key] = convert(obj[key], f"{path}{key}")
    for name, child in node.repeated:
        for key in _keys(obj, name):
            items = obj[key]
            if isinstance(items, list):
                for i, item in enumerate(items):
                    _walk(item, child, f"{path}{key}[{i}].", convert)
    for name, child in node.singular:
        for key in _keys(obj, name):
            _walk(obj[key], child, f"{path}{key}.", convert)


def _hex_to_base64(value: Any, path: str) -> Any:
    if value is None:  # JSON null: the field's default, as json_format reads it
        return value
    if not isinstance(value, str):
        raise DecodeError(f"OTLP/JSON: {path}: expected a hex string, got {_json_kind(value)}")
    if not _HEX.fullmatch(value):
        raise DecodeError(f"OTLP/JSON: {path}: not hex (an even number of 0-9a-f digits): {value[:40]!r}")
    return base64.b64encode(bytes.fromhex(value)).decode("ascii")


def _base64_to_hex(value: Any, path: str) -> Any:
    """Inverse of :func:`_hex_to_base64` on what ``json_format`` wrote (``path`` unused)."""
    return base64.b64decode(value).hex()


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


# ----------------------------------------------------------------------------------------
# locating json_format's complaints (its messages carry field names but no indices)
# ----------------------------------------------------------------------------------------

_PREFIX = re.compile(r"^(?:Failed to parse \w+ field: )+")
#: what json_format raises on a document of the wrong shape (not only its ParseError)
_PARSE_ERRORS = (json_format.ParseError, TypeError, ValueError, AttributeError)


def _short(exc: Exception) -> str:
    text = _PREFIX.sub("", str(exc)).strip()
    return text.rstrip(".").strip() or type(exc).__name__


def _parse_into(value: Any, descriptor: Descriptor) -> None:
    json_format.ParseDict(value, message_factory.GetMessageClass(descriptor)(), ignore_unknown_fields=True)


def _field(descriptor: Descriptor, key: str) -> FieldDescriptor | None:
    return descriptor.fields_by_camelcase_name.get(key) or descriptor.fields_by_name.get(key)


def _locate(value: Any, descriptor: Descriptor, path: str) -> str | None:
    """``"<json path>: <problem>"`` for the first field of ``value`` that does not parse."""
    if not isinstance(value, dict):
        return f"{path or '$'}: expected a JSON object, got {_json_kind(value)}"
    for key, item in value.items():
        field = _field(descriptor, key)
        if field is None:
            continue
        here = f"{path}.{key}" if path else key
        if field.message_type is not None:  # OTLP has no map fields
            repeated = field.is_repeated
            if repeated and not isinstance(item, list):
                return f"{here}: expected a JSON array, got {_json_kind(item)}"
            for i, sub in enumerate(item if repeated else [item]):
                if sub is None and not repeated:
                    continue
                where = f"{here}[{i}]" if repeated else here
                try:
                    _parse_into(sub, field.message_type)
                except _PARSE_ERRORS as exc:
                    return _locate(sub, field.message_type, where) or f"{where}: {_short(exc)}"
            continue
        try:
            json_format.ParseDict(
                {key: item}, message_factory.GetMessageClass(descriptor)(), ignore_unknown_fields=True
            )
        except _PARSE_ERRORS as exc:
            return f"{here}: {_short(exc)}"
    return None


# ----------------------------------------------------------------------------------------
# public API
# ----------------------------------------------------------------------------------------


def _load(data: bytes | bytearray | memoryview | str) -> Any:
    try:
        return json.loads(data if isinstance(data, str) else bytes(data))
    except UnicodeDecodeError as exc:
        raise DecodeError(f"OTLP/JSON is not UTF-8: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise DecodeError(f"invalid JSON: {exc}") from exc
    except RecursionError as exc:
        raise DecodeError("invalid JSON: nested too deeply") from exc


def message_from_json(signal: Signal, data: bytes | bytearray | memoryview | str) -> proto.AnyRequest:
    """The ``Export*ServiceRequest`` of ``signal`` that an OTLP/JSON document holds."""
    if signal not in _TREES:
        raise ValueError(f"unknown signal {signal!r}; expected 'traces', 'metrics' or 'logs'")
    doc = _load(data)
    if not isinstance(doc, dict):
        raise DecodeError(f"OTLP/JSON: expected a JSON object at the top level, got {_json_kind(doc)}")
    _walk(doc, _TREES[signal], "", _hex_to_base64)
    cls = proto.REQUEST_TYPES[signal]
    msg = cls()
    try:
        json_format.ParseDict(doc, msg, ignore_unknown_fields=True)
    except _PARSE_ERRORS as exc:
        where = _locate(doc, cls.DESCRIPTOR, "")
        raise DecodeError(f"OTLP/JSON: {where or _short(exc)}") from exc
    except RecursionError as exc:
        raise DecodeError("OTLP/JSON: nested too deeply") from exc
    return msg


_TOP_FIELDS = {"resource_spans": "traces", "resource_metrics": "metrics", "resource_logs": "logs"}


def message_to_json(msg: proto.AnyRequest | TracesData | MetricsData | LogsData) -> bytes:
    """An ``Export*ServiceRequest`` (or ``*Data``) as one compact OTLP/JSON document (UTF-8, no newline)."""
    top = [_TOP_FIELDS[f.name] for f in msg.DESCRIPTOR.fields if f.name in _TOP_FIELDS]
    if len(top) != 1:
        raise TypeError(f"{msg.DESCRIPTOR.full_name} is not an OTLP traces, metrics or logs request")
    signal = top[0]
    doc = json_format.MessageToDict(msg, use_integers_for_enums=True, preserving_proto_field_name=False)
    _walk(doc, _TREES[signal], "", _base64_to_hex)
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


@overload
def decode_json(signal: Literal["traces"], data: bytes | bytearray | memoryview | str) -> Decoded[SpanBatch]: ...
@overload
def decode_json(signal: Literal["metrics"], data: bytes | bytearray | memoryview | str) -> Decoded[MetricBatch]: ...
@overload
def decode_json(signal: Literal["logs"], data: bytes | bytearray | memoryview | str) -> Decoded[LogBatch]: ...
@overload
def decode_json(signal: Signal, data: bytes | bytearray | memoryview | str) -> Decoded[Any]: ...
def decode_json(signal: Signal, data: bytes | bytearray | memoryview | str) -> Decoded[Any]:
    """An OTLP/JSON document of ``signal`` as a batch (bad ids counted in ``rejected``)."""
    return proto.from_message(signal, message_from_json(signal, data))


def decode_traces_json(data: bytes | bytearray | memoryview | str) -> Decoded[SpanBatch]:
    """An OTLP/JSON ``ExportTraceServiceRequest`` as a ``SpanBatch``."""
    return decode_json("traces", data)


def decode_metrics_json(data: bytes | bytearray | memoryview | str) -> Decoded[MetricBatch]:
    """An OTLP/JSON ``ExportMetricsServiceRequest`` as a ``MetricBatch``."""
    return decode_json("metrics", data)


def decode_logs_json(data: bytes | bytearray | memoryview | str) -> Decoded[LogBatch]:
    """An OTLP/JSON ``ExportLogsServiceRequest`` as a ``LogBatch``."""
    return decode_json("logs", data)


def encode_json(batch: Batch) -> bytes:
    """A batch of any signal as one compact OTLP/JSON document."""
    return message_to_json(proto.to_message(batch))


def encode_traces_json(batch: SpanBatch) -> bytes:
    """A ``SpanBatch`` as an OTLP/JSON ``ExportTraceServiceRequest``."""
    return message_to_json(proto.traces_to_message(batch))


def encode_metrics_json(batch: MetricBatch) -> bytes:
    """A ``MetricBatch`` as an OTLP/JSON ``ExportMetricsServiceRequest``."""
    return message_to_json(proto.metrics_to_message(batch))


def encode_logs_json(batch: LogBatch) -> bytes:
    """A ``LogBatch`` as an OTLP/JSON ``ExportLogsServiceRequest``."""
    return message_to_json(proto.logs_to_message(batch))
