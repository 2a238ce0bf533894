"""Per-item types at the API edge (``Span``, ``Metric``, ``LogEntry``) and their conversion
to and from the columnar batches.

Users who build telemetry one item at a time (``pipeline.record_span(span)``, tests, small
scripts) want plain Python objects; everything after the edge works on ``SpanBatch`` /
``MetricBatch`` / ``LogBatch``. This module is the one crossing between the two, so the
objects here never travel down the pipeline: ``spans_to_batch`` and friends turn a list of
them into Arrow tables once, and ``batch_to_spans`` and friends turn a batch back into objects
for inspection.

Validation follows OTLP: an id, when present, has its exact length (trace 16 bytes, span 8
bytes) and is not all zeroes; a span does not end before it starts. ``validate()`` raises a
:class:`~knhk_telemetry.errors.ValidationError` whose ``reason`` is the counted reason id and
whose message names the item, the field and the value. Reasons not (yet) in
``model/rejections.py`` are defined here (``INVALID_FIELD``, ``INVALID_ATTRIBUTE``,
``INVALID_DATA_POINT``).

Grouping in the ``*_to_batch`` functions: items are grouped by their ``(resource, scope)``.
Equal resources (compared by value: attributes, schema_url, dropped count, entity refs) share
one ``resources`` row, equal scopes under one resource share one ``scopes`` row. Resources
appear in order of first use, scopes in order of first use within their resource, and items
keep their relative input order within a scope group (so the output order differs from the
input order only when the input interleaves resources or scopes).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field, replace
from enum import IntEnum
from typing import Any, Generic, NamedTuple, Protocol, TypeAlias, TypeVar

import numpy as np
import pyarrow as pa

from knhk_telemetry.errors import ValidationError
from knhk_telemetry.model import schema as S
from knhk_telemetry.model.batch import LogBatch, MetricBatch, SpanBatch
from knhk_telemetry.model.rejections import (
    END_BEFORE_START,
    INVALID_ATTRIBUTE,
    INVALID_DATA_POINT,
    INVALID_FIELD,
    INVALID_PARENT_SPAN_ID,
    INVALID_SPAN_ID,
    INVALID_TRACE_ID,
    Rejections,
)
from knhk_telemetry.model.schema import (
    AggregationTemporality,
    MetricType,
    NumberKind,
    SpanKind,
    StatusCode,
    ValueType,
)
from knhk_telemetry.model.values import (
    AttributeBuilder,
    AttributeValue,
    TableBuilder,
    attributes_by_row,
    columns_to_python,
    entity_ref_cell,
    python_to_columns,
    value_column,
)

TRACE_ID_SIZE = 16
SPAN_ID_SIZE = 8
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

Attributes: TypeAlias = dict[str, AttributeValue]
_Problem: TypeAlias = tuple[str, str]  # (reason, message)


# -- small helpers -------------------------------------------------------------------------
def _as_id(value: object, what: str, size: int, reason: str, *, optional: bool) -> bytes | None:
    """An id given as bytes or hex text, as bytes; ``None``/empty is absent when optional.

    Lengths are checked by ``validate()``, not here, so a wrong-length id can be counted
    rather than lost in a constructor."""
    if isinstance(value, str):
        try:
            value = bytes.fromhex(value)
        except ValueError:
            raise ValidationError(f"{what} {value!r} is not hexadecimal", reason=reason) from None
    elif isinstance(value, (bytearray, memoryview)):
        value = bytes(value)
    if optional and (value is None or value == b""):
        return None
    if not isinstance(value, bytes):
        raise ValidationError(
            f"{what} must be {size} bytes or {2 * size} hex digits, got {type(value).__name__}", reason=reason
        )
    return value


def _required_id(value: object, what: str, size: int, reason: str) -> bytes:
    out = _as_id(value, what, size, reason, optional=False)
    assert out is not None
    return out


def _id_problem(value: bytes, size: int) -> str | None:
    if len(value) != size:
        return f"has {len(value)} bytes, expected {size}"
    if not any(value):
        return "is all zeroes"
    return None


def _uint_problem(fields: Iterable[tuple[str, object, int]]) -> str | None:
    """The first ``(name, value, bits)`` whose value is not an unsigned int of ``bits`` bits."""
    for name, value, bits in fields:
        if (p := _int_problem(name, value, 0, (1 << bits) - 1)) is not None:
            return p
    return None


def _int_problem(name: str, value: object, lo: int, hi: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        return f"{name} must be an integer in {lo}..{hi}, got {value!r}"
    return None


def _str_problem(fields: Iterable[tuple[str, object]]) -> str | None:
    """The first ``(name, value)`` whose value is not a str."""
    for name, value in fields:
        if not isinstance(value, str):
            return f"{name} must be a str, got {type(value).__name__}"
    return None


def _value_problem(value: object) -> str | None:  # noqa: PLR0911 - one early return per AnyValue kind
    """Why ``value`` is not an AttributeValue, or None (walks nested lists and dicts)."""
    if value is None or isinstance(value, (str, bool, float, bytes, bytearray, memoryview)):
        return None
    if isinstance(value, int):
        return None if _INT64_MIN <= value <= _INT64_MAX else f"int {value} does not fit in int64"
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                return f"key {k!r} of a nested dict is not a str"
            if (p := _value_problem(v)) is not None:
                return f"[{k!r}]: {p}"
        return None
    if isinstance(value, Sequence):
        for i, v in enumerate(value):
            if (p := _value_problem(v)) is not None:
                return f"[{i}]: {p}"
        return None
    return f"{type(value).__name__} is not an attribute value (str, bool, int, float, bytes, list, dict, None)"


def _attributes_problem(attributes: object, where: str) -> str | None:
    """``"<where>['key']: why"`` for the first bad entry of an attribute dict, or None."""
    if not isinstance(attributes, Mapping):
        return f"{where} must be a dict, got {type(attributes).__name__}"
    for key, value in attributes.items():
        if not isinstance(key, str):
            return f"{where} key {key!r} is not a str"
        if (p := _value_problem(value)) is not None:
            return f"{where}[{key!r}]: {p}"
    return None


def _canonical(value: object) -> Hashable:  # noqa: PLR0911 - one return per AnyValue kind
    """A hashable key equal for equal AnyValues and different for different ones.

    Unlike Python equality it tells ``1``, ``1.0`` and ``True`` apart (they are different
    AnyValues), treats dicts as unordered and lists as ordered, and compares floats by bits
    (``nan`` equals itself, ``0.0`` differs from ``-0.0``), like the stored columns do."""
    if value is None:
        return (ValueType.EMPTY,)
    if isinstance(value, str):
        return (ValueType.STRING, value)
    if isinstance(value, bool):
        return (ValueType.BOOL, value)
    if isinstance(value, int):
        return (ValueType.INT, value)
    if isinstance(value, float):
        return (ValueType.DOUBLE, value.hex())
    if isinstance(value, (bytes, bytearray, memoryview)):
        return (ValueType.BYTES, bytes(value))
    if isinstance(value, Mapping):
        return (ValueType.KVLIST, _attributes_key(value))
    if isinstance(value, Sequence):
        return (ValueType.ARRAY, tuple(_canonical(v) for v in value))
    return ("?", type(value).__name__, repr(value))  # invalid; validation refuses it first


def _attributes_key(attributes: Mapping[Any, object]) -> tuple[tuple[str, Hashable], ...]:
    return tuple(sorted((str(k), _canonical(v)) for k, v in attributes.items()))


def _now() -> int:
    return time.time_ns()


def _random_id(size: int) -> bytes:
    while True:
        value = secrets.token_bytes(size)
        if any(value):  # an all-zero id is invalid
            return value


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _int(value: Any) -> int:
    return 0 if value is None else int(value)


def _children(table: pa.Table, column: str, n_parents: int) -> list[list[int]]:
    """Rows of a child table per parent row (edge conversion only)."""
    out: list[list[int]] = [[] for _ in range(n_parents)]
    for i, parent in enumerate(table.column(column).to_pylist()):
        out[parent].append(i)
    return out


def _columns(table: pa.Table) -> dict[str, list[Any]]:
    return {name: table.column(name).to_pylist() for name in table.column_names}


# -- status, resource, scope -----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SpanStatus:
    """Outcome of a span: ``ok()``, ``error(message)`` or ``unset()`` (the default)."""

    code: StatusCode = StatusCode.UNSET
    message: str = ""

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "code", StatusCode(self.code))
        except ValueError:
            raise ValidationError(
                f"status code {self.code!r} is not a StatusCode (0..2)", reason=INVALID_FIELD
            ) from None

    @classmethod
    def ok(cls) -> SpanStatus:
        return cls(StatusCode.OK)

    @classmethod
    def error(cls, message: str = "") -> SpanStatus:
        return cls(StatusCode.ERROR, message)

    @classmethod
    def unset(cls) -> SpanStatus:
        return cls(StatusCode.UNSET)


@dataclass(frozen=True, slots=True)
class EntityRef:
    """A reference from a resource to an entity (OTLP ``EntityRef``)."""

    type: str = ""
    id_keys: tuple[str, ...] = ()
    description_keys: tuple[str, ...] = ()
    schema_url: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "id_keys", tuple(self.id_keys))
        object.__setattr__(self, "description_keys", tuple(self.description_keys))


@dataclass(frozen=True, slots=True, eq=False)
class Resource:
    """The entity that produced telemetry (``service.name`` and friends).

    Compared and hashed by value (attributes, schema_url, dropped count, entity refs), with
    attribute values compared as AnyValues (``1`` differs from ``True``), so equal
    resources of different items share one batch row. Treat ``attributes`` as read-only."""

    attributes: Attributes = field(default_factory=dict)
    schema_url: str = ""
    dropped_attributes_count: int = 0
    entity_refs: tuple[EntityRef, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "entity_refs", tuple(self.entity_refs))

    def _key(self) -> Hashable:
        return (_attributes_key(self.attributes), self.schema_url, self.dropped_attributes_count, self.entity_refs)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Resource):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _problem(self) -> _Problem | None:
        if (p := _attributes_problem(self.attributes, "resource.attributes")) is not None:
            return INVALID_ATTRIBUTE, p
        if (p := _uint_problem([("resource.dropped_attributes_count", self.dropped_attributes_count, 32)])) is not None:
            return INVALID_FIELD, p
        return None


@dataclass(frozen=True, slots=True, eq=False)
class InstrumentationScope:
    """The library that produced telemetry; compared and hashed by value like ``Resource``.

    ``schema_url`` is that of the ScopeSpans / ScopeMetrics / ScopeLogs holding the scope."""

    name: str = ""
    version: str = ""
    attributes: Attributes = field(default_factory=dict)
    dropped_attributes_count: int = 0
    schema_url: str = ""

    def _key(self) -> Hashable:
        return (
            self.name,
            self.version,
            _attributes_key(self.attributes),
            self.dropped_attributes_count,
            self.schema_url,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, InstrumentationScope):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _problem(self) -> _Problem | None:
        if (p := _attributes_problem(self.attributes, "scope.attributes")) is not None:
            return INVALID_ATTRIBUTE, p
        if (p := _uint_problem([("scope.dropped_attributes_count", self.dropped_attributes_count, 32)])) is not None:
            return INVALID_FIELD, p
        return None


# -- spans -----------------------------------------------------------------------------------
@dataclass(slots=True)
class SpanEvent:
    """A timestamped annotation of a span."""

    name: str
    time_unix_nano: int = 0
    attributes: Attributes = field(default_factory=dict)
    dropped_attributes_count: int = 0


@dataclass(slots=True)
class SpanLink:
    """A pointer from a span to another span (possibly in another trace).

    Ids may be given as hex strings; they are stored as bytes."""

    trace_id: bytes
    span_id: bytes
    _: KW_ONLY
    trace_state: str = ""
    attributes: Attributes = field(default_factory=dict)
    flags: int = 0
    dropped_attributes_count: int = 0

    def __post_init__(self) -> None:
        self.trace_id = _required_id(self.trace_id, "link trace_id", TRACE_ID_SIZE, INVALID_TRACE_ID)
        self.span_id = _required_id(self.span_id, "link span_id", SPAN_ID_SIZE, INVALID_SPAN_ID)


@dataclass(slots=True)
class Span:
    """One span at the API edge; ids are bytes, or hex strings converted on construction.

    >>> from knhk_telemetry.model.edge import Span, SpanStatus, batch_to_spans, spans_to_batch
    >>> span = Span(
    ...     trace_id="5b8efff798038103d269b633813fc60c",
    ...     span_id="eee19b7ec3c1b174",
    ...     name="GET /users",
    ...     start_time_unix_nano=1_700_000_000_000_000_000,
    ...     end_time_unix_nano=1_700_000_000_250_000_000,
    ...     attributes={"http.response.status_code": 200},
    ...     status=SpanStatus.ok(),
    ... )
    >>> span.duration_ns
    250000000
    >>> span.span_id.hex(), span.parent_span_id is None
    ('eee19b7ec3c1b174', True)
    >>> batch = spans_to_batch([span])
    >>> batch
    SpanBatch(resources=1, scopes=1, spans=1, span_attributes=1)
    >>> batch_to_spans(batch) == [span]
    True
    >>> child = Span.new("SELECT users", parent=span, start_time_unix_nano=span.start_time_unix_nano + 10)
    >>> child.trace_id == span.trace_id, child.parent_span_id == span.span_id
    (True, True)
    """

    trace_id: bytes
    span_id: bytes
    name: str
    start_time_unix_nano: int
    end_time_unix_nano: int
    _: KW_ONLY
    parent_span_id: bytes | None = None  # None (or empty) for a root span
    kind: SpanKind = SpanKind.INTERNAL
    attributes: Attributes = field(default_factory=dict)
    events: list[SpanEvent] = field(default_factory=list)
    links: list[SpanLink] = field(default_factory=list)
    status: SpanStatus = field(default_factory=SpanStatus.unset)
    trace_state: str = ""  # W3C tracestate
    flags: int = 0  # W3C trace flags (bits 0-7) and OTLP is-remote bits (8-9)
    dropped_attributes_count: int = 0
    dropped_events_count: int = 0
    dropped_links_count: int = 0
    resource: Resource = field(default_factory=Resource)
    scope: InstrumentationScope = field(default_factory=InstrumentationScope)

    def __post_init__(self) -> None:
        what = f"span {self.name!r}:"
        self.trace_id = _required_id(self.trace_id, f"{what} trace_id", TRACE_ID_SIZE, INVALID_TRACE_ID)
        self.span_id = _required_id(self.span_id, f"{what} span_id", SPAN_ID_SIZE, INVALID_SPAN_ID)
        self.parent_span_id = _as_id(
            self.parent_span_id, f"{what} parent_span_id", SPAN_ID_SIZE, INVALID_PARENT_SPAN_ID, optional=True
        )
        try:
            self.kind = SpanKind(self.kind)
        except ValueError:
            raise ValidationError(f"{what} kind {self.kind!r} is not a SpanKind (0..5)", reason=INVALID_FIELD) from None

    @classmethod
    def new(
        cls,
        name: str,
        *,
        parent: Span | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes | None = None,
        start_time_unix_nano: int | None = None,
        end_time_unix_nano: int | None = None,
        status: SpanStatus | None = None,
        events: list[SpanEvent] | None = None,
        links: list[SpanLink] | None = None,
        resource: Resource | None = None,
        scope: InstrumentationScope | None = None,
    ) -> Span:
        """A span with fresh random ids; a child of ``parent`` when given.

        A child takes the parent's trace id, trace state, trace flags (bits 0-7), resource
        and scope unless given. Times not given are ``time.time_ns()`` (the end never before
        the start)."""
        start = _now() if start_time_unix_nano is None else start_time_unix_nano
        end = max(start, _now()) if end_time_unix_nano is None else end_time_unix_nano
        if parent is None:
            trace_id, parent_id, trace_state, flags = _random_id(TRACE_ID_SIZE), None, "", 0
            res = resource if resource is not None else Resource()
            scp = scope if scope is not None else InstrumentationScope()
        else:
            trace_id, parent_id, trace_state, flags = parent.trace_id, parent.span_id, parent.trace_state, parent.flags
            flags &= 0xFF
            res = resource if resource is not None else parent.resource
            scp = scope if scope is not None else parent.scope
        return cls(
            trace_id,
            _random_id(SPAN_ID_SIZE),
            name,
            start,
            end,
            parent_span_id=parent_id,
            kind=kind,
            attributes=dict(attributes or {}),
            events=list(events or []),
            links=list(links or []),
            status=status if status is not None else SpanStatus.unset(),
            trace_state=trace_state,
            flags=flags,
            resource=res,
            scope=scp,
        )

    @property
    def duration_ns(self) -> int:
        return self.end_time_unix_nano - self.start_time_unix_nano

    @property
    def is_root(self) -> bool:
        return self.parent_span_id is None

    def validate(self) -> None:
        """Raise ``ValidationError`` (with its counted ``reason``) if OTLP would refuse the span."""
        problem = self._problem() or self.resource._problem() or self.scope._problem()
        if problem is not None:
            reason, message = problem
            if not message.startswith("span "):
                message = f"span {self.name!r}: {message}"
            raise ValidationError(message, reason=reason)

    def _problem(self) -> _Problem | None:  # noqa: PLR0911 - the first problem wins, checked in order
        """The span's own first problem (resource and scope are checked apart, once each)."""
        what = f"span {self.name!r}"
        for label, value, size, reason in (
            ("trace_id", self.trace_id, TRACE_ID_SIZE, INVALID_TRACE_ID),
            ("span_id", self.span_id, SPAN_ID_SIZE, INVALID_SPAN_ID),
            ("parent_span_id", self.parent_span_id, SPAN_ID_SIZE, INVALID_PARENT_SPAN_ID),
        ):
            if value is not None and (p := _id_problem(value, size)) is not None:
                return reason, f"{what}: {label} {p}"
        for i, link in enumerate(self.links):
            for label, value, size, reason in (
                ("trace_id", link.trace_id, TRACE_ID_SIZE, INVALID_TRACE_ID),
                ("span_id", link.span_id, SPAN_ID_SIZE, INVALID_SPAN_ID),
            ):
                if (p := _id_problem(value, size)) is not None:
                    return reason, f"{what}: links[{i}].{label} {p}"
        p = _str_problem(
            [("name", self.name), ("trace_state", self.trace_state), ("status.message", self.status.message)]
        )
        if p is not None:
            return INVALID_FIELD, f"{what}: {p}"
        p = _uint_problem(
            [
                ("start_time_unix_nano", self.start_time_unix_nano, 64),
                ("end_time_unix_nano", self.end_time_unix_nano, 64),
                ("flags", self.flags, 32),
                ("dropped_attributes_count", self.dropped_attributes_count, 32),
                ("dropped_events_count", self.dropped_events_count, 32),
                ("dropped_links_count", self.dropped_links_count, 32),
            ]
        )
        for i, ev in enumerate(self.events):
            p = p or _uint_problem(
                [
                    (f"events[{i}].time_unix_nano", ev.time_unix_nano, 64),
                    (f"events[{i}].dropped_attributes_count", ev.dropped_attributes_count, 32),
                ]
            )
        for i, link in enumerate(self.links):
            p = p or _uint_problem(
                [
                    (f"links[{i}].flags", link.flags, 32),
                    (f"links[{i}].dropped_attributes_count", link.dropped_attributes_count, 32),
                ]
            )
        if p is not None:
            return INVALID_FIELD, f"{what}: {p}"
        if self.end_time_unix_nano < self.start_time_unix_nano:
            return END_BEFORE_START, (
                f"{what}: end_time_unix_nano {self.end_time_unix_nano} is before "
                f"start_time_unix_nano {self.start_time_unix_nano}"
            )
        p = _attributes_problem(self.attributes, "attributes")
        for i, ev in enumerate(self.events):
            p = p or _attributes_problem(ev.attributes, f"events[{i}].attributes")
        for i, link in enumerate(self.links):
            p = p or _attributes_problem(link.attributes, f"links[{i}].attributes")
        if p is not None:
            return INVALID_ATTRIBUTE, f"{what}: {p}"
        return None


