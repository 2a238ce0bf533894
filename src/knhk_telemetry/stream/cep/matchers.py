"""``EventMatcher``: a predicate over spans, evaluated over a whole batch to a boolean mask.

Matchers are small immutable expression trees combined with ``&``, ``|`` and ``~``::

    >>> from knhk_telemetry.stream.cep import EventMatcher as M
    >>> slow_checkout_errors = M.service("checkout") & M.status("error") & M.duration(">", 0.5)
    >>> bad_route = M.attr("http.route", "regex", r"^/api/orders") | M.attr("http.response.status_code", ">=", 500)
    >>> print(slow_checkout_errors)
    (service == 'checkout' & status == error & duration > 0.5s)

Why vectorised: a rule sees every span of the stream, so a matcher costs one numpy pass per
batch. A regex or string comparison runs once per DISTINCT value of the dictionary-encoded
column (span names, ``service.name``, string attributes: a few hundred values per batch) and
is mapped to rows through the dictionary indices; numeric comparisons run with numpy on the
attribute table's (dictionary) values; attribute rows map back to spans through the sorted
``row`` column. Results are cached per batch, so rules sharing a sub-matcher pay for it once.

Comparisons with an absent attribute are false (as in SQL), also for ``!=``; use
``~M.attr(key, "==", v)`` for "not equal or absent" and ``M.has(key)`` for presence.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias, cast

import numpy as np

from knhk_telemetry.model.schema import SpanKind, StatusCode, ValueType
from knhk_telemetry.stream.cep._columns import Array, AttrSlice, BatchView, Coded, dense_unique, lookup

Op: TypeAlias = Literal["==", "!=", "<", "<=", ">", ">=", "regex"]
OPS: tuple[str, ...] = ("==", "!=", "<", "<=", ">", ">=", "regex")
_NUMERIC_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
STATUSES: dict[str, int] = {"unset": StatusCode.UNSET, "ok": StatusCode.OK, "error": StatusCode.ERROR}
KINDS: dict[str, int] = {k.name.lower(): int(k) for k in SpanKind}


class EventMatcher:
    """Base of all matchers: ``mask(view)`` gives one bool per span of the view's batch."""

    __slots__ = ()

    def mask(self, view: BatchView) -> Array:
        """One bool per span: does the span match? (Cached per view.)"""
        # repr tells 1 from True (dataclass equality does not)
        return view._cached(("matcher", repr(self)), lambda: self._eval(view))  # type: ignore[no-any-return]

    def _eval(self, view: BatchView) -> Array:
        raise NotImplementedError

    def __and__(self, other: EventMatcher) -> EventMatcher:
        return And.of([self, other])

    def __or__(self, other: EventMatcher) -> EventMatcher:
        return Or.of([self, other])

    def __invert__(self) -> EventMatcher:
        return self.inner if isinstance(self, Not) else Not(self)

    # -- constructors -------------------------------------------------------------------------
    @staticmethod
    def everything() -> EventMatcher:
        """Matches every span."""
        return _ALL

    @staticmethod
    def name(pattern: str) -> EventMatcher:
        """Span name matches the regex ``pattern`` (``re.search``; anchor with ``^...$``)."""
        return NameRegex(pattern)

    @staticmethod
    def name_is(value: str) -> EventMatcher:
        """Span name equals ``value``."""
        return NameRegex(f"^{re.escape(value)}$")

    @staticmethod
    def status(status: str | int) -> EventMatcher:
        """Status code is ``ok``, ``error`` or ``unset``."""
        return Status(_enum_value(status, STATUSES, "status"))

    @staticmethod
    def kind(kind: str | int) -> EventMatcher:
        """Span kind is ``internal``, ``server``, ``client``, ``producer``, ``consumer`` or ``unspecified``."""
        return Kind(_enum_value(kind, KINDS, "kind"))

    @staticmethod
    def duration(op: str, seconds: float) -> EventMatcher:
        """Duration (end - start) compared with ``seconds``, e.g. ``duration(">", 0.5)``."""
        if op not in _NUMERIC_OPS:
            raise ValueError(f"duration operator must be one of {sorted(_NUMERIC_OPS)}, got {op!r}")
        return Duration(op, float(seconds))

    @staticmethod
    def service(name: str) -> EventMatcher:
        """The resource's ``service.name`` equals ``name``."""
        return ResourceAttr("service.name", "==", name)

    @staticmethod
    def service_regex(pattern: str) -> EventMatcher:
        """The resource's ``service.name`` matches the regex ``pattern``."""
        return ResourceAttr("service.name", "regex", pattern)

    @staticmethod
    def attr(key: str, op: str, value: object) -> EventMatcher:
        """Span attribute ``key`` compared with ``value``: ``==``/``!=`` (any type), ``<``,
        ``<=``, ``>``, ``>=`` (numbers: int and double attributes), ``regex`` (strings)."""
        return SpanAttr(key, *_check_op(op, value))

    @staticmethod
    def has(key: str) -> EventMatcher:
        """Span attribute ``key`` is present."""
        return SpanAttr(key, "exists", None)

    @staticmethod
    def resource_has(key: str) -> EventMatcher:
        """Resource attribute ``key`` is present."""
        return ResourceAttr(key, "exists", None)

    @staticmethod
    def resource_attr(key: str, op: str, value: object) -> EventMatcher:
        """Like :meth:`attr` for an attribute of the span's resource."""
        return ResourceAttr(key, *_check_op(op, value))


