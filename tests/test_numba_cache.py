"""The kernel-cache policy shared by every numba kernel: a stale build can never load."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from knhk_telemetry import _numba


def test_every_fingerprint_input_changes_the_directory(tmp_path: Path) -> None:
    src = tmp_path / "k.py"
    src.write_text("X = 1\n")
    base = _numba.KernelCache("k", [src], root=tmp_path / "root")
    assert base.directory.parent == tmp_path / "root"
    assert base.directory.name == f"k-{base.fingerprint}"
    assert _numba.KernelCache("k", [src], root=tmp_path / "root").directory == base.directory
    src.write_text("X = 2\n")  # a changed module-level constant
    assert _numba.KernelCache("k", [src], root=tmp_path / "root").directory != base.directory
    sources = _numba.sources_of([src])
    versions = _numba.runtime_versions()
    for key in ("numba", "llvmlite", "numpy", "python", "machine"):
        assert _numba.fingerprint(sources, {**versions, key: "0.0"}) != _numba.fingerprint(sources, versions)


def test_root_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(_numba.CACHE_ENV, str(tmp_path))
    assert _numba.cache_root() == tmp_path
    monkeypatch.delenv(_numba.CACHE_ENV)
    assert _numba.cache_root() == Path.home() / ".cache" / "knhk-telemetry" / "numba"


def test_an_unwritable_root_falls_back_to_a_private_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cache = _numba.KernelCache("k", [blocker], root=blocker / "below")
    assert cache.directory.is_dir()
    assert cache.directory.name.startswith("knhk-k-")
    assert cache.private
    assert not _numba.KernelCache("k", [blocker], root=tmp_path / "root").private


def test_a_changed_constant_recompiles_instead_of_loading_stale_code(tmp_path: Path) -> None:
    """The failure numba's own cache has: a jitted function reads a constant of another module;
    the constant changes, the function's own file does not. With the fingerprint covering both
    files, the second process compiles afresh and sees the new value."""
    (tmp_path / "consts.py").write_text("LIMIT = 1\n")
    (tmp_path / "kern.py").write_text(
        "from pathlib import Path\n"
        "from knhk_telemetry._numba import KernelCache\n"
        "import consts\n"
        "HERE = Path(__file__).parent\n"
        "CACHE = KernelCache('t', [HERE / 'kern.py', HERE / 'consts.py'], root=HERE / 'cache')\n"
        "@CACHE.njit()\n"
        "def limit():\n"
        "    return consts.LIMIT\n"
    )
    run = [sys.executable, "-c", "import kern; print(kern.limit())"]
    assert subprocess.run(run, cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip() == "1"
    assert subprocess.run(run, cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip() == "1"
    (tmp_path / "consts.py").write_text("LIMIT = 2\n")
    assert subprocess.run(run, cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip() == "2"
    assert len(list((tmp_path / "cache").iterdir())) == 2


def test_a_cache_is_complete_once_marked(tmp_path: Path) -> None:
    src = tmp_path / "k.py"
    src.write_text("X = 1\n")
    cache = _numba.KernelCache("k", [src], root=tmp_path / "root")
    assert not cache.complete
    cache.mark_complete()
    assert cache.complete
    assert _numba.KernelCache("k", [src], root=tmp_path / "root").complete  # another process sees it
    src.write_text("X = 2\n")  # new source: a new directory, not complete
    assert not _numba.KernelCache("k", [src], root=tmp_path / "root").complete


def test_jobs_run_in_their_own_interpreters_and_a_failure_is_only_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "pids"
    ok = f"import os, pathlib; pathlib.Path({str(out)!r}, str(os.getpid())).write_text('x')"
    out.mkdir()
    jobs = [ok, ok, "raise SystemExit('no toolchain')", ok]
    with caplog.at_level("WARNING", logger="knhk_telemetry.kernels"):
        seconds = _numba.compile_in_workers(jobs, workers=2)
    assert set(seconds) == set(jobs)
    assert all(s >= 0 for s in seconds.values())
    pids = {int(p.name) for p in out.iterdir()}
    assert len(pids) == 3  # three processes (the repeated job ran each time), none of them this one
    assert os.getpid() not in pids
    assert "exited 1: no toolchain" in caplog.text