# -- logs ------------------------------------------------------------------------------------
class Severity(IntEnum):
    """The base ``severity_number`` of each OTLP severity range (each spans 4 numbers)."""

    TRACE = 1
    DEBUG = 5
    INFO = 9
    WARN = 13
    ERROR = 17
    FATAL = 21


@dataclass(slots=True, kw_only=True)
class LogEntry:
    """One log record at the API edge; ``trace_id``/``span_id`` may be hex strings."""

    time_unix_nano: int = 0  # when the event happened; 0: unknown
    observed_time_unix_nano: int = 0  # when the collector saw it
    severity_number: int = 0  # 0 unspecified, 1..24 (see Severity)
    severity_text: str = ""
    body: AttributeValue = None
    attributes: Attributes = field(default_factory=dict)
    trace_id: bytes | None = None
    span_id: bytes | None = None
    flags: int = 0
    event_name: str = ""
    dropped_attributes_count: int = 0
    resource: Resource = field(default_factory=Resource)
    scope: InstrumentationScope = field(default_factory=InstrumentationScope)

    def __post_init__(self) -> None:
        self.trace_id = _as_id(self.trace_id, "log trace_id", TRACE_ID_SIZE, INVALID_TRACE_ID, optional=True)
        self.span_id = _as_id(self.span_id, "log span_id", SPAN_ID_SIZE, INVALID_SPAN_ID, optional=True)

    def validate(self) -> None:
        """Raise ``ValidationError`` if OTLP would refuse the record (bad ids, out-of-range fields)."""
        problem = self._problem() or self.resource._problem() or self.scope._problem()
        if problem is not None:
            reason, message = problem
            if not message.startswith("log record "):
                message = f"{self._what()}: {message}"
            raise ValidationError(message, reason=reason)

    def _what(self) -> str:
        return f"log record at time_unix_nano={self.time_unix_nano}"

    def _problem(self) -> _Problem | None:
        what = self._what()
        for label, value, size, reason in (
            ("trace_id", self.trace_id, TRACE_ID_SIZE, INVALID_TRACE_ID),
            ("span_id", self.span_id, SPAN_ID_SIZE, INVALID_SPAN_ID),
        ):
            if value is not None and (p := _id_problem(value, size)) is not None:
                return reason, f"{what}: {label} {p}"
        p = _uint_problem(
            [
                ("time_unix_nano", self.time_unix_nano, 64),
                ("observed_time_unix_nano", self.observed_time_unix_nano, 64),
                ("flags", self.flags, 32),
                ("dropped_attributes_count", self.dropped_attributes_count, 32),
            ]
        )
        p = p or _int_problem("severity_number", self.severity_number, 0, 24)
        p = p or _str_problem([("severity_text", self.severity_text), ("event_name", self.event_name)])
        if p is not None:
            return INVALID_FIELD, f"{what}: {p}"
        if (p := _value_problem(self.body)) is not None:
            return INVALID_ATTRIBUTE, f"{what}: body: {p}"
        if (p := _attributes_problem(self.attributes, "attributes")) is not None:
            return INVALID_ATTRIBUTE, f"{what}: {p}"
        return None


