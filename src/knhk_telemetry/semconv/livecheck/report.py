"""The live-check report: Weaver's JSON shape (``samples`` + ``statistics``) and a text form.

:class:`LiveCheckReport` accumulates :class:`BatchFindings`. Statistics are exact over
everything added; the report keeps only the first ``max_samples`` top-level samples (resources,
instrumentation scopes, spans, metrics, log records, in arrival order, each with at most
``max_children`` nested events/links/data points), and at most ``max_seen`` distinct names in each
``seen_non_registry_*`` map and in ``advice_message_counts``: observations of names beyond the
bound are counted in ``statistics.seen_overflow``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from knhk_telemetry.model.batch import Batch, LogBatch, MetricBatch, SpanBatch
from knhk_telemetry.model.values import columns_to_python, value_column
from knhk_telemetry.semconv.livecheck.findings import LEVELS, BatchFindings, Codes, Finding, level_rank
from knhk_telemetry.semconv.livecheck.rules import RegistryIndex, kind_name

__all__ = ["LiveCheckReport"]

_STATUS = {0: "unset", 1: "ok", 2: "error"}


def _infer_type(value: Any) -> str | None:  # noqa: PLR0911 (one return per type, as Weaver)
    """Weaver's ``SampleAttribute::infer_type`` for a Python value."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        items = [v for v in value if v is not None]
        if not items:
            return None
        if all(isinstance(v, bool) for v in items):
            return "boolean[]"
        if all(isinstance(v, int) and not isinstance(v, bool) for v in items):
            return "int[]"
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items):
            return "double[]"
        if all(isinstance(v, str) for v in items):
            return "string[]"
    return None


def _json_value(value: Any) -> Any:
    """The value as Weaver puts it in a sample (bytes and maps have none)."""
    if isinstance(value, (bytes, dict)):
        return None
    if isinstance(value, list):
        return [v for v in (_json_value(x) for x in value) if v is not None]
    return value


class _Bounded:
    """Counts by name, keeping at most ``limit`` names; the rest is counted as overflow."""

    __slots__ = ("counts", "limit", "overflow")

    def __init__(self, limit: int) -> None:
        self.counts: dict[str, int] = {}
        self.limit = limit
        self.overflow = 0

    def add(self, name: str, n: int) -> None:
        if name in self.counts:
            self.counts[name] += n
        elif len(self.counts) < self.limit:
            self.counts[name] = n
        else:
            self.overflow += n


