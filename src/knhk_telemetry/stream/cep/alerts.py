"""Alerts, message templates and rules.

A :class:`Rule` names a pattern, how events are partitioned, what an alert says and where it
goes. Messages are ``str.format_map`` templates over these variables (a variable that has no
value for a pattern renders as an empty string, whatever its format spec):

=====================  ==================================================================
``rule`` / ``rule_id``  the rule id
``description``         the rule's description
``severity``            ``info``, ``warning``, ``error`` or ``critical``
``pattern``             the pattern kind (``count_threshold``, ``sequence``, ...)
``key``                 the partition key as text (``checkout``; several fields:
                        ``service=checkout,name=GET /cart``; unpartitioned: ``*``)
``keys``                the key per field: ``{keys[service]}``
``partition_by``        the partition fields, comma separated
``count``               matches in the window (threshold), steps matched (sequences),
                        events in a row (consecutive), 0 for a heartbeat
``errors``, ``rate``    errors and error rate (0..1, try ``{rate:.1%}``): rate_threshold
``threshold``           the pattern's count or rate threshold
``window``, ``window_s``  the pattern's ``within`` as ``1m30s`` and as seconds
``window_start``, ``window_end``  the firing window (ISO 8601 UTC), ``time`` the firing
                        time; ``*_unix_nano`` variants hold the integers
``first_span_name``, ``first_span_id``, ``first_trace_id`` and ``last_*``: the first and
                        last matched span known (threshold rules: from the batch that fired)
``span_names``          names of the matched spans, `` -> `` separated
``attrs``               the fields listed in the rule's ``capture`` for the last matched
                        span: ``{attrs[http.route]}``
=====================  ==================================================================

Only plain lookups are allowed (``{attrs[x]}``, not ``{x.__class__}``): the template is
checked when the rule is made.
"""

from __future__ import annotations

import datetime as dt
import math
import string
import uuid
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from knhk_telemetry.config import format_duration
from knhk_telemetry.stream.cep.patterns import NS, Fire, Pattern

if TYPE_CHECKING:
    from knhk_telemetry.stream.cep.actions import Action

Severity = Literal["info", "warning", "error", "critical"]
SEVERITIES: tuple[str, ...] = ("info", "warning", "error", "critical")
TEMPLATE_VARIABLES: frozenset[str] = frozenset(
    (
        "rule",
        "rule_id",
        "description",
        "severity",
        "pattern",
        "key",
        "keys",
        "partition_by",
        "count",
        "errors",
        "rate",
        "threshold",
        "window",
        "window_s",
        "window_start",
        "window_end",
        "window_start_unix_nano",
        "window_end_unix_nano",
        "time",
        "time_unix_nano",
        "first_span_name",
        "first_span_id",
        "first_trace_id",
        "last_span_name",
        "last_span_id",
        "last_trace_id",
        "span_names",
        "attrs",
    )
)
DEFAULT_MESSAGE = "{rule}: {pattern} fired for {key} (count {count})"
DEFAULT_DEDUP_KEY = "{rule}:{key}"


class _Missing:
    """A template value that is not known: renders as '' whatever the format spec."""

    def __format__(self, spec: str) -> str:
        return ""

    def __str__(self) -> str:
        return ""

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


class _SafeDict(dict[str, Any]):
    """Unknown keys render as '' (format_map calls __missing__ instead of raising)."""

    def __missing__(self, key: str) -> Any:
        return MISSING


def check_template(template: str) -> None:
    """Raise ``ValueError`` unless ``template`` is a valid message template (see module doc)."""
    if not isinstance(template, str):
        raise ValueError(f"a template must be a string, got {type(template).__name__}")
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"invalid template {template!r}: {exc}") from None
    for _, name, spec, _ in parsed:
        if name is None:
            continue
        if name == "" or name.isdigit():
            raise ValueError(f"invalid template {template!r}: positional fields are not allowed, name a variable")
        root, rest = _split_field(name)
        if any(is_attr for is_attr, _ in rest):
            raise ValueError(f"invalid template {template!r}: attribute access ({name!r}) is not allowed")
        if root not in TEMPLATE_VARIABLES:
            raise ValueError(f"unknown template variable {root!r} in {template!r}; known: {sorted(TEMPLATE_VARIABLES)}")
        if spec and "{" in spec:
            raise ValueError(f"invalid template {template!r}: nested fields are not allowed")


