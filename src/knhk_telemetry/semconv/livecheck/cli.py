"""``knhk-telemetry live-check``: Weaver's ``registry live-check`` on files or on live OTLP.

Exit codes: ``0`` done (no finding reached ``--fail-on``); ``1`` some finding reached
``--fail-on``; ``2`` usage error (click); ``3`` a registry path or an input file cannot be read.
Registry content problems are printed to stderr and do not stop the check. Input that does not
decode is counted in the report (``statistics.undecodable_inputs``) and never stops it.

``--otlp`` listens for OTLP/gRPC and OTLP/HTTP (the ``otlp`` receiver) and prints the report on
SIGINT or after ``--inactivity-timeout`` seconds without a request (0: wait for SIGINT).
"""

from __future__ import annotations

import signal as signals
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import click

from knhk_telemetry.errors import ConfigError, KnhkTelemetryError
from knhk_telemetry.model.batch import Batch
from knhk_telemetry.semconv.livecheck.engine import LiveChecker
from knhk_telemetry.semconv.livecheck.inputs import INPUT_FORMATS, InputFormat, ProtoSignal, read_input
from knhk_telemetry.semconv.livecheck.modifier import FindingModifier
from knhk_telemetry.semconv.livecheck.report import LiveCheckReport

__all__ = ["EXIT_FAIL", "EXIT_OK", "EXIT_UNREADABLE", "live_check_command"]

EXIT_OK, EXIT_FAIL, EXIT_UNREADABLE = 0, 1, 3


def _load(registries: Sequence[str]) -> LiveChecker | str:
    from knhk_telemetry.semconv.loader import load_registry

    result = load_registry(list(registries))
    missing = [p for p in result.problems if p.code == "registry_not_found"]
    if missing:
        return "; ".join(p.message for p in missing)
    for p in result.errors:
        click.echo(f"registry problem: {p}", err=True)
    return LiveChecker(result.registry)


def _emit(report: LiveCheckReport, fmt: str, output: Path | None) -> None:
    text = report.to_json() + "\n" if fmt == "json" else report.to_text()
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


