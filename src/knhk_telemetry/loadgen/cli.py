"""``knhk-telemetry loadgen``: the click command (registered on the main group by ``cli.py``)."""

from __future__ import annotations

import sys

import click

from knhk_telemetry.loadgen.run import Compression, LoadConfig, LoadgenError, Transport, build_pool, run_load

#: exit status when not one request succeeded (the endpoint is down or refuses everything)
EXIT_NOTHING_ACCEPTED = 1


def _rate(value: str) -> float | None:
    if value.strip().lower() == "max":
        return None
    try:
        rate = float(value)
    except ValueError:
        raise click.BadParameter(f"must be spans per second or 'max', not {value!r}", param_hint="--rate") from None
    if not rate > 0:
        raise click.BadParameter(f"must be > 0, not {value}", param_hint="--rate")
    return rate


@click.command("loadgen")
@click.option("--endpoint", default=None, help="HOST:PORT [default: 127.0.0.1:4317 for grpc, :4318 for http].")
@click.option("--protocol", type=click.Choice(["grpc", "http"]), default="grpc", show_default=True)
@click.option("--rate", "rate_text", default="max", show_default=True, help="Spans per second (open loop), or 'max'.")
@click.option(
    "--duration", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True, help="Seconds."
)
@click.option("--concurrency", type=click.IntRange(1, 1024), default=4, show_default=True, help="Worker connections.")
@click.option("--spans-per-request", type=click.IntRange(1, 1_000_000), default=1000, show_default=True)
@click.option("--services", type=click.IntRange(1, 1000), default=8, show_default=True)
@click.option(
    "--error-ratio", type=click.FloatRange(0, 1), default=0.02, show_default=True, help="Share of traces that fail."
)
@click.option("--compression", type=click.Choice(["none", "gzip"]), default="none", show_default=True)
@click.option("--pool-size", type=click.IntRange(1, 100_000), default=64, show_default=True, help="Distinct requests.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True)
@click.option("--http-path", default="/v1/traces", show_default=True)
@click.option("--allow-remote", is_flag=True, help="Allow a non-loopback endpoint (off: loopback only).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def loadgen_command(  # noqa: PLR0917 - click passes each option as a parameter
    endpoint: str | None,
    protocol: Transport,
    rate_text: str,
    duration: float,
    concurrency: int,
    spans_per_request: int,
    services: int,
    error_ratio: float,
    compression: Compression,
    pool_size: int,
    seed: int,
    timeout: float,
    http_path: str,
    allow_remote: bool,
    as_json: bool,
) -> None:
    """Send realistic OTLP traces to an endpoint and report what it accepted.

    Requests are generated and encoded up front (a pool of distinct requests whose ids and
    times are patched per send), so the generator is not the limit; the report gives its
    ceiling and this process's CPU use. Exit status 1 if no request succeeded.
    """
    config = LoadConfig(
        endpoint=endpoint or ("127.0.0.1:4317" if protocol == "grpc" else "127.0.0.1:4318"),
        protocol=protocol,
        rate=_rate(rate_text),
        duration=duration,
        concurrency=concurrency,
        spans_per_request=spans_per_request,
        services=services,
        error_ratio=error_ratio,
        compression=compression,
        pool_size=pool_size,
        seed=seed,
        timeout=timeout,
        http_path=http_path,
        allow_remote=allow_remote,
    )
    try:
        config.validate()
    except LoadgenError as exc:
        raise click.UsageError(str(exc)) from None
    if not as_json:
        click.echo(f"building {pool_size} requests of {spans_per_request} spans ...", err=True)
    report = run_load(config, pool=build_pool(config))
    click.echo(report.to_json() if as_json else report.to_text())
    if report.requests_ok == 0:
        sys.exit(EXIT_NOTHING_ACCEPTED)
