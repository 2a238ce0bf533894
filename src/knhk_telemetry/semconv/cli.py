"""``registry`` command group: ``registry check`` loads registries and reports their problems.

Exit codes: 0 when no error was found (warnings are printed but do not fail unless ``--strict``),
1 when problems were found, 2 for usage errors (unknown option, a ``--registry`` that does not
exist).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from knhk_telemetry.semconv.loader import BUILTIN_REGISTRIES, load_registry

__all__ = ["registry_command"]


def _check_registries(_ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    for spec in value:
        if spec not in BUILTIN_REGISTRIES and not Path(spec).exists():
            raise click.BadParameter(
                f"'{spec}' is neither a directory, a file nor a built-in registry "
                f"({', '.join(sorted(BUILTIN_REGISTRIES))})"
            )
    return value


@click.group("registry")
def registry_command() -> None:
    """Semantic-convention registries (OTel Weaver format)."""


@registry_command.command("check")
@click.option(
    "--registry",
    "-r",
    "registries",
    multiple=True,
    required=True,
    callback=_check_registries,
    help="Registry directory, YAML file or built-in name ('semconv'); repeat to layer "
    "registries (later ones on top of earlier ones).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format: one 'file:line: level: message' per line, or a JSON list.",
)
@click.option("--strict", is_flag=True, help="Fail (exit 1) on warnings too.")
@click.option(
    "--future",
    is_flag=True,
    help="Apply the rules Weaver's --future enables (requirement_level on v2 signals, examples on string attributes).",
)
def check_command(registries: tuple[str, ...], fmt: str, strict: bool, future: bool) -> None:
    """Load and resolve registries; report unresolved refs, duplicates, unknown types, bad names..."""
    result = load_registry(list(registries), future=future)
    problems = result.problems
    if fmt == "json":
        click.echo(json.dumps([p.to_dict() for p in problems], indent=2))
    else:
        for p in problems:
            click.echo(str(p))
        reg = result.registry
        click.echo(
            f"{len(result.errors)} error(s), {len(result.warnings)} warning(s); "
            f"{len(reg.attributes)} attributes, {len(reg.groups)} groups, "
            f"{len(reg.metrics)} metrics, {len(reg.events)} events, "
            f"{len(reg.entities)} entities, {len(reg.span_groups())} span groups",
            err=True,
        )
    failed = bool(result.errors) or (strict and bool(problems))
    raise SystemExit(1 if failed else 0)
