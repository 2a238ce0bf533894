"""Tests of the Collector-shaped YAML config: parsing, defaults, env substitution, every error."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

from knhk_telemetry.component import Component, ComponentConfig, CreateSettings, Factory, Registry, Signal
from knhk_telemetry.config import (
    Config,
    Duration,
    PipelineSettings,
    Size,
    TelemetrySettings,
    config_to_yaml,
    default_config,
    default_config_yaml,
    format_duration,
    load_config,
    parse_config,
    parse_duration,
    parse_size,
    split_host_port,
)
from knhk_telemetry.errors import ConfigError

# --------------------------------------------------------------------------- test factories


def _create(settings: CreateSettings, config: Any) -> Component:
    return Component(settings.component_id)


def _creators(*signals: Signal) -> dict[Signal, Any]:
    return dict.fromkeys(signals or ("traces", "metrics", "logs"), _create)


class FileReceiverConfig(ComponentConfig):
    include: list[str] = Field(default_factory=list)
    poll_interval: Duration = 1.0


class BatchConfig(ComponentConfig):
    send_batch_size: int = 8192
    timeout: Duration = 0.2


class Retry(BaseModel):
    model_config = {"extra": "forbid", "frozen": True}
    attempts: int = 3
    backoff: Duration = 1.0


class ParquetConfig(ComponentConfig):
    path: str = "./data"
    compression: Literal["zstd", "snappy", "gzip", "none"] = "zstd"
    row_group_size: Size = 1 << 20
    retry: Retry = Retry()

    def validate_config(self, path: str) -> None:
        if not self.path:
            raise ConfigError("must not be empty", path=f"{path}.path")


class EmptyConfig(ComponentConfig):
    pass


class WebhookConfig(ComponentConfig):
    endpoint: str
    timeout: Duration = 5.0


def make_registry() -> Registry:
    registry = Registry()  # without built-ins or entry points: only what the tests register
    registry.register(Factory("otlpjsonfile", "receiver", FileReceiverConfig, _creators(), shared=True))
    registry.register(Factory("batch", "processor", BatchConfig, _creators()))
    registry.register(Factory("parquet", "exporter", ParquetConfig, _creators(), shared=True))
    registry.register(Factory("nop", "exporter", EmptyConfig, _creators()))
    registry.register(Factory("debug", "exporter", EmptyConfig, _creators()))
    registry.register(Factory("jaeger", "exporter", EmptyConfig, _creators("traces")))
    registry.register(Factory("webhook", "exporter", WebhookConfig, _creators()))
    registry.register(
        Factory("spanmetrics", "connector", EmptyConfig, _creators("traces"), connects=(("traces", "metrics"),))
    )
    registry.register(
        Factory(
            "nop", "connector", EmptyConfig, _creators(), connects=tuple((s, s) for s in ("traces", "metrics", "logs"))
        )
    )
    return registry


REGISTRY = make_registry()

MINIMAL = """\
receivers:
  otlpjsonfile:
exporters:
  nop:
service:
  pipelines:
    traces:
      receivers: [otlpjsonfile]
      exporters: [nop]