# -- metrics ---------------------------------------------------------------------------------
@dataclass(slots=True, kw_only=True)
class Exemplar:
    """A sample measurement behind a data point, with the span that recorded it."""

    time_unix_nano: int = 0
    value: int | float | None = None  # None: the OTLP value oneof is unset
    filtered_attributes: Attributes = field(default_factory=dict)
    trace_id: bytes | None = None
    span_id: bytes | None = None

    def __post_init__(self) -> None:
        self.trace_id = _as_id(self.trace_id, "exemplar trace_id", TRACE_ID_SIZE, INVALID_TRACE_ID, optional=True)
        self.span_id = _as_id(self.span_id, "exemplar span_id", SPAN_ID_SIZE, INVALID_SPAN_ID, optional=True)


@dataclass(slots=True, kw_only=True)
class NumberDataPoint:
    """A point of a gauge or a sum: one int or float value."""

    value: int | float | None = 0  # None: the OTLP value oneof is unset
    attributes: Attributes = field(default_factory=dict)
    start_time_unix_nano: int = 0
    time_unix_nano: int = 0
    flags: int = 0
    exemplars: list[Exemplar] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class HistogramDataPoint:
    """Explicit-bucket histogram: ``bucket_counts[i]`` counts values in
    ``(explicit_bounds[i-1], explicit_bounds[i]]``; there is one more count than bounds."""

    count: int = 0
    sum: float | None = None
    bucket_counts: list[int] = field(default_factory=list)
    explicit_bounds: list[float] = field(default_factory=list)
    min: float | None = None
    max: float | None = None
    attributes: Attributes = field(default_factory=dict)
    start_time_unix_nano: int = 0
    time_unix_nano: int = 0
    flags: int = 0
    exemplars: list[Exemplar] = field(default_factory=list)


