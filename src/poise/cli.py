"""The ``poise`` command: a thin click layer over typed functions that do the work."""

from __future__ import annotations

import sys
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