"""


def parse(text: str, environ: dict[str, str] | None = None) -> Config:
    return parse_config(textwrap.dedent(text), "cfg.yaml", registry=REGISTRY, environ=environ or {})


def error_of(text: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        parse(text, environ)
    return str(info.value)


# --------------------------------------------------------------------------- good configs


def test_full_config_is_parsed_into_specs() -> None:
    config = parse(
        """\
        receivers:
          otlpjsonfile:
            include: [a.jsonl]
          otlpjsonfile/2:
            include: [b.jsonl]
            poll_interval: 250ms
        processors:
          batch: {send_batch_size: 100, timeout: 1s}
        exporters:
          parquet/main: {path: ./out, compression: gzip, row_group_size: 64MiB, retry: {backoff: 1m30s}}
          debug:
        connectors: {}
        service:
          pipelines:
            traces:
              receivers: [otlpjsonfile, otlpjsonfile/2]
              processors: [batch]
              exporters: [parquet/main, debug]
            logs/raw:
              receivers: [otlpjsonfile/2]
              exporters: [debug]
        """
    )
    second = config.receivers["otlpjsonfile/2"]
    assert (second.id, second.type, second.name, second.kind) == ("otlpjsonfile/2", "otlpjsonfile", "2", "receiver")
    assert second.factory is REGISTRY.get("receiver", "otlpjsonfile")
    assert second.config == FileReceiverConfig(include=["b.jsonl"], poll_interval=0.25)
    assert config.receivers["otlpjsonfile"].name == ""
    assert config.processors["batch"].config == BatchConfig(send_batch_size=100, timeout=1.0)
    parquet = config.exporters["parquet/main"].config
    assert parquet == ParquetConfig(
        path="./out", compression="gzip", row_group_size=64 * 1024**2, retry=Retry(backoff=90.0)
    )
    assert config.exporters["debug"].config == EmptyConfig()
    assert config.connectors == {}
    assert list(config.service.pipelines) == ["traces", "logs/raw"]
    traces = config.service.pipelines["traces"]
    assert (traces.signal, traces.name) == ("traces", "")
    assert traces.receivers == ("otlpjsonfile", "otlpjsonfile/2")
    assert traces.processors == ("batch",)
    assert traces.exporters == ("parquet/main", "debug")
    raw = config.service.pipelines["logs/raw"]
    assert (raw.id, raw.signal, raw.name, raw.processors) == ("logs/raw", "logs", "raw", ())
    assert config.section("exporter") is config.exporters


def test_defaults_are_filled() -> None:
    config = parse(MINIMAL)
    assert config.receivers["otlpjsonfile"].config == FileReceiverConfig(include=[], poll_interval=1.0)
    assert config.exporters["nop"].config == EmptyConfig()
    assert config.processors == {}
    pipeline = config.service.pipeline
    assert pipeline == PipelineSettings()
    assert (pipeline.channel_capacity, pipeline.batch_size, pipeline.flush_interval) == (100_000, 8192, 0.2)
    assert (pipeline.backpressure, pipeline.block_timeout) == ("block", 5.0)
    telemetry = config.service.telemetry
    assert telemetry == TelemetrySettings()
    assert (telemetry.metrics.address, telemetry.metrics.enabled) == ("127.0.0.1:9464", True)
    assert (telemetry.logs.level, telemetry.logs.encoding) == ("info", "console")


def test_service_sections_are_read() -> None:
    config = parse(
        MINIMAL
        + """\
  telemetry:
    metrics: {address: "[::1]:0", enabled: false}
    logs: {level: debug, encoding: json}
  pipeline:
    channel_capacity: 10
    batch_size: 5
    flush_interval: 1.5
    backpressure: drop_oldest
    block_timeout: 0