class LiveCheckReport:
    """Accumulates findings into Weaver's live-check report.

    ``index`` gives the registry entries the coverage is measured against (the checker's
    ``index``); ``max_samples``/``max_children``/``max_seen`` bound the memory kept.
    """

    def __init__(
        self, index: RegistryIndex, *, max_samples: int = 1000, max_children: int = 100, max_seen: int = 10_000
    ) -> None:
        self.index = index
        self.max_samples = max_samples
        self.max_children = max_children
        self.samples: list[dict[str, Any]] = []
        self.total_entities = 0
        self.entities_by_type: dict[str, int] = {}
        self.total_advisories = 0
        self.level_counts: dict[str, int] = {}
        self.highest_counts: dict[str, int] = {}
        self.no_advice = 0
        self.type_counts: dict[str, int] = {}
        self.messages = _Bounded(max_seen)
        self.registry_attributes = dict.fromkeys(index.registry_attribute_names, 0)
        self.registry_metrics = dict.fromkeys(index.registry_metric_names, 0)
        self.registry_events = dict.fromkeys(index.registry_event_names, 0)
        self.non_registry_attributes = _Bounded(max_seen)
        self.non_registry_metrics = _Bounded(max_seen)
        self.non_registry_events = _Bounded(max_seen)
        self.undecodable = 0
        self.input_errors: list[str] = []

    # -- accumulation -------------------------------------------------------------------------
    def add(self, batch: Batch, findings: BatchFindings, *, standalone: bool = False) -> None:
        """Count ``findings`` (of ``batch``) and keep samples while there is room.

        ``standalone``: the batch only carries Weaver ``attribute`` samples as scope attributes
        (see :mod:`.inputs`); its resource and scope are not entities of the report."""
        if standalone:
            findings.tables = {k: v for k, v in findings.tables.items() if k == "scope_attributes"}
            findings.entity_counts = {k: v for k, v in findings.entity_counts.items() if k == "attribute"}
        for kind, n in findings.entity_counts.items():
            self.entities_by_type[kind] = self.entities_by_type.get(kind, 0) + n
            self.total_entities += n
        counts = findings.code_counts()
        for f, c in zip(findings.findings, counts.tolist(), strict=True):
            if c:
                self.total_advisories += c
                self.level_counts[f.level] = self.level_counts.get(f.level, 0) + c
                self.type_counts[f.id] = self.type_counts.get(f.id, 0) + c
                self.messages.add(f.message, c)
        by_level, none = findings.highest_level_counts()
        for level, c in by_level.items():
            self.highest_counts[level] = self.highest_counts.get(level, 0) + c
        self.no_advice += none
        _count(findings.seen_attributes, self.registry_attributes, self.non_registry_attributes)
        _count(findings.seen_metrics, self.registry_metrics, self.non_registry_metrics)
        _count(findings.seen_events, self.registry_events, self.non_registry_events)
        if len(self.samples) < self.max_samples:
            samples = _Samples(self, batch, findings)
            if standalone:
                for attr in samples.attrs("scope_attributes", 0, None):
                    samples.push({"attribute": attr})
            else:
                samples.build()

    def add_undecodable(self, count: int, message: str) -> None:
        """Record input that did not decode (kept: the first 20 messages)."""
        self.undecodable += count
        if len(self.input_errors) < 20:
            self.input_errors.append(message)

    # -- results ------------------------------------------------------------------------------
    @property
    def highest_level(self) -> str | None:
        """The highest level given to any entity, or None."""
        for level in reversed(LEVELS):
            if self.highest_counts.get(level):
                return level
        return None

    def fails(self, fail_on: str) -> bool:
        """True when some finding is at ``fail_on`` or above (``none`` never fails)."""
        threshold = level_rank(fail_on)
        top = self.highest_level
        return threshold > 0 and top is not None and level_rank(top) >= threshold

    def registry_coverage(self) -> float:
        seen = sum(
            1 for d in (self.registry_attributes, self.registry_metrics, self.registry_events) for c in d.values() if c
        )
        total = len(self.registry_attributes) + len(self.registry_metrics) + len(self.registry_events)
        return seen / total if total else 0.0

    def statistics(self) -> dict[str, Any]:
        """Weaver's ``statistics`` object, plus ``seen_overflow`` and the undecodable input count."""
        return {
            "total_entities": self.total_entities,
            "total_entities_by_type": dict(sorted(self.entities_by_type.items())),
            "total_advisories": self.total_advisories,
            "advice_level_counts": dict(sorted(self.level_counts.items())),
            "highest_advice_level_counts": dict(sorted(self.highest_counts.items())),
            "no_advice_count": self.no_advice,
            "advice_type_counts": dict(sorted(self.type_counts.items())),
            "advice_message_counts": dict(sorted(self.messages.counts.items())),
            "seen_registry_attributes": self.registry_attributes,
            "seen_non_registry_attributes": dict(sorted(self.non_registry_attributes.counts.items())),
            "seen_registry_metrics": self.registry_metrics,
            "seen_non_registry_metrics": dict(sorted(self.non_registry_metrics.counts.items())),
            "seen_registry_events": self.registry_events,
            "seen_non_registry_events": dict(sorted(self.non_registry_events.counts.items())),
            "registry_coverage": self.registry_coverage(),
            "seen_overflow": {
                "non_registry_attributes": self.non_registry_attributes.overflow,
                "non_registry_metrics": self.non_registry_metrics.overflow,
                "non_registry_events": self.non_registry_events.overflow,
                "advice_messages": self.messages.overflow,
            },
            "undecodable_inputs": self.undecodable,
            "input_errors": list(self.input_errors),
        }

    def to_dict(self) -> dict[str, Any]:
        return {"samples": self.samples, "statistics": self.statistics()}

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_text(self) -> str:
        """A human-readable report: each sample with advice, then the statistics."""
        lines: list[str] = []
        for sample in self.samples:
            _text_sample(sample, lines)
        s = self.statistics()
        lines.append("Samples")
        lines.append(f"  - total: {s['total_entities']}")
        for k, v in s["total_entities_by_type"].items():
            lines.append(f"    - {k}: {v}")
        lines.append(f"  - no advice: {s['no_advice_count']}")
        for k, v in s["highest_advice_level_counts"].items():
            lines.append(f"  - highest {k}: {v}")
        lines.append("Advisories given")
        lines.append(f"  - total: {s['total_advisories']}")
        for k, v in s["advice_level_counts"].items():
            lines.append(f"    - {k}: {v}")
        for k, v in s["advice_type_counts"].items():
            lines.append(f"    - {k}: {v}")
        lines.append("Registry coverage")
        lines.append(f"  - total seen: {s['registry_coverage'] * 100:.2f}%")
        if self.undecodable:
            lines.append(f"Undecodable inputs: {self.undecodable}")
            lines.extend(f"  - {m}" for m in self.input_errors)
        return "\n".join(lines) + "\n"