def _split_field(name: str) -> tuple[str, list[tuple[bool, str]]]:
    # ``formatter_field_name_split`` is the parser str.format itself uses
    from _string import formatter_field_name_split  # type: ignore[import-not-found]

    root, rest = formatter_field_name_split(name)
    return str(root), [(bool(a), str(b)) for a, b in rest]


def render(template: str, variables: Mapping[str, Any]) -> str:
    """``template.format_map`` over the variables; a bad value for a format spec gives the
    template text with the error appended rather than an exception."""
    safe = _SafeDict(
        {k: (_SafeDict(v) if isinstance(v, Mapping) else (MISSING if v is None else v)) for k, v in variables.items()}
    )
    try:
        return template.format_map(safe)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        return f"{template} [template error: {exc}]"


def iso_time(ns: int | None) -> str | None:
    """``2023-11-14T22:13:20.000000000Z`` (UTC, nanoseconds) or None."""
    if ns is None:
        return None
    seconds, frac = divmod(int(ns), NS)
    try:
        stamp = dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return f"{stamp:%Y-%m-%dT%H:%M:%S}.{frac:09d}Z"


def key_text(key: Hashable, fields: Sequence[str]) -> str:
    """The partition key as text (see the ``key`` template variable)."""
    if not fields:
        return "*"
    if len(fields) == 1:
        return _value_text(key)
    assert isinstance(key, tuple)
    return ",".join(f"{f}={_value_text(v)}" for f, v in zip(fields, key, strict=True))