class ExponentialBuckets(NamedTuple):
    """One side of an exponential histogram: ``bucket_counts[i]`` is bucket ``offset + i``."""

    offset: int
    bucket_counts: list[int]


@dataclass(slots=True, kw_only=True)
class ExponentialHistogramDataPoint:
    """Base-2 exponential histogram; ``positive``/``negative`` None when the side is absent
    (an ``(offset, counts)`` tuple is accepted and kept as ``ExponentialBuckets``)."""

    count: int = 0
    sum: float | None = None
    scale: int = 0
    zero_count: int = 0
    zero_threshold: float = 0.0
    positive: ExponentialBuckets | None = None
    negative: ExponentialBuckets | None = None
    min: float | None = None
    max: float | None = None
    attributes: Attributes = field(default_factory=dict)
    start_time_unix_nano: int = 0
    time_unix_nano: int = 0
    flags: int = 0
    exemplars: list[Exemplar] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.positive is not None:
            self.positive = ExponentialBuckets(int(self.positive[0]), list(self.positive[1]))
        if self.negative is not None:
            self.negative = ExponentialBuckets(int(self.negative[0]), list(self.negative[1]))


@dataclass(slots=True, kw_only=True)
class SummaryDataPoint:
    """Pre-computed quantiles: ``quantile_values`` is a list of ``(quantile, value)``."""

    count: int = 0
    sum: float = 0.0
    quantile_values: list[tuple[float, float]] = field(default_factory=list)
    attributes: Attributes = field(default_factory=dict)
    start_time_unix_nano: int = 0
    time_unix_nano: int = 0
    flags: int = 0

    def __post_init__(self) -> None:
        self.quantile_values = [(float(q), float(v)) for q, v in self.quantile_values]


DataPoint: TypeAlias = NumberDataPoint | HistogramDataPoint | ExponentialHistogramDataPoint | SummaryDataPoint

_POINT_CLASS: dict[MetricType, type[DataPoint] | None] = {
    MetricType.EMPTY: None,
    MetricType.GAUGE: NumberDataPoint,
    MetricType.SUM: NumberDataPoint,
    MetricType.HISTOGRAM: HistogramDataPoint,
    MetricType.EXPONENTIAL_HISTOGRAM: ExponentialHistogramDataPoint,
    MetricType.SUMMARY: SummaryDataPoint,
}
_HAS_TEMPORALITY = frozenset({MetricType.SUM, MetricType.HISTOGRAM, MetricType.EXPONENTIAL_HISTOGRAM})

#: the default bucket bounds of the OpenTelemetry SDKs' explicit-bucket histogram
DEFAULT_HISTOGRAM_BOUNDS: tuple[float, ...] = (
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0, 10000.0,
)  # fmt: skip