def _count(seen: Mapping[str, int], registry: dict[str, int], other: _Bounded) -> None:
    for name, c in seen.items():
        if name in registry:
            registry[name] += c
        else:
            other.add(name, c)


def _result(findings: BatchFindings, codes: Codes, row: int, signal_name: str | None) -> dict[str, Any]:
    fs: list[Finding] = [findings.findings[int(c)] for c in codes.row(row)] if codes.total else []
    top = max((level_rank(f.level) for f in fs), default=0)
    return {
        "all_advice": [f.to_dict(signal_name) for f in fs],
        "highest_advice_level": LEVELS[top - 1] if top else None,
    }


def _text_sample(sample: Mapping[str, Any], lines: list[str], indent: int = 0) -> None:
    ((kind, body),) = sample.items()
    pad = " " * indent
    label = body.get("name") or body.get("event_name") or ""
    result = body.get("live_check_result") or {}
    levels = [result.get("highest_advice_level")]
    levels += [(a.get("live_check_result") or {}).get("highest_advice_level") for a in body.get("attributes", [])]
    top = max((level_rank(x) for x in levels if x), default=0)
    lines.append(f"{pad}{kind} {label}".rstrip() + f" [{LEVELS[top - 1] if top else 'ok'}]")
    for advice in result.get("all_advice", []):
        lines.append(f"{pad}    - [{advice['level']}] {advice['message']}")
    for attr in body.get("attributes", []):
        r = attr.get("live_check_result") or {}
        if r.get("all_advice"):
            lines.append(f"{pad}    attribute {attr['name']} = {json.dumps(attr['value'])}")
            for advice in r["all_advice"]:
                lines.append(f"{pad}        - [{advice['level']}] {advice['message']}")
    for child_key in ("span_events", "span_links", "data_points"):
        for child in body.get(child_key, []):
            _text_sample({child_key[:-1]: child}, lines, indent + 4)