@click.command("live-check")
@click.option(
    "--registry",
    "registries",
    multiple=True,
    default=("semconv",),
    show_default=True,
    help="Registry directory or built-in name; repeat to layer.",
)
@click.option(
    "--input", "inputs", multiple=True, type=click.Path(path_type=Path, dir_okay=False), help="Input file (repeatable)."
)
@click.option("--input-format", type=click.Choice(INPUT_FORMATS), default="otlp-json", show_default=True)
@click.option(
    "--signal",
    "proto_signal",
    type=click.Choice(["auto", "traces", "metrics", "logs"]),
    default="auto",
    show_default=True,
    help="Signal of otlp-proto input.",
)
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="text", show_default=True)
@click.option(
    "--fail-on",
    type=click.Choice(["violation", "improvement", "information", "none"]),
    default="violation",
    show_default=True,
)
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the report here instead of stdout.",
)
@click.option(
    "--findings-config",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="YAML with finding_level_overrides / finding_filters.",
)
@click.option("--max-samples", type=click.IntRange(min=0), default=1000, show_default=True)
@click.option(
    "--max-seen",
    type=click.IntRange(min=0),
    default=10_000,
    show_default=True,
    help="Distinct names kept per seen-set.",
)
@click.option("--otlp", is_flag=True, help="Listen for OTLP instead of reading files.")
@click.option("--otlp-grpc-endpoint", default="127.0.0.1:4317", show_default=True)
@click.option("--otlp-http-endpoint", default="127.0.0.1:4318", show_default=True)
@click.option("--inactivity-timeout", type=click.FloatRange(min=0), default=10.0, show_default=True)
def live_check_command(  # noqa: PLR0917 (one parameter per CLI option)
    registries: tuple[str, ...],
    inputs: tuple[Path, ...],
    input_format: InputFormat,
    proto_signal: ProtoSignal,
    fmt: str,
    fail_on: str,
    output: Path | None,
    findings_config: Path | None,
    max_samples: int,
    max_seen: int,
    otlp: bool,
    otlp_grpc_endpoint: str,
    otlp_http_endpoint: str,
    inactivity_timeout: float,
) -> None:
    """Check telemetry against semantic-convention registries, with Weaver's live-check findings."""
    if otlp == bool(inputs):
        raise click.UsageError("give either --input FILE (one or more) or --otlp")
    modifier = FindingModifier()
    if findings_config is not None:
        try:
            modifier = FindingModifier.from_yaml(findings_config)
        except OSError as exc:
            click.echo(f"cannot read {findings_config}: {exc.strerror or exc}", err=True)
            sys.exit(EXIT_UNREADABLE)
        except ConfigError as exc:
            raise click.UsageError(f"{findings_config}: {exc}") from exc
    loaded = _load(registries)
    if isinstance(loaded, str):
        click.echo(loaded, err=True)
        sys.exit(EXIT_UNREADABLE)
    checker = loaded
    checker.modifier = modifier
    report = LiveCheckReport(checker.index, max_samples=max_samples, max_seen=max_seen)
    if otlp:
        _listen(checker, report, otlp_grpc_endpoint, otlp_http_endpoint, inactivity_timeout)
    else:
        for path in inputs:
            try:
                for item in read_input(path, input_format, signal=proto_signal):
                    if item.undecodable:
                        report.add_undecodable(item.undecodable, item.message)
                    if item.batch is not None:
                        report.add(item.batch, checker.check(item.batch), standalone=item.standalone)
            except OSError as exc:
                click.echo(f"cannot read {path}: {exc.strerror or exc}", err=True)
                sys.exit(EXIT_UNREADABLE)
    _emit(report, fmt, output)
    sys.exit(EXIT_FAIL if report.fails(fail_on) else EXIT_OK)


def _listen(
    checker: LiveChecker, report: LiveCheckReport, grpc_endpoint: str, http_endpoint: str, timeout: float
) -> None:
    """Serve OTLP until SIGINT or ``timeout`` seconds without a request."""
    from knhk_telemetry.component import CreateSettings
    from knhk_telemetry.receivers.otlp.config import OtlpReceiverConfig
    from knhk_telemetry.receivers.otlp.factory import FACTORY

    lock = threading.Lock()
    last = [time.monotonic()]
    stop = threading.Event()

    def consume(batch: Batch) -> int:
        with lock:  # the receiver calls from several threads; the checker's caches are not thread-safe
            report.add(batch, checker.check(batch))
            last[0] = time.monotonic()
        return len(batch)

    try:
        config = OtlpReceiverConfig.model_validate(
            {"protocols": {"grpc": {"endpoint": grpc_endpoint}, "http": {"endpoint": http_endpoint}}}
        )
        config.validate_config("live-check")
    except (ValueError, KnhkTelemetryError) as exc:
        raise click.UsageError(str(exc)) from exc
    # one receiver serves every signal (the factory is shared: further signals are attached)
    receiver = FACTORY.create("traces", CreateSettings("otlp/live-check", "traces", consume), config)
    for sig in ("metrics", "logs"):
        receiver.attach(CreateSettings("otlp/live-check", sig, consume))

    def on_sigint(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous: Any = None
    if threading.current_thread() is threading.main_thread():
        previous = signals.signal(signals.SIGINT, on_sigint)
    try:
        receiver.start()
        ports = f"grpc {getattr(receiver, 'grpc_port', '?')}, http {getattr(receiver, 'http_port', '?')}"
        click.echo(f"live-check listening for OTLP ({ports}); Ctrl-C prints the report", err=True)
        while not stop.wait(0.1):
            with lock:
                idle = time.monotonic() - last[0]
            if timeout and idle >= timeout:
                break
    finally:
        receiver.shutdown()
        if previous is not None:
            signals.signal(signals.SIGINT, previous)
