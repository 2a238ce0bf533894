"""The ``knhk-telemetry`` command.

Exit codes (documented in docs/cli.md, relied on by scripts and CI):

- 0: success (``run`` stopped cleanly on SIGTERM/SIGINT; a valid config)
- 1: an unexpected error (a bug: the traceback is logged)
- 2: wrong usage (unknown option, missing argument), as click reports it
- 3: the configuration is invalid (the message names the key path, file and line)
- 4: the service could not start (a port in use, an unwritable path)
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

import click

from knhk_telemetry import __version__
from knhk_telemetry.errors import ConfigError, KnhkTelemetryError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CONFIG = 3
EXIT_START = 4

log = logging.getLogger("knhk_telemetry")

_STD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra=`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STD_ATTRS and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class ConsoleFormatter(logging.Formatter):
    """``time level logger: message key=value ...`` for people."""

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(
            f"{k}={v}" for k, v in record.__dict__.items() if k not in _STD_ATTRS and not k.startswith("_")
        )
        line = f"{self.formatTime(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if extras:
            line += f" {extras}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup_logging(level: str = "info", encoding: str = "console") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if encoding == "json" else ConsoleFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel({"warn": "WARNING"}.get(level, level.upper()))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """knhk-telemetry: real-time OpenTelemetry processing on columnar batches."""


@main.command()
def version() -> None:
    """Print the version."""
    click.echo(f"knhk-telemetry {__version__}")


def _load(config_path: Path | None) -> Any:
    from knhk_telemetry.config import default_config, load_config

    return load_config(config_path) if config_path is not None else default_config()


@main.command()
def warmup() -> None:
    """Compile (or load) the numba kernels (OTLP codecs, window kernels) into their cache, so
    that `run` serves at full speed from its first request. Run it after installing or upgrading."""
    from knhk_telemetry.otlp import warmup as warm
    from knhk_telemetry.stream import _kernels

    report = warm()
    if report.compile_jobs:
        click.echo(f"compiled: {report.compile_s:.2f} s in {report.compile_jobs} processes (cold cache)")
    click.echo(f"decoder: {report.decoder_s:.2f} s, cache {report.decoder_cache}")
    click.echo(f"encoder: {report.encoder_s:.2f} s, cache {report.encoder_cache}")
    windows_s = _kernels.warmup()
    click.echo(f"windows: {windows_s:.2f} s, cache {_kernels.CACHE.directory}")


@main.command("validate-config")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True, help="YAML config file.")
def validate_config(config_path: Path) -> None:
    """Check a config file; exit 3 with a message naming the key path if it is invalid."""
    try:
        cfg = _load(config_path)
    except ConfigError as exc:
        click.echo(f"invalid configuration: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    pipelines = ", ".join(sorted(cfg.service.pipelines))
    click.echo(f"{config_path}: valid ({len(cfg.service.pipelines)} pipeline(s): {pipelines})")


@main.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    help="YAML config file (default: the embedded default config).",
)
def run(config_path: Path | None) -> None:
    """Run the service until SIGTERM or SIGINT; everything accepted is exported before exit."""
    sys.exit(_run(config_path))


def _run(config_path: Path | None) -> int:
    from knhk_telemetry.pipeline.service import Service
    from knhk_telemetry.telemetry import MetricsServer

    setup_logging()
    try:
        cfg = _load(config_path)
    except ConfigError as exc:
        log.error("invalid configuration: %s", exc)
        return EXIT_CONFIG
    setup_logging(cfg.service.telemetry.logs.level, cfg.service.telemetry.logs.encoding)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        service = Service(cfg)
    except ConfigError as exc:
        log.error("invalid configuration: %s", exc)
        return EXIT_CONFIG
    metrics: MetricsServer | None = None
    try:
        service.start()
        if cfg.service.telemetry.metrics.enabled:
            metrics = MetricsServer(cfg.service.telemetry.metrics.address, service.samples)
            metrics.start()
    except (KnhkTelemetryError, OSError) as exc:
        log.error("could not start: %s", exc)
        service.shutdown()
        return EXIT_START
    from knhk_telemetry.otlp import warmup_in_background

    # the reference codec serves until the compiled one is loaded: a warm cache loads in about
    # a second (wait for it), a cold one compiles for minutes (serve meanwhile)
    warmup_in_background().join(timeout=5.0)
    log.info(
        "knhk-telemetry %s running",
        __version__,
        extra={
            "pid": os.getpid(),
            "metrics": metrics.url if metrics else None,
            "config": str(config_path or "default"),
        },
    )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        if metrics is not None:
            metrics.shutdown()
        service.shutdown()
    log.info("stopped cleanly")
    return EXIT_OK


def _add_commands() -> None:
    """Commands that live beside their domain package (each a click command object)."""
    from knhk_telemetry.loadgen import loadgen_command
    from knhk_telemetry.semconv.cli import registry_command
    from knhk_telemetry.semconv.livecheck.cli import live_check_command
    from knhk_telemetry.stream.cli import windows_command

    main.add_command(registry_command, "registry")
    main.add_command(live_check_command, "live-check")
    main.add_command(windows_command, "windows")
    main.add_command(loadgen_command, "loadgen")


_add_commands()

if __name__ == "__main__":  # pragma: no cover
    main(prog_name="knhk-telemetry")