@dataclass(slots=True)
class Metric:
    """One metric stream with its data points.

    ``aggregation_temporality`` is kept for sums and (exponential) histograms and
    ``is_monotonic`` for sums only; OTLP has no place for them on other types, so they do
    not survive a batch round trip there. ``metadata`` is OTLP ``Metric.metadata``."""

    name: str
    type: MetricType = MetricType.EMPTY
    points: list[DataPoint] = field(default_factory=list)
    _: KW_ONLY
    description: str = ""
    unit: str = ""  # UCUM, e.g. "ms", "By", "{request}"
    aggregation_temporality: AggregationTemporality = AggregationTemporality.UNSPECIFIED
    is_monotonic: bool = False
    metadata: Attributes = field(default_factory=dict)
    resource: Resource = field(default_factory=Resource)
    scope: InstrumentationScope = field(default_factory=InstrumentationScope)

    def __post_init__(self) -> None:
        what = f"metric {self.name!r}:"
        try:
            self.type = MetricType(self.type)
        except ValueError:
            raise ValidationError(f"{what} type {self.type!r} is not a MetricType", reason=INVALID_FIELD) from None
        try:
            self.aggregation_temporality = AggregationTemporality(self.aggregation_temporality)
        except ValueError:
            raise ValidationError(
                f"{what} aggregation_temporality {self.aggregation_temporality!r} is not an AggregationTemporality",
                reason=INVALID_FIELD,
            ) from None

    # -- convenience constructors ------------------------------------------------------------
    @classmethod
    def gauge(
        cls,
        name: str,
        value: int | float,
        *,
        attributes: Attributes | None = None,
        unit: str = "",
        description: str = "",
        time_unix_nano: int | None = None,
        resource: Resource | None = None,
        scope: InstrumentationScope | None = None,
    ) -> Metric:
        """A gauge with one point (time: now unless given)."""
        point = NumberDataPoint(
            value=value,
            attributes=dict(attributes or {}),
            time_unix_nano=_now() if time_unix_nano is None else time_unix_nano,
        )
        return cls(
            name,
            MetricType.GAUGE,
            [point],
            description=description,
            unit=unit,
            resource=resource if resource is not None else Resource(),
            scope=scope if scope is not None else InstrumentationScope(),
        )

    @classmethod
    def counter(
        cls,
        name: str,
        value: int | float,
        *,
        attributes: Attributes | None = None,
        unit: str = "",
        description: str = "",
        start_time_unix_nano: int = 0,
        time_unix_nano: int | None = None,
        resource: Resource | None = None,
        scope: InstrumentationScope | None = None,
    ) -> Metric:
        """A monotonic cumulative sum with one point: ``value`` counted since
        ``start_time_unix_nano`` (0: unknown)."""
        point = NumberDataPoint(
            value=value,
            attributes=dict(attributes or {}),
            start_time_unix_nano=start_time_unix_nano,
            time_unix_nano=_now() if time_unix_nano is None else time_unix_nano,
        )
        return cls(
            name,
            MetricType.SUM,
            [point],
            description=description,
            unit=unit,
            aggregation_temporality=AggregationTemporality.CUMULATIVE,
            is_monotonic=True,
            resource=resource if resource is not None else Resource(),
            scope=scope if scope is not None else InstrumentationScope(),
        )

    @classmethod
    def histogram(
        cls,
        name: str,
        values: Iterable[float],
        *,
        explicit_bounds: Sequence[float] = DEFAULT_HISTOGRAM_BOUNDS,
        attributes: Attributes | None = None,
        unit: str = "",
        description: str = "",
        temporality: AggregationTemporality = AggregationTemporality.DELTA,
        start_time_unix_nano: int = 0,
        time_unix_nano: int | None = None,
        resource: Resource | None = None,
        scope: InstrumentationScope | None = None,
    ) -> Metric:
        """A histogram with one point summarising the observed ``values`` (count, sum, min,
        max and bucket counts with OTLP's upper-inclusive buckets)."""
        bounds = np.asarray(explicit_bounds, dtype=np.float64)
        if bounds.ndim != 1 or (len(bounds) > 1 and not bool(np.all(bounds[1:] > bounds[:-1]))):
            raise ValueError(f"histogram {name!r}: explicit_bounds must be strictly increasing, got {list(bounds)}")
        data = np.fromiter(values, dtype=np.float64)
        counts = np.bincount(np.searchsorted(bounds, data, side="left"), minlength=len(bounds) + 1)
        point = HistogramDataPoint(
            count=len(data),
            sum=float(data.sum()),
            bucket_counts=[int(c) for c in counts],
            explicit_bounds=[float(b) for b in bounds],
            min=float(data.min()) if len(data) else None,
            max=float(data.max()) if len(data) else None,
            attributes=dict(attributes or {}),
            start_time_unix_nano=start_time_unix_nano,
            time_unix_nano=_now() if time_unix_nano is None else time_unix_nano,
        )
        return cls(
            name,
            MetricType.HISTOGRAM,
            [point],
            description=description,
            unit=unit,
            aggregation_temporality=temporality,
            resource=resource if resource is not None else Resource(),
            scope=scope if scope is not None else InstrumentationScope(),
        )

    # -- validation --------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise ``ValidationError`` on the first problem of the metric or of a data point."""
        problem = self._problem() or self.resource._problem() or self.scope._problem()
        for i, point in enumerate(self.points):
            problem = problem or self._point_problem(i, point)
        if problem is not None:
            reason, message = problem
            if not message.startswith("metric "):
                message = f"metric {self.name!r}: {message}"
            raise ValidationError(message, reason=reason)

    def _problem(self) -> _Problem | None:
        what = f"metric {self.name!r}"
        if (
            p := _str_problem([("name", self.name), ("description", self.description), ("unit", self.unit)])
        ) is not None:
            return INVALID_FIELD, f"{what}: {p}"
        if (p := _attributes_problem(self.metadata, "metadata")) is not None:
            return INVALID_ATTRIBUTE, f"{what}: {p}"
        return None

    def _point_problem(self, i: int, point: DataPoint) -> _Problem | None:  # noqa: PLR0911 - first problem wins
        what = f"metric {self.name!r}: points[{i}]"
        expected = _POINT_CLASS[self.type]
        if expected is None or not isinstance(point, expected):
            want = "no points" if expected is None else expected.__name__
            return INVALID_DATA_POINT, f"{what}: a {type(point).__name__} in a {self.type.name} metric (expects {want})"
        uints: list[tuple[str, object, int]] = [
            ("start_time_unix_nano", point.start_time_unix_nano, 64),
            ("time_unix_nano", point.time_unix_nano, 64),
            ("flags", point.flags, 32),
        ]
        if not isinstance(point, NumberDataPoint):
            uints.append(("count", point.count, 64))
        if isinstance(point, HistogramDataPoint):
            uints.extend((f"bucket_counts[{j}]", c, 64) for j, c in enumerate(point.bucket_counts))
        if isinstance(point, ExponentialHistogramDataPoint):
            uints.append(("zero_count", point.zero_count, 64))
            for side, buckets in (("positive", point.positive), ("negative", point.negative)):
                if buckets is not None:
                    uints.extend((f"{side}.bucket_counts[{j}]", c, 64) for j, c in enumerate(buckets.bucket_counts))
        if (p := _uint_problem(uints)) is not None:
            return INVALID_FIELD, f"{what}: {p}"
        if isinstance(point, NumberDataPoint) and (p := _number_problem(point.value)) is not None:
            return INVALID_FIELD, f"{what}: value {p}"
        if (
            isinstance(point, HistogramDataPoint)
            and point.bucket_counts
            and len(point.bucket_counts) != len(point.explicit_bounds) + 1
        ):
            return INVALID_DATA_POINT, (
                f"{what}: {len(point.bucket_counts)} bucket_counts for {len(point.explicit_bounds)} explicit_bounds "
                f"(expected {len(point.explicit_bounds) + 1})"
            )
        if isinstance(point, SummaryDataPoint):
            for q, _v in point.quantile_values:
                if not 0.0 <= q <= 1.0:
                    return INVALID_DATA_POINT, f"{what}: quantile {q} is outside 0..1"
        if (p := _attributes_problem(point.attributes, "attributes")) is not None:
            return INVALID_ATTRIBUTE, f"{what}: {p}"
        if not isinstance(point, SummaryDataPoint):
            for j, ex in enumerate(point.exemplars):
                if (problem := _exemplar_problem(ex, f"{what}: exemplars[{j}]")) is not None:
                    return problem
        return None


def _number_problem(value: object) -> str | None:
    if value is None or isinstance(value, float):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return None if _INT64_MIN <= value <= _INT64_MAX else f"{value} does not fit in int64"
    return f"must be an int, a float or None, got {type(value).__name__}"


def _exemplar_problem(ex: Exemplar, what: str) -> _Problem | None:
    for label, value, size, reason in (
        ("trace_id", ex.trace_id, TRACE_ID_SIZE, INVALID_TRACE_ID),
        ("span_id", ex.span_id, SPAN_ID_SIZE, INVALID_SPAN_ID),
    ):
        if value is not None and (p := _id_problem(value, size)) is not None:
            return reason, f"{what}.{label} {p}"
    if (p := _uint_problem([("time_unix_nano", ex.time_unix_nano, 64)])) is not None:
        return INVALID_FIELD, f"{what}.{p}"
    if (p := _number_problem(ex.value)) is not None:
        return INVALID_FIELD, f"{what}.value {p}"
    if (p := _attributes_problem(ex.filtered_attributes, "filtered_attributes")) is not None:
        return INVALID_ATTRIBUTE, f"{what}.{p}"
    return None