"""
    )
    telemetry = config.service.telemetry
    assert (telemetry.metrics.address, telemetry.metrics.enabled) == ("[::1]:0", False)
    assert (telemetry.logs.level, telemetry.logs.encoding) == ("debug", "json")
    assert config.service.pipeline == PipelineSettings(
        channel_capacity=10, batch_size=5, flush_interval=1.5, backpressure="drop_oldest", block_timeout=0.0
    )


def test_packaged_default_config_parses() -> None:
    config = default_config(environ={})  # the real built-in components
    assert config.source == "knhk_telemetry/default_config.yaml"
    assert config.receivers["otlpjsonfile"].config.include == ("./otlp-in/*.jsonl",)  # type: ignore[attr-defined]
    assert config.exporters["parquet"].config.max_file_age == 60.0  # type: ignore[attr-defined]
    assert list(config.processors) == ["batch"]
    assert config.exporters["parquet"].config.path == "./knhk-data"  # type: ignore[attr-defined]
    assert sorted(config.exporters) == ["nop", "parquet"]
    assert list(config.service.pipelines) == ["traces", "metrics", "logs"]
    for signal, pipeline in config.service.pipelines.items():
        assert (pipeline.signal, pipeline.receivers, pipeline.processors, pipeline.exporters) == (
            signal,
            ("otlp", "otlpjsonfile"),
            ("batch",),
            ("parquet",),
        )
    assert config.service.telemetry.metrics.address == "127.0.0.1:9464"
    assert config.service.pipeline == PipelineSettings()
    assert "otlpjsonfile:" in default_config_yaml()


def test_packaged_default_config_parses_with_the_builtin_components() -> None:
    config = default_config(environ={})
    assert sorted(config.exporters) == ["nop", "parquet"]
    assert config.exporters["parquet"].factory.kind == "exporter"
    assert parse_config(config_to_yaml(config), environ={}) == config


def test_yaml_merge_keys_may_be_overridden() -> None:
    config = parse(
        """\
        exporters:
          parquet/a: &base {path: ./a, compression: gzip}
          parquet/b:
            <<: *base
            path: ./b
        receivers: {otlpjsonfile: }
        service:
          pipelines:
            traces: {receivers: [otlpjsonfile], exporters: [parquet/a, parquet/b]}
        """
    )
    assert config.exporters["parquet/b"].config == ParquetConfig(path="./b", compression="gzip")


def test_connectors_join_pipelines() -> None:
    config = parse(
        """\
        receivers: {otlpjsonfile: }
        exporters: {nop: }
        connectors: {spanmetrics: }
        service:
          pipelines:
            traces: {receivers: [otlpjsonfile], exporters: [spanmetrics]}
            metrics: {receivers: [spanmetrics], exporters: [nop]}
        """
    )
    spec = config.connectors["spanmetrics"]
    assert (spec.kind, spec.type) == ("connector", "spanmetrics")
    assert config.service.pipelines["metrics"].receivers == ("spanmetrics",)


@pytest.mark.parametrize(
    ("pipelines", "message"),
    [
        (
            "traces: {receivers: [spanmetrics], exporters: [nop]}\n"
            "metrics: {receivers: [otlpjsonfile], exporters: [spanmetrics]}",
            "traces.receivers[0]: connector 'spanmetrics' does not emit traces (it connects: traces -> metrics)",
        ),
        (
            "logs: {receivers: [otlpjsonfile], exporters: [spanmetrics]}\n"
            "metrics: {receivers: [spanmetrics], exporters: [nop]}",
            "logs.exporters[0]: connector 'spanmetrics' does not consume logs (it connects: traces -> metrics)",
        ),
    ],
)
def test_connector_signals_are_checked(pipelines: str, message: str) -> None:
    text = "receivers: {otlpjsonfile: }\nexporters: {nop: }\nconnectors: {spanmetrics: }\n"
    text += "service:\n  pipelines:\n" + "".join(f"    {line}\n" for line in pipelines.splitlines())
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config(text, registry=REGISTRY)


def test_config_to_yaml_round_trips() -> None:
    original = parse(
        """\
        receivers: {otlpjsonfile: {include: [a$$b.jsonl], poll_interval: 90s}}
        processors: {batch: }
        exporters: {parquet/main: {path: ./x}}
        service:
          pipelines: {traces: {receivers: [otlpjsonfile], processors: [batch], exporters: [parquet/main]}}
          pipeline: {flush_interval: 1.5}
        """
    )
    text = config_to_yaml(original)
    assert "poll_interval: 1m30s" in text
    assert "flush_interval: 1s500ms" in text
    assert "a$$b.jsonl" in text
    again = parse_config(text, registry=REGISTRY, environ={})
    assert again == original
    assert again.receivers["otlpjsonfile"].config.include == ["a$b.jsonl"]  # type: ignore[attr-defined]


def test_load_config_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    config = load_config(path, registry=REGISTRY, environ={})
    assert config.source == str(path)
    assert list(config.service.pipelines) == ["traces"]
    assert config.locate("service.pipelines.traces.exporters[0]") == f"{path}:9"
    error = config.error("cannot open", "exporters.nop.path")
    assert str(error) == f"{path}:4: exporters.nop.path: cannot open"


def test_load_config_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(missing, registry=REGISTRY)
    assert str(info.value) == f"{missing}: config file not found"
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL.replace("nop:", "nop:\n    path: x"), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(bad, registry=REGISTRY, environ={})
    assert str(info.value) == f"{bad}:5: exporters.nop.path: unknown key 'path'"
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"receivers: \xff\n")
    with pytest.raises(ConfigError) as info:
        load_config(binary, registry=REGISTRY)
    assert str(info.value) == f"{binary}: config file is not UTF-8 text (invalid start byte at byte 11)"


# --------------------------------------------------------------------------- environment


def test_env_references_are_substituted() -> None:
    config = parse(
        """\
        receivers:
          otlpjsonfile:
            include:
              ["${env:DIR}/*.jsonl", "${DIR}/${NAME:-x}.jsonl", "${env:UNSET:-/tmp}/y", "$${env:DIR}", "a$b", "$$$$"]
        processors:
          batch:
            send_batch_size: ${env:SIZE}
            timeout: ${TIMEOUT:-3s}
        exporters:
          parquet:
            path: "${SIZE}"
          nop:
        service:
          pipelines:
            traces: {receivers: [otlpjsonfile], processors: [batch], exporters: [parquet]}
          telemetry:
            metrics: {enabled: "${env:ON}", address: "${HOST}:${PORT}"}
        """,
        environ={"DIR": "/data", "SIZE": "512", "ON": "false", "HOST": "0.0.0.0", "PORT": "9000", "NAME": ""},
    )
    include = config.receivers["otlpjsonfile"].config.include  # type: ignore[attr-defined]
    assert include == ["/data/*.jsonl", "/data/.jsonl", "/tmp/y", "${env:DIR}", "a$b", "$$"]
    assert config.processors["batch"].config == BatchConfig(send_batch_size=512, timeout=3.0)
    assert config.exporters["parquet"].config.path == "512"  # type: ignore[attr-defined]
    # a quoted whole reference stays a string; pydantic's lax bool parsing accepts "false"
    assert config.service.telemetry.metrics.enabled is False
    assert config.service.telemetry.metrics.address == "0.0.0.0:9000"


def test_whole_plain_references_take_the_yaml_type() -> None:
    config = parse(
        MINIMAL
        + """\
  pipeline:
    channel_capacity: ${CAP}
    batch_size: ${env:BATCH:-16}
    flush_interval: ${env:FLUSH}
