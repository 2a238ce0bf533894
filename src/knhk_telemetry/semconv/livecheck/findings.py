"""Findings: the ids, levels and shape of Weaver's live-check advice, and their columnar form.

A :class:`Finding` is one piece of advice exactly as Weaver's ``PolicyFinding`` serialises it
(``id``, ``level``, ``message``, ``context``, ``signal_type``, ``signal_name``). The checker never
makes one per span: it computes findings once per distinct attribute key, value, metric name or
span shape, numbers the distinct findings of a batch (``BatchFindings.findings``) and stores, per
entity table, the list of finding numbers of every row as CSR arrays (offsets + codes).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import numpy as np
import pyarrow as pa

__all__ = [
    "DEFAULT_LEVELS",
    "EXTRA_FINDING_IDS",
    "FINDING_IDS",
    "LEVELS",
    "BatchFindings",
    "Codes",
    "Finding",
    "Level",
    "level_rank",
]

Level = Literal["violation", "improvement", "information"]
#: Levels from the least to the most severe (Weaver's ``FindingLevel`` order).
LEVELS: tuple[Level, ...] = ("information", "improvement", "violation")
_RANK: dict[str, int] = {"information": 1, "improvement": 2, "violation": 3}

#: Weaver's live-check finding ids with their default level.
DEFAULT_LEVELS: Mapping[str, Level] = {
    "missing_attribute": "violation",
    "missing_metric": "violation",
    "missing_event": "violation",
    "deprecated": "violation",
    "type_mismatch": "violation",
    "unit_mismatch": "violation",
    "unexpected_instrument": "violation",
    "required_attribute_not_present": "violation",
    "entity_required_attribute_not_present": "violation",
    "entity_association_not_satisfied": "violation",
    "invalid_format": "violation",
    "illegal_namespace": "violation",
    "not_stable": "improvement",
    "recommended_attribute_not_present": "improvement",
    "entity_recommended_attribute_not_present": "improvement",
    "missing_namespace": "improvement",
    "unexpected_attribute": "improvement",
    "template_attribute": "information",
    "undefined_enum_variant": "information",
    "opt_in_attribute_not_present": "information",
    "conditionally_required_attribute_not_present": "information",
    "entity_opt_in_attribute_not_present": "information",
    "entity_conditionally_required_attribute_not_present": "information",
    "extends_namespace": "information",
    # from Weaver's span-type work in progress: the span kind differs from the span definition's
    "span_kind_mismatch": "violation",
}
FINDING_IDS: tuple[str, ...] = tuple(DEFAULT_LEVELS)
#: Ids this checker emits that Weaver's released live-check does not (yet).
EXTRA_FINDING_IDS: frozenset[str] = frozenset({"unexpected_attribute", "span_kind_mismatch"})

#: A context value: what JSON allows, with lists frozen to tuples so findings hash.
ContextValue: TypeAlias = "str | int | float | bool | tuple[ContextValue, ...] | None"


def level_rank(level: str) -> int:
    """1 (information) .. 3 (violation); 0 for anything else (``none``)."""
    return _RANK.get(level, 0)


def _freeze(value: Any) -> ContextValue:
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value  # type: ignore[no-any-return]


def _thaw(value: ContextValue) -> Any:
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class Finding:
    """One piece of advice (Weaver's ``PolicyFinding``).

    ``signal_name`` is left None on findings shared by many signals (an attribute's findings
    are computed once per key, not per span): the report fills it from the signal the finding
    was given on. ``sample_name`` is what Weaver's filters match (``sample_names``): the
    attribute key, span, metric or event name; it is not part of the output.
    """

    id: str
    level: Level
    message: str
    context: tuple[tuple[str, ContextValue], ...] | None = None
    signal_type: str | None = None
    signal_name: str | None = None
    sample_name: str | None = field(default=None, compare=False)

    @classmethod
    def make(
        cls,
        finding_id: str,
        message: str,
        context: Mapping[str, Any] | None = None,
        level: Level | None = None,
        /,
        *,
        signal_type: str | None,
        **names: str | None,
    ) -> Finding:
        """A finding with the id's default level unless ``level`` is given; ``names`` are
        ``signal_name`` and ``sample_name``."""
        unknown = set(names) - {"signal_name", "sample_name"}
        if unknown:
            raise TypeError(f"unexpected argument(s) {sorted(unknown)}")
        ctx = None if context is None else tuple((k, _freeze(v)) for k, v in context.items())
        return cls(
            finding_id,
            level or DEFAULT_LEVELS[finding_id],
            message,
            ctx,
            signal_type,
            names.get("signal_name"),
            names.get("sample_name"),
        )

    @property
    def context_dict(self) -> dict[str, Any] | None:
        """The context as a JSON-ready dict (None when the finding has none)."""
        return None if self.context is None else {k: _thaw(v) for k, v in self.context}

    def to_dict(self, signal_name: str | None = None) -> dict[str, Any]:
        """Weaver's JSON shape; ``signal_name`` fills a name the finding does not carry."""
        return {
            "id": self.id,
            "level": self.level,
            "message": self.message,
            "context": self.context_dict,
            "signal_type": self.signal_type,
            "signal_name": self.signal_name if self.signal_name is not None else signal_name,
        }

    def __str__(self) -> str:
        return f"[{self.level}] {self.id}: {self.message}"


def _empty_offsets(n: int) -> np.ndarray[Any, Any]:
    return np.zeros(n + 1, dtype=np.int64)


_NO_CODES = np.zeros(0, dtype=np.int32)


@dataclass(frozen=True, slots=True)
class Codes:
    """Finding codes of the rows of one table, as CSR: row ``i`` has ``codes[offsets[i]:offsets[i+1]]``."""

    offsets: np.ndarray[Any, Any]
    codes: np.ndarray[Any, Any]

    @classmethod
    def empty(cls, n: int) -> Codes:
        return cls(_empty_offsets(n), _NO_CODES)

    @classmethod
    def from_pairs(cls, n: int, rows: np.ndarray[Any, Any], codes: np.ndarray[Any, Any]) -> Codes:
        """From (row, code) pairs already in row order (stable within a row)."""
        if len(rows) == 0:
            return cls.empty(n)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=offsets[1:])
        return cls(offsets, np.asarray(codes, dtype=np.int32))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def total(self) -> int:
        return len(self.codes)

    def counts(self) -> np.ndarray[Any, Any]:
        """Number of findings per row."""
        return np.diff(self.offsets)

    def row(self, i: int) -> np.ndarray[Any, Any]:
        return self.codes[self.offsets[i] : self.offsets[i + 1]]

    def row_ids(self) -> np.ndarray[Any, Any]:
        """The row of every code (the inverse of the offsets)."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.counts())

    def highest(self, code_rank: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """Highest level rank (0 none .. 3 violation) per row, given the rank of every code."""
        out = np.zeros(len(self), dtype=np.int8)
        if self.total:
            np.maximum.at(out, self.row_ids(), code_rank[self.codes])
        return out


#: the entity type Weaver counts a table's rows as (``total_entities_by_type``)
ENTITY_TYPES: Mapping[str, str] = {
    "resources": "resource",
    "scopes": "instrumentation_scope",
    "spans": "span",
    "events": "span_event",
    "links": "span_link",
    "metrics": "metric",
    "points": "data_point",
    "exemplars": "exemplar",
    "logs": "log",
}


@dataclass(eq=False)
class BatchFindings:
    """What the checker found in one batch, columnar.

    - ``findings``: the distinct findings of the batch; a code is an index into it.
    - ``tables``: per entity table (``spans``, ``span_attributes``, ``resources``, ...) the codes of
      every row, as Weaver gives them to that entity (attribute advice on the attribute, required
      attributes on the span or data point, unit on the metric).
    - ``items``: per item (span, data point, log record) the codes of the item, its attributes, its
      events/links/exemplars and (for data points) its metric: what ``tag``/``drop`` act on.
      Resource and scope findings are not rolled up into items.
    - ``entity_counts``: entities by Weaver type; ``seen_attributes`` etc.: observations by name,
      with the flag whether the name is a (non-deprecated) registry entry.
    """

    signal: str
    findings: tuple[Finding, ...]
    tables: dict[str, Codes]
    items: Codes
    entity_counts: dict[str, int] = field(default_factory=dict)
    seen_attributes: dict[str, int] = field(default_factory=dict)
    seen_metrics: dict[str, int] = field(default_factory=dict)
    seen_events: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rank = np.array([level_rank(f.level) for f in self.findings], dtype=np.int8)

    # -- per code -----------------------------------------------------------------------------
    @property
    def code_rank(self) -> np.ndarray[Any, Any]:
        """Level rank (1..3) of every code."""
        return self._rank

    def ids(self, codes: Sequence[int] | np.ndarray[Any, Any]) -> list[str]:
        return [self.findings[int(c)].id for c in codes]

    # -- counts -------------------------------------------------------------------------------
    def code_counts(self) -> np.ndarray[Any, Any]:
        """How often each code was given, over every entity table."""
        out = np.zeros(len(self.findings), dtype=np.int64)
        for codes in self.tables.values():
            if codes.total:
                out += np.bincount(codes.codes, minlength=len(self.findings))
        return out

    def counts(self) -> dict[tuple[str, str], int]:
        """Findings by ``(id, level)``."""
        out: dict[tuple[str, str], int] = {}
        for f, c in zip(self.findings, self.code_counts().tolist(), strict=True):
            if c:
                out[(f.id, f.level)] = out.get((f.id, f.level), 0) + c
        return out

    @property
    def total(self) -> int:
        return sum(c.total for c in self.tables.values())

    def highest_level_counts(self) -> tuple[dict[str, int], int]:
        """Entities by their highest level, and the number of entities without advice."""
        hist = np.zeros(4, dtype=np.int64)
        for codes in self.tables.values():
            hist += np.bincount(codes.highest(self._rank), minlength=4)
        by_level: dict[str, int] = {LEVELS[i - 1]: int(hist[i]) for i in (3, 2, 1) if hist[i]}
        return by_level, int(hist[0])

    # -- items ------------------------------------------------------------------------------
    def item_highest(self) -> np.ndarray[Any, Any]:
        """Highest level rank per item (0: no finding)."""
        return self.items.highest(self._rank)

    def item_ids(self, i: int) -> list[str]:
        """Distinct finding ids of item ``i`` in first-seen order."""
        return list(dict.fromkeys(self.ids(self.items.row(i))))

    def item_id_lists(self) -> pa.ListArray:
        """Per item the distinct finding ids, as an Arrow list of strings."""
        ids = np.array([f.id for f in self.findings] or [""], dtype=object)
        values = pa.array(ids[self.items.codes] if self.items.total else [], pa.string())
        return pa.ListArray.from_arrays(pa.array(self.items.offsets, pa.int64()).cast(pa.int32()), values)

    def __iter__(self) -> Iterator[tuple[str, Codes]]:
        return iter(self.tables.items())

    def __repr__(self) -> str:
        return f"BatchFindings({self.signal}, {len(self.items)} items, {self.total} findings)"


def finding_key(f: Finding) -> str:
    """A stable text form of a finding (id, level, message, context) for counting by message."""
    return json.dumps([f.id, f.level, f.message, f.context_dict], sort_keys=True)
