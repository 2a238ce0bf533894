"""The ``semconv`` processor: pass / tag / drop with exact results, and its self-metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from knhk_telemetry.component import CreateSettings
from knhk_telemetry.errors import ConfigError
from knhk_telemetry.model.batch import Batch, LogBatch, SpanBatch
from knhk_telemetry.model.edge import LogEntry, Span, batch_to_logs, batch_to_spans, logs_to_batch, spans_to_batch
from knhk_telemetry.model.schema import SpanKind
from knhk_telemetry.processors.semconv import FACTORY, FINDINGS_ATTRIBUTE, SemconvConfig, SemconvProcessor

REGISTRY = """\
groups:
  - id: registry.test
    type: attribute_group
    brief: Test attributes.
    attributes:
      - id: test.name
        type: string
        stability: stable
        brief: A name.
        examples: ["x"]
      - id: test.dev
        type: string
        stability: development
        brief: Not stable yet.
        examples: ["x"]
"""


@pytest.fixture
def registry_dir(tmp_path: Path) -> str:
    (tmp_path / "registry.yaml").write_text(REGISTRY)
    return str(tmp_path)


def _spans() -> SpanBatch:
    def span(i: int, attrs: dict[str, Any]) -> Span:
        return Span(
            b"\x01" * 16, bytes([0, 0, 0, 0, 0, 0, 0, i + 1]), f"s{i}", 1, 2, kind=SpanKind.INTERNAL, attributes=attrs
        )

    return spans_to_batch(
        [
            span(0, {"test.name": "ok"}),
            span(1, {"test.dev": "x", "test.name": "y"}),  # not_stable (improvement)
            span(2, {"bad.key": 1}),  # missing_attribute (violation)
            span(3, {}),
        ]
    )


def _processor(registry_dir: str, mode: str, signal: str = "traces", **kw: Any) -> SemconvProcessor:
    cfg = SemconvConfig(registry=(registry_dir,), on_violation=mode, **kw)
    cfg.validate_config("processors.semconv")
    proc = FACTORY.create(signal, CreateSettings("semconv", signal), cfg)  # type: ignore[arg-type]
    assert isinstance(proc, SemconvProcessor)
    proc.start()
    return proc


def test_pass_keeps_batch_and_counts(registry_dir: str) -> None:
    proc = _processor(registry_dir, "pass")
    batch = _spans()
    assert proc.process(batch) is batch
    metrics = {(m[0], tuple(sorted(m[3].items()))): m[4] for m in proc.self_metrics()}
    base = (("processor", "semconv"), ("signal", "traces"))
    assert (
        metrics[("knhk_telemetry_semconv_findings_total", (("id", "missing_attribute"), ("level", "violation"), *base))]
        == 1.0
    )
    assert (
        metrics[("knhk_telemetry_semconv_findings_total", (("id", "not_stable"), ("level", "improvement"), *base))]
        == 1.0
    )
    assert metrics[("knhk_telemetry_semconv_checked_items_total", base)] == 4.0
    assert metrics[("knhk_telemetry_semconv_registry_coverage_ratio", base)] == 1.0  # test.name and test.dev seen
    proc.shutdown()
    proc.shutdown()


def test_tag_adds_sorted_ids(registry_dir: str) -> None:
    proc = _processor(registry_dir, "tag")
    out = proc.process(_spans())
    assert isinstance(out, SpanBatch)
    spans = batch_to_spans(out)
    assert [s.attributes.get(FINDINGS_ATTRIBUTE) for s in spans] == [None, "not_stable", "missing_attribute", None]
    assert spans[1].attributes == {"test.dev": "x", "test.name": "y", FINDINGS_ATTRIBUTE: "not_stable"}
    out.check()  # the attribute table is still sorted by row
    # tagging a tagged batch replaces the value instead of adding a second one
    again = proc.process(out)
    assert isinstance(again, SpanBatch)
    assert batch_to_spans(again) == spans
    tagged = {m[0]: m[4] for m in proc.self_metrics() if m[0] == "knhk_telemetry_semconv_tagged_items_total"}
    assert tagged["knhk_telemetry_semconv_tagged_items_total"] == 4.0


def test_drop_removes_violations(registry_dir: str) -> None:
    proc = _processor(registry_dir, "drop")
    out = proc.process(_spans())
    assert isinstance(out, SpanBatch)
    assert [s.name for s in batch_to_spans(out)] == ["s0", "s1", "s3"]
    only_bad = spans_to_batch([Span(b"\x01" * 16, b"\x09" * 8, "x", 1, 2, attributes={"bad.key": 1})])
    assert proc.process(only_bad) is None
    dropped = [m[4] for m in proc.self_metrics() if m[0] == "knhk_telemetry_semconv_dropped_items_total"]
    assert dropped == [2.0]


def test_overrides_from_config(registry_dir: str) -> None:
    proc = _processor(
        registry_dir, "drop", findings={"finding_level_overrides": [{"ids": ["not_stable"], "level": "violation"}]}
    )
    out = proc.process(_spans())
    assert isinstance(out, Batch)
    assert [s.name for s in batch_to_spans(out)] == ["s0", "s3"]  # type: ignore[arg-type]


def test_logs_are_tagged(registry_dir: str) -> None:
    proc = _processor(registry_dir, "tag", signal="logs")
    out = proc.process(logs_to_batch([LogEntry(attributes={"test.name": "a"}), LogEntry(attributes={"Bad": 1})]))
    assert isinstance(out, LogBatch)
    assert [e.attributes.get(FINDINGS_ATTRIBUTE) for e in batch_to_logs(out)] == [
        None,
        "invalid_format,missing_attribute,missing_namespace",
    ]


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"processors.semconv.findings.finding_filters\[0\]"):
        SemconvConfig(findings={"finding_filters": [{"bogus": 1}]}).validate_config("processors.semconv")
    with pytest.raises(ConfigError, match=r"processors\.semconv\.registry: needs at least one registry"):
        SemconvConfig(registry=()).validate_config("processors.semconv")
    with pytest.raises(ValueError, match="on_violation"):
        SemconvConfig(on_violation="explode")


def test_missing_registry_is_a_config_error(tmp_path: Path) -> None:
    proc = FACTORY.create(
        "traces", CreateSettings("semconv", "traces"), SemconvConfig(registry=(str(tmp_path / "nope"),))
    )
    with pytest.raises(ConfigError, match="registry not found"):
        proc.start()


def test_factory_shape() -> None:
    assert (FACTORY.type, FACTORY.kind, FACTORY.signals()) == ("semconv", "processor", ("traces", "metrics", "logs"))
    assert FACTORY.default_config() == SemconvConfig(registry=("semconv",), on_violation="pass")