# -- grouping by resource and scope ----------------------------------------------------------
class _HasOrigin(Protocol):
    @property
    def resource(self) -> Resource: ...
    @property
    def scope(self) -> InstrumentationScope: ...


T = TypeVar("T", bound=_HasOrigin)


class _Grouper(Generic[T]):
    """Items grouped by resource, then scope, each in order of first use.

    Resource and scope keys and checks are memoised by object identity (items built by one
    producer share their Resource object), keeping the objects alive so ids stay unique."""

    def __init__(self) -> None:
        self.groups: dict[Hashable, tuple[Resource, dict[Hashable, tuple[InstrumentationScope, list[T]]]]] = {}
        self._resources: dict[int, tuple[Resource, Hashable, _Problem | None]] = {}
        self._scopes: dict[int, tuple[InstrumentationScope, Hashable, _Problem | None]] = {}

    def _resource(self, r: Resource) -> tuple[Resource, Hashable, _Problem | None]:
        got = self._resources.get(id(r))
        if got is None:
            problem = r._problem()
            got = self._resources[id(r)] = (r, None if problem else r._key(), problem)
        return got

    def _scope(self, s: InstrumentationScope) -> tuple[InstrumentationScope, Hashable, _Problem | None]:
        got = self._scopes.get(id(s))
        if got is None:
            problem = s._problem()
            got = self._scopes[id(s)] = (s, None if problem else s._key(), problem)
        return got

    def origin_problem(self, item: T) -> _Problem | None:
        return self._resource(item.resource)[2] or self._scope(item.scope)[2]

    def add(self, item: T) -> None:
        _, rkey, _ = self._resource(item.resource)
        _, skey, _ = self._scope(item.scope)
        group = self.groups.get(rkey)
        if group is None:
            group = self.groups[rkey] = (item.resource, {})
        scopes = group[1]
        sgroup = scopes.get(skey)
        if sgroup is None:
            sgroup = scopes[skey] = (item.scope, [])
        sgroup[1].append(item)


def _refuse(problem: _Problem, rejections: Rejections | None, prefix: str, n: int = 1) -> None:
    reason, message = problem
    if not message.startswith(prefix):
        message = f"{prefix}{message}"
    if rejections is None:
        raise ValidationError(message, reason=reason)
    rejections.add(reason, message, n)


def _origin_tables(
    grouper: _Grouper[T],
) -> tuple[dict[str, pa.Table], list[tuple[int, list[T]]]]:
    """The resources/scopes tables (with attributes) and the items under each scope row."""
    resources, res_attrs = TableBuilder(S.RESOURCES), AttributeBuilder()
    scopes, scope_attrs = TableBuilder(S.SCOPES), AttributeBuilder()
    out: list[tuple[int, list[T]]] = []
    for resource, scope_groups in grouper.groups.values():
        r = resources.append(
            schema_url=resource.schema_url,
            dropped_attributes_count=resource.dropped_attributes_count,
            entity_refs=[entity_ref_cell(e) for e in resource.entity_refs],
        )
        res_attrs.add_all(r, resource.attributes)
        for scope, items in scope_groups.values():
            s = scopes.append(
                resource=r,
                name=scope.name,
                version=scope.version,
                dropped_attributes_count=scope.dropped_attributes_count,
                schema_url=scope.schema_url,
            )
            scope_attrs.add_all(s, scope.attributes)
            out.append((s, items))
    tables = {
        "resources": resources.build(),
        "resource_attributes": res_attrs.build(),
        "scopes": scopes.build(),
        "scope_attributes": scope_attrs.build(),
    }
    return tables, out


def _read_origins(batch: SpanBatch | MetricBatch | LogBatch) -> list[tuple[Resource, InstrumentationScope]]:
    """``(resource, scope)`` per scope row; rows of one resource share one Resource object."""
    rt = _columns(batch.resources)
    r_attrs = attributes_by_row(batch.table("resource_attributes"), batch.resources.num_rows)
    resources = [
        Resource(
            attributes=r_attrs[i],
            schema_url=_str(rt["schema_url"][i]),
            dropped_attributes_count=_int(rt["dropped_attributes_count"][i]),
            entity_refs=tuple(
                EntityRef(
                    type=_str(e["type"]),
                    id_keys=tuple(e["id_keys"] or ()),
                    description_keys=tuple(e["description_keys"] or ()),
                    schema_url=_str(e["schema_url"]),
                )
                for e in rt["entity_refs"][i] or ()
            ),
        )
        for i in range(batch.resources.num_rows)
    ]
    st = _columns(batch.scopes)
    s_attrs = attributes_by_row(batch.table("scope_attributes"), batch.scopes.num_rows)
    return [
        (
            resources[st["resource"][i]],
            InstrumentationScope(
                name=_str(st["name"][i]),
                version=_str(st["version"][i]),
                attributes=s_attrs[i],
                dropped_attributes_count=_int(st["dropped_attributes_count"][i]),
                schema_url=_str(st["schema_url"][i]),
            ),
        )
        for i in range(batch.scopes.num_rows)
    ]


# -- spans <-> SpanBatch ---------------------------------------------------------------------
def spans_to_batch(spans: Iterable[Span], *, rejections: Rejections | None = None) -> SpanBatch:
    """Build a ``SpanBatch`` from spans (grouping and order: see the module docstring).

    An invalid span raises :class:`ValidationError`; with ``rejections`` it is counted there
    by reason instead, and skipped."""
    grouper: _Grouper[Span] = _Grouper()
    for span in spans:
        problem = span._problem() or grouper.origin_problem(span)
        if problem is not None:
            _refuse(problem, rejections, f"span {span.name!r}: ")
            continue
        grouper.add(span)
    tables, groups = _origin_tables(grouper)
    rows, attrs = TableBuilder(S.SPANS), AttributeBuilder()
    events, event_attrs = TableBuilder(S.EVENTS), AttributeBuilder()
    links, link_attrs = TableBuilder(S.LINKS), AttributeBuilder()
    for scope_row, items in groups:
        for sp in items:
            i = rows.append(
                scope=scope_row,
                trace_id=sp.trace_id,
                span_id=sp.span_id,
                trace_state=sp.trace_state,
                parent_span_id=sp.parent_span_id,
                flags=sp.flags,
                name=sp.name,
                kind=int(sp.kind),
                start_time_unix_nano=sp.start_time_unix_nano,
                end_time_unix_nano=sp.end_time_unix_nano,
                dropped_attributes_count=sp.dropped_attributes_count,
                dropped_events_count=sp.dropped_events_count,
                dropped_links_count=sp.dropped_links_count,
                status_code=int(sp.status.code),
                status_message=sp.status.message,
            )
            attrs.add_all(i, sp.attributes)
            for ev in sp.events:
                e = events.append(
                    span=i,
                    time_unix_nano=ev.time_unix_nano,
                    name=ev.name,
                    dropped_attributes_count=ev.dropped_attributes_count,
                )
                event_attrs.add_all(e, ev.attributes)
            for ln in sp.links:
                k = links.append(
                    span=i,
                    trace_id=ln.trace_id,
                    span_id=ln.span_id,
                    trace_state=ln.trace_state,
                    dropped_attributes_count=ln.dropped_attributes_count,
                    flags=ln.flags,
                )
                link_attrs.add_all(k, ln.attributes)
    tables.update(
        spans=rows.build(),
        span_attributes=attrs.build(),
        events=events.build(),
        event_attributes=event_attrs.build(),
        links=links.build(),
        link_attributes=link_attrs.build(),
    )
    return SpanBatch(tables)