""",
        environ={"CAP": "1000", "FLUSH": "2.5"},
    )
    assert config.service.pipeline.channel_capacity == 1000
    assert config.service.pipeline.batch_size == 16
    assert config.service.pipeline.flush_interval == 2.5


def test_unset_variable_without_default_is_an_error() -> None:
    message = error_of(
        """\
        receivers:
          otlpjsonfile:
            include: [a, "${env:IN_DIR}/x"]
        """
    )
    assert message == (
        "cfg.yaml:3: receivers.otlpjsonfile.include[1]: environment variable 'IN_DIR' is not set "
        "(referenced as '${env:IN_DIR}'; a default is written ${env:IN_DIR:-default})"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "${file:/etc/x}",
            "cfg.yaml:1: x: unsupported provider 'file' in '${file:/etc/x}': only env is supported",
        ),
        (
            "${env:1BAD}",
            "cfg.yaml:1: x: invalid reference '${env:1BAD}': expected ${env:NAME}, ${NAME} or ${env:NAME:-default}",
        ),
        (
            "a${env:X",
            "cfg.yaml:1: x: unterminated reference in 'a${env:X': "
            "'${' without a closing '}' (write $$ for a literal $)",
        ),
    ],
)
def test_bad_references_are_errors(value: str, expected: str) -> None:
    assert error_of(f"x: {value}\n") == expected


# --------------------------------------------------------------------------- errors


def _with_exporters(exporters: str) -> str:
    return (
        "receivers: {otlpjsonfile: }\n"
        f"exporters:\n{textwrap.indent(textwrap.dedent(exporters), '  ')}"
        "service:\n"
        "  pipelines: {traces: {receivers: [otlpjsonfile], exporters: [nop]}}\n"
        "  # the pipeline above only needs nop\n"
    )


@pytest.mark.parametrize(
    ("exporters", "expected"),
    [
        (
            """\
            nop:
            parquet/main:
              compression: lz4
            """,
            "cfg.yaml:5: exporters.parquet/main.compression: input should be 'zstd', 'snappy', 'gzip' or 'none'",
        ),
        (
            """\
            nop:
            parquet:
              path: ./x
              compresion: gzip
            """,
            "cfg.yaml:6: exporters.parquet.compresion: unknown key 'compresion' "
            "(expected one of: path, compression, row_group_size, retry)",
        ),
        (
            """\
            nop:
            parquet:
              retry:
                attempts: many
            """,
            "cfg.yaml:6: exporters.parquet.retry.attempts: "
            "input should be a valid integer, unable to parse string as an integer",
        ),
        (
            """\
            nop:
            parquet:
              retry: {backof: 1s}
            """,
            "cfg.yaml:5: exporters.parquet.retry.backof: unknown key 'backof' (expected one of: attempts, backoff)",
        ),
        (
            """\
            nop:
            parquet:
              path: ""
            """,
            "cfg.yaml:5: exporters.parquet.path: must not be empty",
        ),
        (
            """\
            nop:
            parquet:
              row_group_size: 12 parsecs
            """,
            "cfg.yaml:5: exporters.parquet.row_group_size: "
            "invalid size '12 parsecs': expected bytes or a size such as '512KiB', '64MB'",
        ),
        (
            """\
            nop:
            webhook:
              timeout: 1s
            """,
            "cfg.yaml:4: exporters.webhook.endpoint: required key is missing",
        ),
        (
            """\
            nop:
            webhook:
              timeout: soon
            """,
            "cfg.yaml:4: exporters.webhook.endpoint: required key is missing "
            "(and 1 more problem under exporters.webhook)",
        ),
        (
            """\
            nop:
            parquet: [path]
            """,
            "cfg.yaml:4: exporters.parquet: expected a mapping of settings (or nothing, for the defaults), got a list",
        ),
        (
            """\
            nop:
            kafka:
            """,
            "cfg.yaml:4: exporters.kafka: unknown exporter type 'kafka'; "
            "registered exporter types: debug, jaeger, nop, parquet, webhook",
        ),
        (
            """\
            nop:
            otlpjsonfile:
            """,
            "cfg.yaml:4: exporters.otlpjsonfile: unknown exporter type 'otlpjsonfile' (it is a receiver type); "
            "registered exporter types: debug, jaeger, nop, parquet, webhook",
        ),
        (
            """\
            nop:
            parquet/:
            """,
            "cfg.yaml:4: exporters.parquet/: invalid exporter id 'parquet/': "
            "expected 'type' or 'type/name' (type: a letter, then letters, digits or '_')",
        ),
        (
            """\
            nop:
            nop:
            """,
            "cfg.yaml:4: exporters.nop: duplicate key 'nop' (first at line 3)",
        ),
    ],
)
def test_component_errors(exporters: str, expected: str) -> None:
    assert error_of(_with_exporters(exporters)) == expected


def _with_pipelines(pipelines: str, extra: str = "") -> str:
    return (
        "receivers: {otlpjsonfile: }\n"
        "processors: {batch: }\n"
        "exporters: {nop: , jaeger: }\n"
        "connectors: {spanmetrics: }\n"
        f"{extra}"
        "service:\n"
        "  pipelines:\n"
        f"{textwrap.indent(textwrap.dedent(pipelines), '    ')}"
    )


@pytest.mark.parametrize(
    ("pipelines", "expected"),
    [
        (
            """\
            traces:
              receivers: [otlpjsonfile]
              exporters: [nop, foo]
            """,
            "cfg.yaml:9: service.pipelines.traces.exporters[1]: exporter 'foo' is not defined",
        ),
        (
            """\
            traces:
              receivers: [otlpjsonfile]
              exporters:
                - nop
                - otlpjsonfile
            """,
            "cfg.yaml:11: service.pipelines.traces.exporters[1]: "
            "exporter 'otlpjsonfile' is not defined (there is a receiver with that id)",
        ),
        (
            """\
            traces:
              receivers: [nop]
              exporters: [nop]
            """,
            "cfg.yaml:8: service.pipelines.traces.receivers[0]: "
            "receiver 'nop' is not defined (there is an exporter with that id)",
        ),
        (
            """\
            traces:
              receivers: [otlpjsonfile]
              processors: [batch, sampler]
              exporters: [nop]
            """,
            "cfg.yaml:9: service.pipelines.traces.processors[1]: processor 'sampler' is not defined",
        ),
        (
            """\
            metrics:
              receivers: [otlpjsonfile]
              exporters: [nop, jaeger]
            """,
            "cfg.yaml:9: service.pipelines.metrics.exporters[1]: exporter 'jaeger' does not support metrics "
            "(it supports: traces)",
        ),
        (
            """\
            traces:
              exporters: [nop]
            """,
            "cfg.yaml:7: service.pipelines.traces.receivers: a pipeline needs at least one receiver",
        ),
        (
            """\
            traces:
              receivers: [otlpjsonfile]
              exporters: []
            """,
            "cfg.yaml:9: service.pipelines.traces.exporters: a pipeline needs at least one exporter",
        ),
        (
            """\
            traces:
              receivers: [otlpjsonfile]
              processors: [batch, batch]
              exporters: [nop]
            """,
            "cfg.yaml:9: service.pipelines.traces.processors[1]: processor 'batch' is listed twice (also at index 0)",
        ),
        (
            """\
            spans:
              receivers: [otlpjsonfile]
              exporters: [nop]
            """,
            "cfg.yaml:7: service.pipelines.spans: unknown signal 'spans' in pipeline id 'spans' "
            "(expected traces, metrics or logs, optionally followed by /name)",
        ),
        (
            """\
            traces/:
              receivers: [otlpjsonfile]
              exporters: [nop]
            """,
            "cfg.yaml:7: service.pipelines.traces/: "
            "invalid pipeline id 'traces/': the name after '/' must be non-empty, without spaces",
        ),
        (
            """\
            traces:
              receivers: [otlpjsonfile]
              exporter: [nop]
            """,
            "cfg.yaml:9: service.pipelines.traces.exporter: unknown key 'exporter' "
            "(expected one of: receivers, processors, exporters)",
        ),
        (
            """\
            traces:
              receivers: otlpjsonfile
              exporters: [nop]
            """,
            "cfg.yaml:8: service.pipelines.traces.receivers: input should be a valid tuple",
        ),
        (
            """\
            traces:
              receivers: [otlpjsonfile]
              exporters: [spanmetrics]
            """,
            "cfg.yaml:9: service.pipelines.traces.exporters[0]: "
            "connector 'spanmetrics' is used as an exporter but is not a receiver of any pipeline",
        ),
        (
            """\
            traces:
              receivers: [otlpjsonfile]
              exporters: [nop]
            metrics:
              receivers: [spanmetrics]
              exporters: [nop]
            """,
            "cfg.yaml:11: service.pipelines.metrics.receivers[0]: "
            "connector 'spanmetrics' is used as a receiver but is not an exporter of any pipeline",
        ),
        (
            "traces: [otlpjsonfile]\n",
            "cfg.yaml:7: service.pipelines.traces: expected a mapping, got a list",
        ),
        (
            "{}\n",
            "cfg.yaml:6: service.pipelines: at least one pipeline is required",
        ),
    ],
)
def test_pipeline_errors(pipelines: str, expected: str) -> None:
    assert error_of(_with_pipelines(pipelines)) == expected


def _with_service(service: str) -> str:
    return MINIMAL + textwrap.indent(textwrap.dedent(service), "  ")


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        (
            """\
            pipeline:
              flush_interval: 5x
            """,
            "cfg.yaml:11: service.pipeline.flush_interval: invalid duration '5x': "
            "expected a number of seconds or a duration such as '200ms', '5s', '1m' or '1h30m'",
        ),
        (
            """\
            pipeline:
              block_timeout: -1s
            """,
            "cfg.yaml:11: service.pipeline.block_timeout: invalid duration '-1s': "
            "expected a number of seconds or a duration such as '200ms', '5s', '1m' or '1h30m'",
        ),
        (
            """\
            pipeline:
              block_timeout: -2
            """,
            "cfg.yaml:11: service.pipeline.block_timeout: invalid duration -2: "
            "must be a finite number of seconds, 0 or more",
        ),
        (
            """\
            pipeline:
              flush_interval: 0s
            """,
            "cfg.yaml:11: service.pipeline.flush_interval: input should be greater than 0",
        ),
        (
            """\
            pipeline:
              batch_size: 0
            """,
            "cfg.yaml:11: service.pipeline.batch_size: input should be greater than or equal to 1",
        ),
        (
            """\
            pipeline:
              channel_capacity: "100"
            """,
            "cfg.yaml:11: service.pipeline.channel_capacity: input should be a valid integer",
        ),
        (
            """\
            pipeline:
              backpressure: drop
            """,
            "cfg.yaml:11: service.pipeline.backpressure: "
            "input should be 'block', 'drop_newest', 'drop_oldest' or 'adaptive_sampling'",
        ),
        (
            """\
            pipeline:
              queue_size: 5
            """,
            "cfg.yaml:11: service.pipeline.queue_size: unknown key 'queue_size' "
            "(expected one of: channel_capacity, batch_size, flush_interval, backpressure, block_timeout, "
            "memory_limit_mib, memory_spike_limit_mib, memory_check_interval)",
        ),
        (
            """\
            telemetry:
              metrics: {address: localhost}
            """,
            "cfg.yaml:11: service.telemetry.metrics.address: "
            "invalid address 'localhost': expected host:port, e.g. 127.0.0.1:9464 or [::1]:9464",
        ),
        (
            """\
            telemetry:
              logs: {level: trace}
            """,
            "cfg.yaml:11: service.telemetry.logs.level: input should be 'debug', 'info', 'warn' or 'error'",
        ),
        (
            """\
            telemetry:
              traces: {}
            """,
            "cfg.yaml:11: service.telemetry.traces: unknown key 'traces' (expected one of: metrics, logs)",
        ),
        (
            """\
            extensions: [health_check]
            """,
            "cfg.yaml:10: service.extensions: unknown key 'extensions' "
            "(expected one of: telemetry, pipelines, pipeline)",
        ),
    ],
)
def test_service_errors(service: str, expected: str) -> None:
    assert error_of(_with_service(service)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            MINIMAL + "extensions: {}\n",
            "cfg.yaml:10: extensions: unknown top-level key 'extensions' "
            "(expected one of: receivers, processors, exporters, connectors, service)",
        ),
        (
            "receivers: {otlpjsonfile: }\n",
            "cfg.yaml: service: the 'service' section is required (with at least one pipeline)",
        ),
        ("", "cfg.yaml: service: the 'service' section is required (with at least one pipeline)"),
        (
            "- a\n- b\n",
            "cfg.yaml:1: the configuration must be a mapping of sections "
            "(receivers, processors, exporters, connectors, service), got a list",
        ),
        (
            "receivers: [otlpjsonfile]\n",
            "cfg.yaml:1: receivers: expected a mapping of receiver ids to their settings, got a list",
        ),
        ("service: 5\n", "cfg.yaml:1: service: expected a mapping, got int 5"),
        (
            "receivers:\n  otlpjsonfile:\n    include: [a\n  nop:\n",
            "cfg.yaml:4: invalid YAML: expected ',' or ']', but got ':' (while parsing a flow sequence at line 3)",
        ),
        ("a: !custom x\n", "cfg.yaml:1: invalid YAML: could not determine a constructor for the tag '!custom'"),
        ("? [a, b]\n: c\n", "cfg.yaml:1: a mapping key must be a plain scalar, not a mapping or list"),
        (
            "exporters: {nop/x: }\nconnectors: {nop/x: }\n",
            "cfg.yaml:2: connectors.nop/x: id 'nop/x' is also defined under exporters; "
            "a pipeline reference to it would be ambiguous",
        ),
    ],
)
def test_document_errors(text: str, expected: str) -> None:
    assert error_of(text) == expected


def test_error_carries_path_and_source() -> None:
    with pytest.raises(ConfigError) as info:
        parse(_with_exporters("nop:\nparquet/main: {compression: lz4}\n"))
    assert info.value.path == "exporters.parquet/main.compression"
    assert info.value.source == "cfg.yaml:4"
    assert info.value.message == "input should be 'zstd', 'snappy', 'gzip' or 'none'"


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("200ms", 0.2),
        ("5s", 5.0),
        ("1m", 60.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        ("2m3s4ms", 123.004),
        ("10us", 1e-5),
        ("10µs", 1e-5),
        ("7ns", 7e-9),
        ("0", 0.0),
        ("2.5", 2.5),
        (3, 3.0),
        (0.25, 0.25),
    ],
)
def test_parse_duration(value: object, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize("value", ["", "1d", "ms", "1 s", "-1s", True, None, [1], float("inf"), float("nan"), -1])
def test_parse_duration_refuses(value: object) -> None:
    with pytest.raises(ValueError, match=r"^invalid duration "):
        parse_duration(value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0s"),
        (0.2, "200ms"),
        (5.0, "5s"),
        (90.0, "1m30s"),
        (5400.0, "1h30m"),
        (1e-6, "1us"),
        (3601.5, "1h1s500ms"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize(
    ("value", "size"),
    [
        (0, 0),
        (1024, 1024),
        ("512", 512),
        ("1KiB", 1024),
        ("1kb", 1000),
        ("64MiB", 64 << 20),
        ("1.5GB", 1_500_000_000),
        ("2 T", 2 * 10**12),
    ],
)
def test_parse_size(value: object, size: int) -> None:
    assert parse_size(value) == size


@pytest.mark.parametrize("value", ["", "1 XB", "-1", -1, True, 1.5])
def test_parse_size_refuses(value: object) -> None:
    with pytest.raises(ValueError, match=r"^invalid size "):
        parse_size(value)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:9464", ("127.0.0.1", 9464)),
        (":0", ("", 0)),
        ("[::1]:80", ("::1", 80)),
        ("localhost:65535", ("localhost", 65535)),
    ],
)
def test_split_host_port(address: str, expected: tuple[str, int]) -> None:
    assert split_host_port(address) == expected


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("9464", "invalid address '9464': expected host:port, e.g. 127.0.0.1:9464 or [::1]:9464"),
        ("host:99999", "invalid address 'host:99999': port must be 0..65535"),
        ("::1:80", "invalid address '::1:80': put an IPv6 host in brackets, e.g. [::1]:9464"),
    ],
)
def test_split_host_port_refuses(address: str, message: str) -> None:
    with pytest.raises(ValueError, match=r"^invalid address ") as info:
        split_host_port(address)
    assert str(info.value) == message