def _enum_value(value: str | int, names: dict[str, int], what: str) -> int:
    if isinstance(value, str):
        if value.lower() not in names:
            raise ValueError(f"{what} must be one of {sorted(names)}, got {value!r}")
        return names[value.lower()]
    if isinstance(value, bool) or not isinstance(value, int) or value not in names.values():
        raise ValueError(f"{what} must be one of {sorted(names)}, got {value!r}")
    return value


def _check_op(op: str, value: object) -> tuple[str, object]:
    if op not in OPS:
        raise ValueError(f"operator must be one of {list(OPS)}, got {op!r}")
    if op == "regex":
        if not isinstance(value, str):
            raise ValueError(f"regex needs a string pattern, got {value!r}")
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regex {value!r}: {exc}") from None
    elif op in ("<", "<=", ">", ">="):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{op} needs a number, got {value!r}")
    elif not isinstance(value, str | int | float | bool):
        raise ValueError(f"{op} needs a string, number or bool, got {value!r}")
    return op, value


@dataclass(frozen=True, slots=True)
class _Everything(EventMatcher):
    def _eval(self, view: BatchView) -> Array:
        return np.ones(view.n, bool)

    def __str__(self) -> str:
        return "*"


_ALL = _Everything()


@dataclass(frozen=True, slots=True)
class And(EventMatcher):
    parts: tuple[EventMatcher, ...]

    @staticmethod
    def of(parts: Iterable[EventMatcher]) -> EventMatcher:
        flat: list[EventMatcher] = []
        for p in parts:
            flat.extend(p.parts if isinstance(p, And) else (p,))
        return flat[0] if len(flat) == 1 else And(tuple(flat))

    def _eval(self, view: BatchView) -> Array:
        out = self.parts[0].mask(view).copy()
        for p in self.parts[1:]:
            if not out.any():
                break
            out &= p.mask(view)
        return out

    def __str__(self) -> str:
        return "(" + " & ".join(map(str, self.parts)) + ")"


@dataclass(frozen=True, slots=True)
class Or(EventMatcher):
    parts: tuple[EventMatcher, ...]

    @staticmethod
    def of(parts: Iterable[EventMatcher]) -> EventMatcher:
        flat: list[EventMatcher] = []
        for p in parts:
            flat.extend(p.parts if isinstance(p, Or) else (p,))
        return flat[0] if len(flat) == 1 else Or(tuple(flat))

    def _eval(self, view: BatchView) -> Array:
        out = self.parts[0].mask(view).copy()
        for p in self.parts[1:]:
            out |= p.mask(view)
        return out

    def __str__(self) -> str:
        return "(" + " | ".join(map(str, self.parts)) + ")"


@dataclass(frozen=True, slots=True)
class Not(EventMatcher):
    inner: EventMatcher

    def _eval(self, view: BatchView) -> Array:
        return ~self.inner.mask(view)

    def __str__(self) -> str:
        return f"~{self.inner}"


@dataclass(frozen=True, slots=True)
class NameRegex(EventMatcher):
    pattern: str

    def __post_init__(self) -> None:
        _check_op("regex", self.pattern)

    def _eval(self, view: BatchView) -> Array:
        codes, names = view.name_codes()
        rx = re.compile(self.pattern)
        table = np.array([n is not None and rx.search(n) is not None for n in names] + [False], bool)
        return lookup(codes, table)

    def __str__(self) -> str:
        return f"name ~ {self.pattern!r}"


@dataclass(frozen=True, slots=True)
class Status(EventMatcher):
    code: int

    def _eval(self, view: BatchView) -> Array:
        return view.status == self.code  # type: ignore[no-any-return]

    def __str__(self) -> str:
        return f"status == {StatusCode(self.code).name.lower()}"


@dataclass(frozen=True, slots=True)
class Kind(EventMatcher):
    code: int

    def _eval(self, view: BatchView) -> Array:
        return view.kind == self.code  # type: ignore[no-any-return]

    def __str__(self) -> str:
        return f"kind == {SpanKind(self.code).name.lower()}"


@dataclass(frozen=True, slots=True)
class Duration(EventMatcher):
    op: str
    seconds: float

    def _eval(self, view: BatchView) -> Array:
        return cast(Array, _NUMERIC_OPS[self.op](view.duration, round(self.seconds * 1e9)))

    def __str__(self) -> str:
        return f"duration {self.op} {self.seconds:g}s"


