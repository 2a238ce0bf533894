"""The ``semconv`` processor: Weaver's live-check findings on every batch of a pipeline.

```yaml
processors:
  semconv:
    registry: [semconv, ../shared/knhk-registry]   # layered; "semconv" is the packaged registry
    on_violation: tag                              # pass | tag | drop
    findings:                                      # Weaver's overrides and filters
      finding_level_overrides: [{ids: [undefined_enum_variant], level: violation}]
      finding_filters: [{exclude: [not_stable]}]
```

- ``pass``: the batch goes on unchanged; findings are only counted (self-metrics).
- ``tag``: every span / data point / log record with a finding gets the attribute
  ``knhk.semconv.findings``: its distinct finding ids, sorted and comma-joined
  (``"deprecated,missing_attribute"``). A string, not an array, so that any backend can filter
  with a substring match; an existing value of that key is replaced. The new attribute rows are
  built with numpy and merged into the attribute table, which stays sorted by row.
- ``drop``: items with a violation-level finding are removed.

Findings count what the item, its attributes, its events/links/exemplars and (data points) its
metric were given; resource and scope attribute findings are counted in the self-metrics but do
not tag or drop items. The registry is loaded on ``start()`` (or the first batch), once per
process per registry list.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from knhk_telemetry.component import Component, ComponentConfig, CreateSettings, Factory
from knhk_telemetry.errors import ConfigError
from knhk_telemetry.model import schema as S
from knhk_telemetry.model.batch import Batch
from knhk_telemetry.semconv.livecheck.engine import LiveChecker
from knhk_telemetry.semconv.livecheck.findings import BatchFindings
from knhk_telemetry.semconv.livecheck.modifier import FindingModifier
from knhk_telemetry.semconv.livecheck.report import LiveCheckReport

__all__ = ["FACTORY", "FINDINGS_ATTRIBUTE", "SemconvConfig", "SemconvProcessor"]

#: The attribute ``tag`` adds.
FINDINGS_ATTRIBUTE = "knhk.semconv.findings"
_ATTRIBUTE_TABLE = {"traces": "span_attributes", "metrics": "point_attributes", "logs": "log_attributes"}


class SemconvConfig(ComponentConfig):
    """Which registries to check against and what to do with violating items."""

    #: registry directories or built-in names, later ones layered on earlier ones
    registry: tuple[str, ...] = ("semconv",)
    #: pass: count only; tag: add knhk.semconv.findings; drop: remove items with a violation
    on_violation: Literal["pass", "tag", "drop"] = "pass"
    #: Weaver's finding_level_overrides / finding_filters
    findings: dict[str, Any] = Field(default_factory=dict)
    #: verdicts kept in the checker's LRU cache (entries); bounds memory with high-cardinality keys
    cache_size: int = Field(default=65536, ge=1)
    #: distinct non-registry names kept for the coverage statistics
    max_seen: int = Field(default=10_000, ge=0)

    def validate_config(self, path: str) -> None:
        if not self.registry:
            raise ConfigError("needs at least one registry", path=f"{path}.registry")
        FindingModifier.from_mapping(self.findings, path=f"{path}.findings")


@lru_cache(maxsize=8)
def _registry(paths: tuple[str, ...]) -> Any:
    from knhk_telemetry.semconv.loader import load_registry

    result = load_registry(list(paths))
    missing = [p for p in result.problems if p.code == "registry_not_found"]
    if missing:
        raise ConfigError("; ".join(p.message for p in missing), path="processors.semconv.registry")
    return result.registry


class SemconvProcessor(Component):
    """Checks batches with :class:`LiveChecker`; ``process(batch)`` passes, tags or drops."""

    MUTATES = False  # a new batch is returned; the input is never changed

    def __init__(self, component_id: str, config: SemconvConfig, signal: str) -> None:
        super().__init__(component_id)
        self.config = config
        self.signal = signal
        self._modifier = FindingModifier.from_mapping(config.findings, path=f"processors.{component_id}.findings")
        self._checker: LiveChecker | None = None
        self._init_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._report: LiveCheckReport | None = None
        self.findings_total: dict[tuple[str, str], int] = {}
        self.items_in = 0
        self.items_tagged = 0
        self.items_dropped = 0

    @property
    def checker(self) -> LiveChecker:
        """The checker (the registry is loaded on first use)."""
        with self._init_lock:
            if self._checker is None:
                self._checker = LiveChecker(
                    _registry(self.config.registry), modifier=self._modifier, cache_size=self.config.cache_size
                )
                self._report = LiveCheckReport(self._checker.index, max_samples=0, max_seen=self.config.max_seen)
            return self._checker

    def _start(self) -> None:
        _ = self.checker

    def process(self, batch: Batch) -> Batch | None:
        """The batch (tagged or filtered per ``on_violation``), or None when nothing is left."""
        if len(batch) == 0:
            return batch
        batch = strip_tag(batch)  # a tag from an earlier semconv processor is not telemetry to check
        findings = self.checker.check(batch)
        highest = findings.item_highest()
        with self._stats_lock:
            assert self._report is not None
            self._report.add(batch, findings)
            for key, n in findings.counts().items():
                self.findings_total[key] = self.findings_total.get(key, 0) + n
            self.items_in += len(batch)
        mode = self.config.on_violation
        if mode == "drop":
            keep = highest < 3
            dropped = int(len(keep) - keep.sum())
            with self._stats_lock:
                self.items_dropped += dropped
            if dropped == len(keep):
                return None
            return batch.filter(keep) if dropped else batch
        if mode == "tag":
            tagged, n = tag_batch(batch, findings)
            with self._stats_lock:
                self.items_tagged += n
            return tagged
        return batch

    def self_metrics(self) -> Iterable[tuple[str, str, str, dict[str, str], float]]:
        base = {"processor": self.component_id, "signal": self.signal}
        with self._stats_lock:
            totals = dict(self.findings_total)
            coverage = self._report.registry_coverage() if self._report is not None else 0.0
            items_in, tagged, dropped = self.items_in, self.items_tagged, self.items_dropped
        for (fid, level), n in sorted(totals.items()):
            yield (
                "knhk_telemetry_semconv_findings_total", "counter",
                "Live-check findings given, by finding id and level.", {**base, "id": fid, "level": level}, float(n),
            )  # fmt: skip
        yield (
            "knhk_telemetry_semconv_registry_coverage_ratio", "gauge",
            "Share of registry attributes, metrics and events seen so far.", base, coverage,
        )  # fmt: skip
        yield "knhk_telemetry_semconv_checked_items_total", "counter", "Items checked.", base, float(items_in)
        yield "knhk_telemetry_semconv_tagged_items_total", "counter", "Items tagged with findings.", base, float(tagged)
        yield (
            "knhk_telemetry_semconv_dropped_items_total",
            "counter",
            "Items dropped for a violation.",
            base,
            float(dropped),
        )


def _id_sets(findings: BatchFindings) -> tuple[np.ndarray[Any, Any], list[str]]:
    """Per item an index into the returned list of tag strings (-1: no finding)."""
    items = findings.items
    out = np.full(len(items), -1, dtype=np.int64)
    if not items.total:
        return out, []
    ids = sorted({f.id for f in findings.findings})
    bit_of = {fid: i for i, fid in enumerate(ids)}
    code_bits = np.array([1 << bit_of[f.id] for f in findings.findings], dtype=object if len(ids) > 62 else np.int64)
    rows = items.row_ids()
    masks = np.zeros(len(items), dtype=code_bits.dtype)
    np.bitwise_or.at(masks, rows, code_bits[items.codes])
    has = np.flatnonzero(items.counts())
    umasks, inv = np.unique(masks[has], return_inverse=True)
    strings = [",".join(fid for fid in ids if int(m) >> bit_of[fid] & 1) for m in umasks.tolist()]
    out[has] = inv.reshape(-1)
    return out, strings


def strip_tag(batch: Batch) -> Batch:
    """``batch`` without ``knhk.semconv.findings`` attributes (the same batch when it has none)."""
    name = _ATTRIBUTE_TABLE[batch.SIGNAL]
    table = batch.table(name)
    if table.num_rows == 0:
        return batch
    keys = table.column("key").combine_chunks()
    if FINDINGS_ATTRIBUTE not in keys.dictionary.to_pylist():
        return batch
    own = pc.equal(keys.cast(pa.string()), FINDINGS_ATTRIBUTE)
    return batch.with_table(name, table.filter(pc.invert(own)))


def tag_batch(batch: Batch, findings: BatchFindings) -> tuple[Batch, int]:
    """``batch`` with ``knhk.semconv.findings`` on every item that has findings, and their number
    (``batch`` must not carry the attribute already: see :func:`strip_tag`)."""
    which, strings = _id_sets(findings)
    items = np.flatnonzero(which >= 0)
    name = _ATTRIBUTE_TABLE[batch.SIGNAL]
    table = batch.table(name)
    if len(items) == 0 and table.num_rows == 0:
        return batch, 0
    if len(items) == 0:
        return batch, 0
    n = len(items)
    new = pa.Table.from_arrays(
        [
            pa.array(items.astype(np.int32)),
            pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([FINDINGS_ATTRIBUTE])),
            pa.array(np.full(n, 1, np.int8)),
            pa.DictionaryArray.from_arrays(pa.array(which[items].astype(np.int32)), pa.array(strings, pa.string())),
            pa.nulls(n, S.ATTRIBUTES.field("int").type),
            pa.nulls(n, S.ATTRIBUTES.field("double").type),
            pa.nulls(n, pa.bool_()),
            pa.nulls(n, pa.binary()),
        ],
        schema=S.ATTRIBUTES,
    )
    rows = np.concatenate([np.asarray(table.column("row").to_numpy()), items])
    order = np.argsort(rows, kind="stable")  # existing rows of an item first, the tag last
    merged = pa.concat_tables([table, new]).combine_chunks().take(pa.array(order))
    return batch.with_table(name, merged), n


def _create(settings: CreateSettings, config: Any) -> Component:
    if not isinstance(config, SemconvConfig):
        raise TypeError(f"semconv processor config must be a SemconvConfig, got {type(config).__name__}")
    return SemconvProcessor(settings.component_id, config, settings.signal)


FACTORY = Factory(
    type="semconv",
    kind="processor",
    config_class=SemconvConfig,
    creators={"traces": _create, "metrics": _create, "logs": _create},
)