class _Samples:
    """Builds Weaver-shaped samples for the first items of one batch (Python per kept item only)."""

    def __init__(self, report: LiveCheckReport, batch: Batch, findings: BatchFindings) -> None:
        self.report = report
        self.batch = batch
        self.f = findings
        self.emitted_resources: set[int] = set()
        self.emitted_scopes: set[int] = set()

    def room(self) -> int:
        return self.report.max_samples - len(self.report.samples)

    def push(self, sample: dict[str, Any]) -> bool:
        if self.room() <= 0:
            return False
        self.report.samples.append(sample)
        return True

    def attrs(self, name: str, parent: int, signal_name: str | None) -> list[dict[str, Any]]:
        table = self.batch.table(name)
        if table.num_rows == 0:
            return []
        rows = np.asarray(table.column("row").to_numpy())
        lo, hi = (int(x) for x in np.searchsorted(rows, [parent, parent + 1]))
        hi = min(hi, lo + self.report.max_children)
        codes = self.f.tables[name]
        out = []
        for j, rec in enumerate(table.slice(lo, hi - lo).to_pylist()):
            vtype = rec["type"]
            column = value_column(vtype) if vtype is not None else ""
            value = _json_value(columns_to_python(vtype, rec[column] if column else None))
            out.append(
                {
                    "name": rec["key"],
                    "value": value,
                    "type": _infer_type(value),
                    "live_check_result": _result(self.f, codes, lo + j, signal_name),
                }
            )
        return out

    def origin(self, scope: int) -> None:
        res = int(self.batch.scopes.column("resource")[scope].as_py())
        if res not in self.emitted_resources:
            self.emitted_resources.add(res)
            self.push(
                {
                    "resource": {
                        "attributes": self.attrs("resource_attributes", res, None),
                        "live_check_result": _result(self.f, self.f.tables["resources"], res, None),
                    }
                }
            )
        if scope not in self.emitted_scopes:
            self.emitted_scopes.add(scope)
            s = self.batch.scopes.slice(scope, 1).to_pylist()[0]
            self.push(
                {
                    "instrumentation_scope": {
                        "name": s["name"] or "",
                        "version": s["version"] or "",
                        "schema_url": s["schema_url"] or "",
                        "attributes": self.attrs("scope_attributes", scope, None),
                        "dropped_attributes_count": s["dropped_attributes_count"] or 0,
                        "live_check_result": _result(self.f, self.f.tables["scopes"], scope, None),
                    }
                }
            )

    def children(self, table: str, column: str, parent: int) -> Iterable[int]:
        t = self.batch.table(table)
        if t.num_rows == 0:
            return range(0)
        col = np.asarray(t.column(column).to_numpy())
        lo, hi = (int(x) for x in np.searchsorted(col, [parent, parent + 1]))
        return range(lo, min(hi, lo + self.report.max_children))

    def build(self) -> None:
        if isinstance(self.batch, SpanBatch):
            self.spans()
        elif isinstance(self.batch, MetricBatch):
            self.metrics()
        elif isinstance(self.batch, LogBatch):
            self.logs()

    def spans(self) -> None:
        spans = self.batch.table("spans")
        n = min(spans.num_rows, self.room())
        recs = spans.slice(0, n).select(["scope", "name", "kind", "status_code", "status_message"]).to_pylist()
        for i, r in enumerate(recs):
            self.origin(r["scope"])
            name = r["name"] or ""
            events = []
            for e in self.children("events", "span", i):
                ev = self.batch.table("events").slice(e, 1).to_pylist()[0]
                events.append(
                    {
                        "name": ev["name"] or "",
                        "attributes": self.attrs("event_attributes", e, name),
                        "live_check_result": _result(self.f, self.f.tables["events"], e, name),
                    }
                )
            links = [
                {
                    "attributes": self.attrs("link_attributes", k, name),
                    "live_check_result": _result(self.f, self.f.tables["links"], k, name),
                }
                for k in self.children("links", "span", i)
            ]
            code = r["status_code"]
            status = (
                None if code is None else {"code": _STATUS.get(code, "unset"), "message": r["status_message"] or ""}
            )
            sample = {
                "span": {
                    "name": name,
                    "kind": kind_name(r["kind"] or 0),
                    "status": status,
                    "attributes": self.attrs("span_attributes", i, name),
                    "span_events": events,
                    "span_links": links,
                    "live_check_result": _result(self.f, self.f.tables["spans"], i, name),
                }
            }
            if not self.push(sample):
                return

    def metrics(self) -> None:
        from knhk_telemetry.semconv.livecheck.engine import _instrument

        metrics = self.batch.table("metrics")
        n = min(metrics.num_rows, self.room())
        recs = metrics.slice(0, n).select(["scope", "name", "unit", "type", "is_monotonic"]).to_pylist()
        points = self.batch.table("points")
        for i, r in enumerate(recs):
            self.origin(r["scope"])
            name = r["name"] or ""
            ins, uns = _instrument(r["type"] or 0, bool(r["is_monotonic"]))
            dps = []
            for p in self.children("points", "metric", i):
                rec = (
                    points.slice(p, 1)
                    .select(["value_kind", "value_double", "value_int", "count", "sum"])
                    .to_pylist()[0]
                )
                dp: dict[str, Any] = {"attributes": self.attrs("point_attributes", p, name)}
                if r["type"] in (5, 7):
                    dp["value"] = rec["value_int"] if rec["value_kind"] == 6 else rec["value_double"]
                else:
                    dp["count"], dp["sum"] = rec["count"], rec["sum"]
                dp["live_check_result"] = _result(self.f, self.f.tables["points"], p, name)
                dps.append(dp)
            sample = {
                "metric": {
                    "name": name,
                    "instrument": ins or uns,
                    "unit": r["unit"] or "",
                    "data_points": dps,
                    "live_check_result": _result(self.f, self.f.tables["metrics"], i, name),
                }
            }
            if not self.push(sample):
                return

    def logs(self) -> None:
        logs = self.batch.table("logs")
        n = min(logs.num_rows, self.room())
        cols = [
            "scope",
            "event_name",
            "severity_number",
            "severity_text",
            "body_type",
            "body_str",
            "trace_id",
            "span_id",
        ]
        recs = logs.slice(0, n).select(cols).to_pylist()
        for i, r in enumerate(recs):
            self.origin(r["scope"])
            name = r["event_name"] or ""
            sample = {
                "log": {
                    "event_name": name,
                    "severity_number": r["severity_number"],
                    "severity_text": r["severity_text"],
                    "body": r["body_str"],
                    "attributes": self.attrs("log_attributes", i, name),
                    "trace_id": r["trace_id"].hex() if r["trace_id"] else None,
                    "span_id": r["span_id"].hex() if r["span_id"] else None,
                    "live_check_result": _result(self.f, self.f.tables["logs"], i, name),
                }
            }
            if not self.push(sample):
                return