def _attr_rows_mask(attrs: AttrSlice, op: str, value: object) -> Array:  # noqa: PLR0911 (one return per case)
    """Per attribute row: does its value satisfy ``op value``? Evaluated on dictionaries."""
    if len(attrs) == 0:
        return np.zeros(0, bool)
    if op == "exists":
        return attrs.types >= 0
    if op == "regex":
        rx = re.compile(cast(str, value))
        table = np.array([s is not None and rx.search(s) is not None for s in attrs.str_values] + [False], bool)
        return cast(Array, (attrs.types == ValueType.STRING) & lookup(attrs.str_codes, table))
    if isinstance(value, str):
        if op not in ("==", "!="):
            return np.zeros(len(attrs), bool)
        eq = np.array([s == value for s in attrs.str_values] + [False], bool)
        hit = lookup(attrs.str_codes, eq)
        is_str = attrs.types == ValueType.STRING
        return cast(Array, is_str & (hit if op == "==" else ~hit))
    if isinstance(value, bool):
        if op not in ("==", "!="):
            return np.zeros(len(attrs), bool)
        is_bool = attrs.types == ValueType.BOOL
        same = attrs.bools == int(value)
        return cast(Array, is_bool & (same if op == "==" else ~same))
    fn = _NUMERIC_OPS[op]
    # evaluate on the dictionaries (distinct values), then map through the codes
    int_table = np.append(fn(attrs.int_values.astype(np.float64), float(cast(float, value))), False)
    dbl_table = np.append(fn(attrs.dbl_values, float(cast(float, value))), False)
    is_int = (attrs.types == ValueType.INT) & lookup(attrs.int_codes, int_table)
    return cast(Array, is_int | ((attrs.types == ValueType.DOUBLE) & lookup(attrs.dbl_codes, dbl_table)))


def _describe(kind: str, key: str, op: str, value: object) -> str:
    return f"{kind}[{key!r}] exists" if op == "exists" else f"{kind}[{key!r}] {op} {value!r}"


@dataclass(frozen=True, slots=True)
class SpanAttr(EventMatcher):
    key: str
    op: str
    value: object

    def _eval(self, view: BatchView) -> Array:
        attrs = view.span_attr(self.key)
        out = np.zeros(view.n, bool)
        hit = _attr_rows_mask(attrs, self.op, self.value)
        out[attrs.rows[hit]] = True
        return out

    def __str__(self) -> str:
        return _describe("attr", self.key, self.op, self.value)


@dataclass(frozen=True, slots=True)
class ResourceAttr(EventMatcher):
    key: str
    op: str
    value: object

    def _eval(self, view: BatchView) -> Array:
        attrs = view.resource_attr(self.key)
        per_resource = np.zeros(view.batch.resources.num_rows, bool)
        per_resource[attrs.rows[_attr_rows_mask(attrs, self.op, self.value)]] = True
        return per_resource[view.resource_index()] if view.n else np.zeros(0, bool)

    def __str__(self) -> str:
        if self.key == "service.name" and self.op in ("==", "regex"):
            return f"service {'==' if self.op == '==' else '~'} {self.value!r}"
        return _describe("resource", self.key, self.op, self.value)


def coded_values(view: BatchView, fields: tuple[str, ...], idx: Array) -> Coded:
    """Partition key of the spans at ``idx``: one field as is, several as tuples of values
    (code -1 when a field is absent)."""
    if len(fields) == 1:
        return view.field(fields[0], idx)
    parts = [view.field(f, idx) for f in fields]
    # one mixed-radix code over the fields' codes (+1 so that "absent" is a digit too)
    radix = [len(p.values) + 1 for p in parts]
    if float(np.prod(np.array(radix, np.float64))) >= 2.0**62:
        stacked = np.stack([p.codes for p in parts], axis=1)
        uniq_rows, inv = np.unique(stacked, axis=0, return_inverse=True)
        values = [
            tuple(p.values[c] if c >= 0 else None for p, c in zip(parts, row, strict=True))
            for row in uniq_rows.tolist()
        ]
        return Coded(np.asarray(inv, np.int64).ravel(), values)
    combined = np.zeros(len(idx), np.int64)
    for p, r in zip(parts, radix, strict=True):
        combined = combined * r + (p.codes + 1)
    uniq, inverse = dense_unique(combined, int(np.prod(np.array(radix, np.int64))))
    digits: list[Array] = []
    rest = uniq
    for r in reversed(radix):
        digits.append(rest % r - 1)
        rest = rest // r
    digits.reverse()
    columns = [[p.values[c] if c >= 0 else None for c in d.tolist()] for p, d in zip(parts, digits, strict=True)]
    # a key lacking any of its fields is absent (code -1)
    incomplete = np.append(np.any(np.stack(digits) < 0, axis=0), True) if len(uniq) else np.ones(1, bool)
    return Coded(np.where(incomplete[inverse], -1, inverse), list(zip(*columns, strict=True)))


__all__ = ["KINDS", "OPS", "STATUSES", "And", "EventMatcher", "Not", "Op", "Or", "coded_values"]
