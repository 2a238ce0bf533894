"""``live-check`` through click's CliRunner: every input format, --fail-on, bad input, --otlp."""

# ruff: noqa: E501 (expected findings are kept one per line, as Weaver prints them)

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from knhk_telemetry.model.edge import Resource, Span, spans_to_batch
from knhk_telemetry.model.schema import SpanKind
from knhk_telemetry.otlp import proto
from knhk_telemetry.otlp.json import encode_json
from knhk_telemetry.semconv.livecheck.cli import live_check_command

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
def registry_dir(tmp_path: Path) -> Path:
    d = tmp_path / "registry"
    d.mkdir()
    (d / "registry.yaml").write_text(REGISTRY)
    return d


def _batch(**attrs: Any) -> Any:
    span = Span(
        b"\x01" * 16,
        b"\x02" * 8,
        "op",
        1,
        2,
        kind=SpanKind.INTERNAL,
        attributes=attrs,
        resource=Resource(attributes={"test.name": "r"}),
    )
    return spans_to_batch([span])


def _run(*args: str) -> Any:
    return CliRunner().invoke(live_check_command, list(args), catch_exceptions=False)


def _stats(output: str) -> dict[str, Any]:
    return json.loads(output)["statistics"]  # type: ignore[no-any-return]


def test_otlp_json_with_undecodable_lines(registry_dir: Path, tmp_path: Path) -> None:
    f = tmp_path / "in.jsonl"
    good = encode_json(_batch(**{"test.name": "a", "test.dev": "b"})).decode()
    f.write_text(good + "\n" + 'hello world\n{"resourceSpans": 5}\n' + good + "\n")
    r = _run("--registry", str(registry_dir), "--input", str(f), "--format", "json", "--fail-on", "none")
    assert r.exit_code == 0, r.output
    s = _stats(r.output)
    assert s["total_entities_by_type"] == {"attribute": 6, "instrumentation_scope": 2, "resource": 2, "span": 2}
    assert s["advice_type_counts"] == {"not_stable": 2}
    assert s["undecodable_inputs"] == 2
    assert s["input_errors"][0].split(": ")[0].endswith("in.jsonl:2")
    assert len(s["input_errors"]) == 2


@pytest.mark.parametrize(("fail_on", "code"), [("violation", 0), ("improvement", 1), ("information", 1), ("none", 0)])
def test_fail_on_levels(registry_dir: Path, tmp_path: Path, fail_on: str, code: int) -> None:
    f = tmp_path / "in.jsonl"
    f.write_text(encode_json(_batch(**{"test.dev": "b"})).decode() + "\n")
    r = _run("--registry", str(registry_dir), "--input", str(f), "--fail-on", fail_on)
    assert r.exit_code == code
    assert "Attribute 'test.dev' is not stable; stability = development." in r.output


def test_violation_fails_by_default(registry_dir: Path, tmp_path: Path) -> None:
    f = tmp_path / "in.jsonl"
    f.write_text(encode_json(_batch(**{"nope.x": 1})).decode() + "\n")
    out = tmp_path / "report.json"
    r = _run("--registry", str(registry_dir), "--input", str(f), "--format", "json", "--output", str(out))
    assert r.exit_code == 1
    assert r.output == ""
    assert _stats(out.read_text())["advice_type_counts"] == {"missing_attribute": 1}


