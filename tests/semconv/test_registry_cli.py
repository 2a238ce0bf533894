"""``registry check``: output formats and exit codes (click.testing.CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from knhk_telemetry.semconv.cli import registry_command

GOOD = """groups:
  - id: registry.demo
    type: attribute_group
    brief: Demo.
    attributes:
      - id: demo.flag
        type: boolean
        stability: stable
        brief: A flag.
"""


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(registry_command, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_semconv_clean_exit_0() -> None:
    code, out, err = _run("check", "--registry", "semconv")
    assert code == 0
    assert out == ""
    assert err.startswith("0 error(s), 0 warning(s); 943 attributes, 1000 groups, 541 metrics")


def test_problems_text_exit_1(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "refs.yaml").write_text(
        "groups:\n  - id: g\n    type: attribute_group\n    brief: G.\n    attributes:\n      - ref: demo.nope\n"
    )
    code, out, _err = _run("check", "-r", str(tmp_path))
    assert code == 1
    assert out.splitlines() == [
        f"{tmp_path}/refs.yaml:6: error: group 'g': attribute ref 'demo.nope' does not name an attribute"
    ]


def test_problems_json(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("groups: [\n")
    code, out, _err = _run("check", "--registry", str(tmp_path), "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert len(data) == 1
    assert data[0]["file"] == f"{tmp_path}/bad.yaml"
    assert (data[0]["level"], data[0]["code"]) == ("error", "invalid_yaml")
    assert set(data[0]) == {"file", "line", "level", "code", "message", "value"}


def test_warnings_only_exit_0_unless_strict(tmp_path: Path) -> None:
    (tmp_path / "w.yaml").write_text(GOOD.replace("        stability: stable\n", ""))
    code, out, _ = _run("check", "-r", str(tmp_path))
    assert code == 0
    assert out == f"{tmp_path}/w.yaml:6: warning: attribute 'demo.flag': missing stability\n"
    code, _, _ = _run("check", "-r", str(tmp_path), "--strict")
    assert code == 1


def test_layered_registries(tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text(
        "groups:\n  - id: span.team\n    type: span\n    span_kind: server\n    stability: stable\n"
        "    brief: T.\n    attributes:\n      - ref: http.request.method\n"
    )
    assert _run("check", "-r", str(tmp_path))[0] == 1
    assert _run("check", "-r", "semconv", "-r", str(tmp_path))[0] == 0


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert _run("check")[0] == 2
    code, _, err = _run("check", "--registry", str(tmp_path / "missing"))
    assert code == 2
    assert "is neither a directory, a file nor a built-in registry" in err
    assert _run("check", "-r", "semconv", "--format", "xml")[0] == 2