def _value_text(value: object) -> str:
    if isinstance(value, bytes):
        return value.hex()
    return "" if value is None else str(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """One alert: a rule's pattern fired for a partition key."""

    id: str
    rule_id: str
    severity: Severity
    message: str
    pattern: str
    key: Hashable
    key_text: str
    time_unix_nano: int  # event time of the firing (window end, last event, timer)
    emitted_unix_nano: int  # processing time when the engine emitted it
    dedup_key: str
    context: Mapping[str, Any] = field(default_factory=dict)  # the template variables

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the generic webhook payload)."""
        return {
            "id": self.id,
            "rule_id": self.rule_id,
            "severity": self.severity,
            "message": self.message,
            "pattern": self.pattern,
            "key": self.key_text,
            "time": iso_time(self.time_unix_nano),
            "time_unix_nano": self.time_unix_nano,
            "emitted_unix_nano": self.emitted_unix_nano,
            "dedup_key": self.dedup_key,
            "context": _jsonable(self.context),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


@dataclass(frozen=True, slots=True)
class Rule:
    """A CEP rule: ``pattern`` per partition of ``partition_by``, alerts to ``actions``.

    ``partition_by``: a field (``service``, ``name``, ``kind``, ``status``, ``trace_id``,
    ``span_id``, ``resource.<key>``, ``attributes.<key>`` or a bare span attribute key), a
    tuple of them, or ``None``/``()`` for one global partition. Events lacking a key field
    take no part (counted). ``suppress_for`` (seconds of event time): an alert whose
    rendered ``dedup_key`` equals that of an alert of this rule less than ``suppress_for``
    earlier is suppressed (counted); an alert with the same dedup key *and* time as an
    earlier one (a replay) is always dropped. ``capture``: fields of the matched spans put
    in ``attrs`` for templates and payloads. ``max_partitions``: partition keys kept; the
    least recently seen are evicted beyond that (counted)."""

    id: str
    pattern: Pattern
    partition_by: str | tuple[str, ...] | None = "service"
    actions: tuple[Action, ...] = ()
    severity: Severity = "warning"
    message: str = DEFAULT_MESSAGE
    suppress_for: float = 0.0
    dedup_key: str = DEFAULT_DEDUP_KEY
    description: str = ""
    capture: tuple[str, ...] = ()
    max_partitions: int = 100_000

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"rule id must be a non-empty string, got {self.id!r}")
        if not isinstance(self.pattern, Pattern):
            raise ValueError(f"rule {self.id!r}: pattern must be a Pattern, got {type(self.pattern).__name__}")
        object.__setattr__(self, "actions", tuple(self.actions))
        object.__setattr__(self, "capture", tuple(self.capture))
        if self.severity not in SEVERITIES:
            raise ValueError(f"rule {self.id!r}: severity must be one of {list(SEVERITIES)}, got {self.severity!r}")
        for what, template in (("message", self.message), ("dedup_key", self.dedup_key)):
            try:
                check_template(template)
            except ValueError as exc:
                raise ValueError(f"rule {self.id!r}: {what}: {exc}") from None
        if isinstance(self.suppress_for, bool) or not isinstance(self.suppress_for, int | float):
            raise ValueError(f"rule {self.id!r}: suppress_for must be seconds, got {self.suppress_for!r}")
        if not (math.isfinite(self.suppress_for) and self.suppress_for >= 0):
            raise ValueError(f"rule {self.id!r}: suppress_for must be >= 0 seconds, got {self.suppress_for!r}")
        if isinstance(self.max_partitions, bool) or not isinstance(self.max_partitions, int) or self.max_partitions < 1:
            raise ValueError(f"rule {self.id!r}: max_partitions must be an integer >= 1, got {self.max_partitions!r}")
        for f in self.fields:
            if not isinstance(f, str) or not f:
                raise ValueError(f"rule {self.id!r}: partition field must be a non-empty string, got {f!r}")

    @property
    def fields(self) -> tuple[str, ...]:
        """The partition fields (empty: one global partition)."""
        if self.partition_by is None:
            return ()
        return (self.partition_by,) if isinstance(self.partition_by, str) else tuple(self.partition_by)


def template_variables(rule: Rule, key: Hashable, fire: Fire, *, captured_fields: Iterable[str] = ()) -> dict[str, Any]:
    """The template variables of one firing (see the module docstring); None = unknown."""
    spec = rule.pattern
    fields = rule.fields
    within = spec.within_ns
    first = fire.events[0] if fire.events else None
    last = fire.events[-1] if fire.events else None
    attrs: dict[str, Any] = {}
    for ref in fire.events:
        attrs.update({k: _jsonable(v) for k, v in ref.attributes.items() if v is not None})
    parts: tuple[Any, ...] = key if isinstance(key, tuple) and len(fields) > 1 else (key,)
    keys = dict(zip(fields, parts, strict=False)) if fields else {}
    threshold = getattr(spec, "threshold", None)
    if threshold is None:
        threshold = getattr(spec, "count", None)
    return {
        "rule": rule.id,
        "rule_id": rule.id,
        "description": rule.description,
        "severity": rule.severity,
        "pattern": spec.kind,
        "key": key_text(key, fields),
        "keys": {k: _value_text(v) for k, v in keys.items()},
        "partition_by": ",".join(fields),
        "count": fire.count,
        "errors": fire.errors,
        "rate": fire.detail.get("rate"),
        "threshold": threshold,
        "window": format_duration(within / NS) if within is not None else None,
        "window_s": within / NS if within is not None else None,
        "window_start": iso_time(fire.window_start_unix_nano),
        "window_end": iso_time(fire.window_end_unix_nano),
        "window_start_unix_nano": fire.window_start_unix_nano,
        "window_end_unix_nano": fire.window_end_unix_nano,
        "time": iso_time(fire.time_unix_nano),
        "time_unix_nano": fire.time_unix_nano,
        "first_span_name": first.name if first else None,
        "first_span_id": first.span_id if first else None,
        "first_trace_id": first.trace_id if first else None,
        "last_span_name": last.name if last else None,
        "last_span_id": last.span_id if last else None,
        "last_trace_id": last.trace_id if last else None,
        "span_names": " -> ".join(e.name for e in fire.events) if fire.events else None,
        "attrs": attrs,
    }


def new_alert_id() -> str:
    return uuid.uuid4().hex


__all__ = [
    "DEFAULT_DEDUP_KEY",
    "DEFAULT_MESSAGE",
    "MISSING",
    "SEVERITIES",
    "TEMPLATE_VARIABLES",
    "Alert",
    "Rule",
    "Severity",
    "check_template",
    "iso_time",
    "key_text",
    "render",
    "template_variables",
]