def batch_to_spans(batch: SpanBatch) -> list[Span]:
    """The spans of a batch as ``Span`` objects, in batch order (for inspection and tests)."""
    origins = _read_origins(batch)
    n = len(batch)
    c = _columns(batch.spans)
    span_attrs = attributes_by_row(batch.table("span_attributes"), n)
    et, lt = batch.table("events"), batch.table("links")
    ec, lc = _columns(et), _columns(lt)
    e_attrs = attributes_by_row(batch.table("event_attributes"), et.num_rows)
    l_attrs = attributes_by_row(batch.table("link_attributes"), lt.num_rows)
    events_of, links_of = _children(et, "span", n), _children(lt, "span", n)
    out: list[Span] = []
    for i in range(n):
        resource, scope = origins[c["scope"][i]]
        out.append(
            Span(
                c["trace_id"][i],
                c["span_id"][i],
                _str(c["name"][i]),
                _int(c["start_time_unix_nano"][i]),
                _int(c["end_time_unix_nano"][i]),
                parent_span_id=c["parent_span_id"][i],
                kind=SpanKind(_int(c["kind"][i])),
                attributes=span_attrs[i],
                events=[
                    SpanEvent(
                        _str(ec["name"][e]),
                        _int(ec["time_unix_nano"][e]),
                        e_attrs[e],
                        _int(ec["dropped_attributes_count"][e]),
                    )
                    for e in events_of[i]
                ],
                links=[
                    SpanLink(
                        lc["trace_id"][k],
                        lc["span_id"][k],
                        trace_state=_str(lc["trace_state"][k]),
                        attributes=l_attrs[k],
                        flags=_int(lc["flags"][k]),
                        dropped_attributes_count=_int(lc["dropped_attributes_count"][k]),
                    )
                    for k in links_of[i]
                ],
                status=SpanStatus(StatusCode(_int(c["status_code"][i])), _str(c["status_message"][i])),
                trace_state=_str(c["trace_state"][i]),
                flags=_int(c["flags"][i]),
                dropped_attributes_count=_int(c["dropped_attributes_count"][i]),
                dropped_events_count=_int(c["dropped_events_count"][i]),
                dropped_links_count=_int(c["dropped_links_count"][i]),
                resource=resource,
                scope=scope,
            )
        )
    return out


# -- logs <-> LogBatch -----------------------------------------------------------------------
def logs_to_batch(entries: Iterable[LogEntry], *, rejections: Rejections | None = None) -> LogBatch:
    """Build a ``LogBatch`` from log entries (grouping and order: see the module docstring).

    An invalid entry raises :class:`ValidationError`; with ``rejections`` it is counted
    there and skipped."""
    grouper: _Grouper[LogEntry] = _Grouper()
    for entry in entries:
        problem = entry._problem() or grouper.origin_problem(entry)
        if problem is not None:
            _refuse(problem, rejections, f"{entry._what()}: ")
            continue
        grouper.add(entry)
    tables, groups = _origin_tables(grouper)
    rows, attrs = TableBuilder(S.LOGS), AttributeBuilder()
    for scope_row, items in groups:
        for log in items:
            body: dict[str, Any] = {}
            if log.body is not None:
                vtype, column, cell = python_to_columns(log.body)
                body = {"body_type": int(vtype), f"body_{column}": cell}
            i = rows.append(
                scope=scope_row,
                time_unix_nano=log.time_unix_nano,
                observed_time_unix_nano=log.observed_time_unix_nano,
                severity_number=int(log.severity_number),
                severity_text=log.severity_text,
                dropped_attributes_count=log.dropped_attributes_count,
                flags=log.flags,
                trace_id=log.trace_id,
                span_id=log.span_id,
                event_name=log.event_name,
                **body,
            )
            attrs.add_all(i, log.attributes)
    tables.update(logs=rows.build(), log_attributes=attrs.build())
    return LogBatch(tables)


def batch_to_logs(batch: LogBatch) -> list[LogEntry]:
    """The log records of a batch as ``LogEntry`` objects, in batch order."""
    origins = _read_origins(batch)
    n = len(batch)
    c = _columns(batch.logs)
    log_attrs = attributes_by_row(batch.table("log_attributes"), n)
    out: list[LogEntry] = []
    for i in range(n):
        resource, scope = origins[c["scope"][i]]
        vtype = c["body_type"][i]
        column = value_column(vtype) if vtype is not None else ""
        out.append(
            LogEntry(
                time_unix_nano=_int(c["time_unix_nano"][i]),
                observed_time_unix_nano=_int(c["observed_time_unix_nano"][i]),
                severity_number=_int(c["severity_number"][i]),
                severity_text=_str(c["severity_text"][i]),
                body=columns_to_python(vtype, c[f"body_{column}"][i] if column else None),
                attributes=log_attrs[i],
                trace_id=c["trace_id"][i],
                span_id=c["span_id"][i],
                flags=_int(c["flags"][i]),
                event_name=_str(c["event_name"][i]),
                dropped_attributes_count=_int(c["dropped_attributes_count"][i]),
                resource=resource,
                scope=scope,
            )
        )
    return out


# -- metrics <-> MetricBatch -----------------------------------------------------------------
def _number_columns(value: int | float | None) -> dict[str, Any]:
    if value is None:
        return {"value_kind": int(NumberKind.NONE)}
    if isinstance(value, int):
        return {"value_kind": int(NumberKind.INT), "value_int": int(value)}
    return {"value_kind": int(NumberKind.DOUBLE), "value_double": float(value)}


def _number_value(kind: int | None, as_double: float | None, as_int: int | None) -> int | float | None:
    if kind == NumberKind.INT:
        return as_int
    if kind == NumberKind.DOUBLE:
        return as_double
    return None


def _point_columns(point: DataPoint) -> dict[str, Any]:
    """The type-specific columns of one data point (the others stay null)."""
    if isinstance(point, NumberDataPoint):
        return _number_columns(point.value)
    if isinstance(point, SummaryDataPoint):
        return {
            "count": point.count,
            "sum": point.sum,
            "quantile_values": [{"quantile": q, "value": v} for q, v in point.quantile_values],
        }
    cols: dict[str, Any] = {"count": point.count, "sum": point.sum, "min": point.min, "max": point.max}
    if isinstance(point, HistogramDataPoint):
        cols.update(bucket_counts=list(point.bucket_counts), explicit_bounds=list(point.explicit_bounds))
        return cols
    cols.update(scale=point.scale, zero_count=point.zero_count, zero_threshold=point.zero_threshold)
    for side, buckets in (("positive", point.positive), ("negative", point.negative)):
        if buckets is not None:
            cols[f"{side}_offset"] = buckets.offset
            cols[f"{side}_bucket_counts"] = list(buckets.bucket_counts)
    return cols