def test_otlp_proto_single_and_delimited(registry_dir: Path, tmp_path: Path) -> None:
    msg = proto.encode(_batch(**{"test.dev": "b"}))
    single = tmp_path / "one.pb"
    single.write_bytes(msg)
    framed = tmp_path / "many.pb"
    framed.write_bytes(b"".join(_varint(len(msg)) + msg for _ in range(3)))
    for path, spans in ((single, 1), (framed, 3)):
        r = _run(
            "--registry",
            str(registry_dir),
            "--input",
            str(path),
            "--input-format",
            "otlp-proto",
            "--format",
            "json",
            "--fail-on",
            "none",
        )
        assert r.exit_code == 0, r.output
        assert _stats(r.output)["total_entities_by_type"]["span"] == spans
    bad = tmp_path / "bad.pb"
    bad.write_bytes(b"\xff\xff\xff")
    r = _run("--registry", str(registry_dir), "--input", str(bad), "--input-format", "otlp-proto", "--format", "json")
    assert r.exit_code == 0
    assert _stats(r.output)["undecodable_inputs"] == 1


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def test_weaver_json_samples(registry_dir: Path, tmp_path: Path) -> None:
    samples = [
        {"resource": {"attributes": [{"name": "test.name", "value": "svc"}]}},
        {"span": {"name": "s", "kind": "client", "attributes": [{"name": "test.dev", "value": "x"}, {"name": "TaskId", "value": "1"}],
                  "span_events": [{"name": "e", "attributes": [{"name": "hello", "value": "w"}]}], "span_links": [{"attributes": []}],
                  "status": {"code": "error", "message": "m"}}},
        {"metric": {"name": "m.x", "instrument": "counter", "unit": "1", "data_points": [{"attributes": [], "value": 1}]}},
        {"log": {"event_name": "e.x", "attributes": [], "severity_number": 9}},
        {"attribute": {"name": "test.name", "value": "a"}},
        {"bogus": {}},
    ]  # fmt: skip
    f = tmp_path / "samples.json"
    f.write_text(json.dumps(samples))
    r = _run("--registry", str(registry_dir), "--input", str(f), "--input-format", "weaver-json", "--format", "json")
    assert r.exit_code == 1
    report = json.loads(r.output)
    s = report["statistics"]
    assert s["undecodable_inputs"] == 1
    assert s["advice_type_counts"] == {
        "invalid_format": 1, "missing_attribute": 2, "missing_event": 1, "missing_metric": 1, "missing_namespace": 2, "not_stable": 1,
    }  # fmt: skip
    assert report["samples"][-1] == {
        "attribute": {
            "name": "test.name",
            "value": "a",
            "type": "string",
            "live_check_result": {"all_advice": [], "highest_advice_level": None},
        }
    }
    span = next(x["span"] for x in report["samples"] if "span" in x)
    assert (span["kind"], span["status"]) == ("client", {"code": "error", "message": "m"})
    assert s["total_entities_by_type"]["attribute"] == 5


def test_bad_json_file_is_counted(registry_dir: Path, tmp_path: Path) -> None:
    f = tmp_path / "samples.json"
    f.write_text("[{")
    r = _run("--registry", str(registry_dir), "--input", str(f), "--input-format", "weaver-json", "--format", "json")
    assert r.exit_code == 0
    assert _stats(r.output)["undecodable_inputs"] == 1


def test_unreadable_registry_and_input_exit_3(registry_dir: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(live_check_command, ["--registry", str(tmp_path / "nope"), "--input", str(tmp_path / "x")])
    assert r.exit_code == 3
    assert "registry not found" in r.output
    r = CliRunner().invoke(
        live_check_command, ["--registry", str(registry_dir), "--input", str(tmp_path / "missing.jsonl")]
    )
    assert r.exit_code == 3
    assert "cannot read" in r.output


def test_usage_errors_exit_2(registry_dir: Path, tmp_path: Path) -> None:
    assert CliRunner().invoke(live_check_command, ["--registry", str(registry_dir)]).exit_code == 2
    assert CliRunner().invoke(live_check_command, ["--input", "x", "--otlp"]).exit_code == 2
    assert CliRunner().invoke(live_check_command, ["--input", "x", "--fail-on", "fatal"]).exit_code == 2


def test_findings_config(registry_dir: Path, tmp_path: Path) -> None:
    f = tmp_path / "in.jsonl"
    f.write_text(encode_json(_batch(**{"test.dev": "b"})).decode() + "\n")
    cfg = tmp_path / "findings.yaml"
    cfg.write_text("finding_level_overrides:\n  - ids: [not_stable]\n    level: violation\n")
    r = _run("--registry", str(registry_dir), "--input", str(f), "--findings-config", str(cfg), "--format", "json")
    assert r.exit_code == 1
    assert _stats(r.output)["advice_level_counts"] == {"violation": 1}
    cfg.write_text("finding_filters: [{nope: 1}]\n")
    assert (
        CliRunner()
        .invoke(live_check_command, ["--registry", str(registry_dir), "--input", str(f), "--findings-config", str(cfg)])
        .exit_code
        == 2
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_otlp_http_listener_prints_report_after_inactivity(registry_dir: Path) -> None:
    http_port, grpc_port = _free_port(), _free_port()
    body = proto.encode(_batch(**{"test.dev": "b"}))
    sent: list[int] = []

    def post() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            req = urllib.request.Request(
                f"http://127.0.0.1:{http_port}/v1/traces", data=body, headers={"Content-Type": "application/x-protobuf"}
            )
            try:
                with urllib.request.urlopen(req, timeout=5) as resp:
                    sent.append(resp.status)
                    return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.05)

    thread = threading.Thread(target=post)
    thread.start()
    r = _run(
        "--registry", str(registry_dir), "--otlp", "--otlp-grpc-endpoint", f"127.0.0.1:{grpc_port}",
        "--otlp-http-endpoint", f"127.0.0.1:{http_port}", "--inactivity-timeout", "5", "--format", "json", "--fail-on", "none",
    )  # fmt: skip
    thread.join()
    assert sent == [200]
    assert r.exit_code == 0
    report = json.loads(r.output[r.output.index("{") :])
    assert report["statistics"]["advice_type_counts"] == {"not_stable": 1}
