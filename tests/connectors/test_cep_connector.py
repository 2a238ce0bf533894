"""The cep connector in a running service: spans in, alert log records out."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from knhk_telemetry.config import parse_config
from knhk_telemetry.errors import ConfigError
from knhk_telemetry.exporters.file import read_otlp_json_lines
from knhk_telemetry.model.values import attributes_by_row
from knhk_telemetry.otlp.json import decode_json, encode_json
from knhk_telemetry.pipeline.service import Service
from knhk_telemetry.synth import synthetic_spans

CONFIG = """
receivers:
  otlpjsonfile: {{include: ["{tmp}/in/*.jsonl"], poll_interval: 20ms}}
exporters:
  file: {{path: "{tmp}/alerts.jsonl"}}
connectors:
  cep:
    rules:
      - id: errors-per-service
        pattern: count_threshold
        params: {{match: {{status: error}}, count: 30, within: 10m}}
        partition_by: service
        severity: error
        message: "{{count}} errors on {{key}}"
        actions: [{{type: log_record}}]
service:
  pipelines:
    traces: {{receivers: [otlpjsonfile], exporters: [cep]}}
    logs: {{receivers: [cep], exporters: [file]}}
"""


def test_alerts_arrive_as_log_records_in_the_logs_pipeline(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    batch = synthetic_spans(2000, services=2, error_ratio=0.05, seed=41)
    (tmp_path / "in" / "a.jsonl").write_bytes(encode_json(batch) + b"\n")
    service = Service(parse_config(CONFIG.format(tmp=tmp_path)))
    service.start()
    deadline = time.monotonic() + 30
    while service.pipelines["traces"].stats().exported < 2000 and time.monotonic() < deadline:
        time.sleep(0.02)
    service.shutdown()
    records = [
        (log, attrs)
        for signal, line in read_otlp_json_lines(tmp_path / "alerts.jsonl")
        for decoded in [decode_json(signal, line)]
        for log, attrs in zip(
            decoded.batch.logs.to_pylist(),
            attributes_by_row(decoded.batch.table("log_attributes"), len(decoded.batch)),
            strict=True,
        )
    ]
    # 49 and 50 errors: one alert per service (a count rule's window consumes what fired it,
    # and fewer than 30 remain)
    assert sorted(r["body_str"].split(" errors on ")[1] for r, _ in records) == ["service-0", "service-1"]
    assert {r["event_name"] for r, _ in records} == {"knhk_telemetry.cep.alert"}
    assert {r["severity_number"] for r, _ in records} == {17}
    assert {a["cep.rule.id"] for _, a in records} == {"errors-per-service"}
    assert {a["cep.pattern"] for _, a in records} == {"count_threshold"}


def test_a_bad_rule_is_a_config_error_with_its_key_path(tmp_path: Path) -> None:
    bad = CONFIG.replace("count: 30", "count: -3")
    with pytest.raises(ConfigError, match=r"connectors\.cep\.rules\[0\]\.params\.count"):
        parse_config(bad.format(tmp=tmp_path))