def metrics_to_batch(metrics: Iterable[Metric], *, rejections: Rejections | None = None) -> MetricBatch:
    """Build a ``MetricBatch`` from metrics (grouping and order: see the module docstring).

    Items are data points: an invalid point raises :class:`ValidationError`, or with
    ``rejections`` is counted there and skipped (its metric keeps its other points). A
    problem of the metric itself (metadata, resource, scope) refuses all its points
    (counted as at least one item)."""
    grouper: _Grouper[Metric] = _Grouper()
    for metric in metrics:
        what = f"metric {metric.name!r}: "
        problem = metric._problem() or grouper.origin_problem(metric)
        if problem is not None:
            _refuse(problem, rejections, what, max(1, len(metric.points)))
            continue
        kept: list[DataPoint] = []
        for i, point in enumerate(metric.points):
            if (problem := metric._point_problem(i, point)) is not None:
                _refuse(problem, rejections, what)
            else:
                kept.append(point)
        grouper.add(metric if len(kept) == len(metric.points) else replace(metric, points=kept))
    tables, groups = _origin_tables(grouper)
    rows, metadata = TableBuilder(S.METRICS), AttributeBuilder()
    points, point_attrs = TableBuilder(S.POINTS), AttributeBuilder()
    exemplars, exemplar_attrs = TableBuilder(S.EXEMPLARS), AttributeBuilder()
    for scope_row, items in groups:
        for metric in items:
            m = rows.append(
                scope=scope_row,
                name=metric.name,
                description=metric.description,
                unit=metric.unit,
                type=int(metric.type),
                aggregation_temporality=int(metric.aggregation_temporality)
                if metric.type in _HAS_TEMPORALITY
                else None,
                is_monotonic=bool(metric.is_monotonic) if metric.type == MetricType.SUM else None,
            )
            metadata.add_all(m, metric.metadata)
            for point in metric.points:
                p = points.append(
                    metric=m,
                    start_time_unix_nano=point.start_time_unix_nano,
                    time_unix_nano=point.time_unix_nano,
                    flags=point.flags,
                    **_point_columns(point),
                )
                point_attrs.add_all(p, point.attributes)
                if isinstance(point, SummaryDataPoint):
                    continue
                for ex in point.exemplars:
                    x = exemplars.append(
                        point=p,
                        time_unix_nano=ex.time_unix_nano,
                        span_id=ex.span_id,
                        trace_id=ex.trace_id,
                        **_number_columns(ex.value),
                    )
                    exemplar_attrs.add_all(x, ex.filtered_attributes)
    tables.update(
        metrics=rows.build(),
        metric_metadata=metadata.build(),
        points=points.build(),
        point_attributes=point_attrs.build(),
        exemplars=exemplars.build(),
        exemplar_attributes=exemplar_attrs.build(),
    )
    return MetricBatch(tables)


def _read_point(
    mtype: MetricType, c: dict[str, list[Any]], i: int, attributes: Attributes, exemplars: list[Exemplar]
) -> DataPoint:
    common: dict[str, Any] = {
        "attributes": attributes,
        "start_time_unix_nano": _int(c["start_time_unix_nano"][i]),
        "time_unix_nano": _int(c["time_unix_nano"][i]),
        "flags": _int(c["flags"][i]),
    }
    if mtype in (MetricType.GAUGE, MetricType.SUM):
        value = _number_value(c["value_kind"][i], c["value_double"][i], c["value_int"][i])
        return NumberDataPoint(value=value, exemplars=exemplars, **common)
    if mtype == MetricType.SUMMARY:
        return SummaryDataPoint(
            count=_int(c["count"][i]),
            sum=c["sum"][i] if c["sum"][i] is not None else 0.0,
            quantile_values=[(qv["quantile"], qv["value"]) for qv in c["quantile_values"][i] or ()],
            **common,
        )
    stats: dict[str, Any] = {"count": _int(c["count"][i]), "sum": c["sum"][i], "min": c["min"][i], "max": c["max"][i]}
    if mtype == MetricType.HISTOGRAM:
        return HistogramDataPoint(
            bucket_counts=list(c["bucket_counts"][i] or ()),
            explicit_bounds=list(c["explicit_bounds"][i] or ()),
            exemplars=exemplars,
            **stats,
            **common,
        )
    sides: dict[str, ExponentialBuckets | None] = {}
    for side in ("positive", "negative"):
        offset = c[f"{side}_offset"][i]
        sides[side] = None if offset is None else ExponentialBuckets(offset, list(c[f"{side}_bucket_counts"][i] or ()))
    return ExponentialHistogramDataPoint(
        scale=_int(c["scale"][i]),
        zero_count=_int(c["zero_count"][i]),
        zero_threshold=c["zero_threshold"][i] if c["zero_threshold"][i] is not None else 0.0,
        positive=sides["positive"],
        negative=sides["negative"],
        exemplars=exemplars,
        **stats,
        **common,
    )


def batch_to_metrics(batch: MetricBatch) -> list[Metric]:
    """The metrics of a batch as ``Metric`` objects with their points, in batch order."""
    origins = _read_origins(batch)
    mt, pt, xt = batch.metrics, batch.points, batch.table("exemplars")
    mc, pc, xc = _columns(mt), _columns(pt), _columns(xt)
    meta = attributes_by_row(batch.table("metric_metadata"), mt.num_rows)
    p_attrs = attributes_by_row(batch.table("point_attributes"), pt.num_rows)
    x_attrs = attributes_by_row(batch.table("exemplar_attributes"), xt.num_rows)
    points_of = _children(pt, "metric", mt.num_rows)
    exemplars_of = _children(xt, "point", pt.num_rows)
    out: list[Metric] = []
    for m in range(mt.num_rows):
        resource, scope = origins[mc["scope"][m]]
        mtype = MetricType(_int(mc["type"][m]))
        if mtype == MetricType.EMPTY and points_of[m]:
            raise ValueError(f"metric row {m} ({mc['name'][m]!r}) has type EMPTY but {len(points_of[m])} points")
        points: list[DataPoint] = []
        for p in points_of[m]:
            exemplars = [
                Exemplar(
                    time_unix_nano=_int(xc["time_unix_nano"][x]),
                    value=_number_value(xc["value_kind"][x], xc["value_double"][x], xc["value_int"][x]),
                    filtered_attributes=x_attrs[x],
                    trace_id=xc["trace_id"][x],
                    span_id=xc["span_id"][x],
                )
                for x in exemplars_of[p]
            ]
            points.append(_read_point(mtype, pc, p, p_attrs[p], exemplars))
        out.append(
            Metric(
                _str(mc["name"][m]),
                mtype,
                points,
                description=_str(mc["description"][m]),
                unit=_str(mc["unit"][m]),
                aggregation_temporality=AggregationTemporality(_int(mc["aggregation_temporality"][m])),
                is_monotonic=bool(mc["is_monotonic"][m]),
                metadata=meta[m],
                resource=resource,
                scope=scope,
            )
        )
    return out


__all__ = [
    "DEFAULT_HISTOGRAM_BOUNDS",
    "DataPoint",
    "EntityRef",
    "Exemplar",
    "ExponentialBuckets",
    "ExponentialHistogramDataPoint",
    "HistogramDataPoint",
    "InstrumentationScope",
    "LogEntry",
    "Metric",
    "NumberDataPoint",
    "Resource",
    "Severity",
    "Span",
    "SpanEvent",
    "SpanKind",
    "SpanLink",
    "SpanStatus",
    "StatusCode",
    "SummaryDataPoint",
    "batch_to_logs",
    "batch_to_metrics",
    "batch_to_spans",
    "logs_to_batch",
    "metrics_to_batch",
    "spans_to_batch",
]
