"""The ``poise`` command: a thin click layer over typed functions that do the work."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final

import click
from rich.console import Console
from rich.table import Table

from poise._version import __version__
from poise.errors import SettingsError
from poise.settings import Settings

__all__ = ["EXIT_OK", "EXIT_USAGE", "main"]

EXIT_OK: Final = 0
EXIT_USAGE: Final = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="poise")
def main() -> None:
    """Keep FastAPI / ASGI apps responsive under production load."""


@main.command("settings")
def settings_command() -> None:
    """Show every setting: its environment variable, default and effective value.

    Exits with 2 and a one-line reason when a POISE_* variable holds a bad value.
    """
    try:
        effective = Settings.from_env()
    except SettingsError as exc:
        click.echo(f"poise: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    print_settings(effective, Console())


def print_settings(effective: Settings, console: Console) -> None:
    """Print ``effective`` as a table, secrets masked."""
    table = Table(title="poise settings", title_justify="left")
    table.add_column("setting")
    table.add_column("environment variable")
    table.add_column("default")
    table.add_column("effective")
    for name, env, default, value, _doc in effective.describe():
        table.add_row(name, env, default, value)
    console.print(table)


@main.command("doctor")
@click.argument("target")
@click.option(
    "--format", "output_format", type=click.Choice(["text", "json", "sarif", "html"]),
    default="text", show_default=True, help="Report format.",
)  # fmt: skip
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the report to this file instead of standard output.",
)  # fmt: skip
@click.option(
    "--fail-on", type=click.Choice(["error", "warning", "info", "never"]), default="error",
    show_default=True, help="Exit 1 when a finding is at least this severe.",
)  # fmt: skip
@click.option("--probe", is_flag=True, help="Import the app, run it and burst its GET routes.")
@click.option(
    "--probe-requests", type=click.IntRange(1, 10_000), default=20, show_default=True,
    help="Requests per route in the probe's burst.",
)  # fmt: skip
@click.option(
    "--probe-threshold", type=click.FloatRange(0.001, 10.0), default=0.01, show_default=True,
    help="Seconds the loop must be held to count as a block in the probe.",
)  # fmt: skip
@click.option("--no-cache", is_flag=True, help="Parse every file again; do not use the cache.")
def doctor_command(
    target: str, output_format: str, output: Path | None, fail_on: str, probe: bool,
    probe_requests: int, probe_threshold: float, no_cache: bool,
) -> None:  # fmt: skip
    """Audit TARGET for calls that block the event loop, per-request clients, missing timeouts.

    TARGET is package.module:app, a Python file, or a directory. Exit codes: 0 nothing at
    or above --fail-on, 1 findings, 2 the target cannot be used (one-line reason).
    """
    from poise.doctor.command import run_doctor

    code = run_doctor(
        target=target,
        output_format=output_format,  # type: ignore[arg-type]
        output=output,
        fail_on=fail_on,  # type: ignore[arg-type]
        probe=probe,
        probe_requests=probe_requests,
        probe_threshold=probe_threshold,
        cache=not no_cache,
    )
    sys.exit(code)
