"""The codec dispatch: reference until the compiled codecs are warm, identical results."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from knhk_telemetry import otlp
from knhk_telemetry.otlp import codec, proto
from knhk_telemetry.synth import synthetic_spans

# a cold numba cache compiles the kernels for minutes (CI warms it first: .ci/run)
pytestmark = pytest.mark.timeout(1200)


@pytest.fixture
def fresh_state() -> Iterator[None]:
    saved = codec._state
    codec._state = codec._State()
    codec._state.mode = "auto"
    yield
    codec._state = saved


def test_auto_uses_the_reference_until_warm_then_the_compiled_codec(fresh_state: None) -> None:
    batch = synthetic_spans(300, seed=31)
    data = proto.encode_traces(batch)
    assert codec.active() == "reference"
    before = otlp.decode("traces", data)
    report = otlp.warmup()
    assert codec.active() == "compiled"
    assert report.decoder_cache.endswith(otlp.fast.cache_dir().name)
    after = otlp.decode("traces", data)
    assert before.batch == after.batch  # (the decoded batch has "" where synth has nulls)
    assert len(after.batch) == 300
    assert otlp.encode_traces(batch) == proto.encode_traces(batch)


def test_reference_mode_never_uses_the_compiled_codec(fresh_state: None) -> None:
    otlp.set_mode("reference")
    otlp.warmup()
    assert codec.active() == "reference"


def test_compiled_mode_uses_it_without_an_explicit_warmup(fresh_state: None) -> None:
    otlp.set_mode("compiled")
    assert codec.active() == "compiled"


def test_background_warmup_switches_once_done(fresh_state: None) -> None:
    thread = otlp.warmup_in_background()
    assert otlp.warmup_in_background() is thread  # once per process
    thread.join(600)
    assert codec.active() == "compiled"


def test_bad_mode_names_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="unknown codec mode 'fastest'; one of auto, compiled, reference"):
        otlp.set_mode("fastest")  # type: ignore[arg-type]
    monkeypatch.setenv(codec.MODE_ENV, "turbo")
    with pytest.raises(ValueError, match=r"\$KNHK_TELEMETRY_CODEC='turbo'"):
        codec._mode_from_env()


def test_a_cold_cache_compiles_in_child_processes_and_a_warm_one_spawns_nothing(
    fresh_state: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from knhk_telemetry import _numba
    from knhk_telemetry.otlp.fastenc._cache import CACHE as ENCODER_CACHE

    calls: list[list[str]] = []
    monkeypatch.setattr(_numba, "compile_in_workers", lambda jobs, **kw: calls.append(list(jobs)) or {})
    otlp.warmup()  # loads, and marks both caches complete
    assert otlp.fast.cache().complete
    assert ENCODER_CACHE.complete
    report = otlp.warmup()
    assert calls == []
    assert (report.compile_jobs, report.compile_s) == (0, 0.0)
    # a cache that is not complete (a new version, a new machine): one job per decoder signal
    # and one for the encoder, each a statement for a fresh interpreter
    monkeypatch.setattr(_numba.KernelCache, "complete", property(lambda self: False))
    report = otlp.warmup()
    assert report.compile_jobs == 4
    assert len(calls) == 1
    assert [job.split("; ")[1] for job in calls[0]] == [
        "fast.warmup(('metrics',))",
        "fast.warmup(('traces',))",
        "fastenc.warmup()",
        "fast.warmup(('logs',))",
    ]
    # a private cache (the root cannot be written) is never handed to workers
    calls.clear()
    monkeypatch.setattr(otlp.fast.cache(), "private", True)
    assert otlp.warmup().compile_jobs == 0
    assert calls == []
    monkeypatch.setattr(otlp.fast.cache(), "private", False)
    # only the encoder's cache is not complete: only its job
    calls.clear()
    monkeypatch.setattr(_numba.KernelCache, "complete", property(lambda self: self.name != "fastenc"))
    assert otlp.warmup().compile_jobs == 1
    assert [job.split("; ")[1] for job in calls[0]] == ["fastenc.warmup()"]
    assert codec.active() == "compiled"


def test_the_compile_jobs_run_as_written(caplog: pytest.LogCaptureFixture) -> None:
    from knhk_telemetry import _numba

    otlp.warmup()  # the cache is warm: each child only imports and loads
    with caplog.at_level("WARNING", logger="knhk_telemetry.kernels"):
        seconds = _numba.compile_in_workers([job for _, job in codec._JOBS])
    assert len(seconds) == 4
    assert caplog.text == ""
