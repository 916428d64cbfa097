"""The ``poise`` command: a thin click layer over typed functions that do the work."""

from __future__ import annotations

import os
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


@main.command("run", context_settings={"show_default": True})
@click.argument("target")
@click.option("--host", default="127.0.0.1", help="Bind to this address.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, help="Bind to this port.")
@click.option("--uds", help="Bind to this Unix domain socket instead.")
@click.option("--workers", type=click.IntRange(1, 512), default=1,
              help="Worker processes (each drains on its own SIGTERM).")  # fmt: skip
@click.option("--loop", type=click.Choice(["auto", "asyncio", "uvloop"]), default="auto",
              help="Event loop implementation.")  # fmt: skip
@click.option("--http", type=click.Choice(["auto", "h11", "httptools"]), default="auto",
              help="HTTP protocol implementation.")  # fmt: skip
@click.option("--factory", is_flag=True, help="TARGET is a function returning the app.")
@click.option("--app-dir", default=".", help="Look for TARGET's module in this directory.")
@click.option("--root-path", default="", help="ASGI root_path, behind a path-prefixing proxy.")
@click.option("--proxy-headers/--no-proxy-headers", default=True,
              help="Trust X-Forwarded-* from --forwarded-allow-ips.")  # fmt: skip
@click.option("--forwarded-allow-ips", default=None, help="Proxies trusted for proxy headers.")
@click.option("--timeout-keep-alive", type=click.IntRange(1, 3600), default=5,
              help="Close idle keep-alive connections after this many seconds.")  # fmt: skip
@click.option("--access-log/--no-access-log", default=True, help="uvicorn's access log.")
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug",
              "trace"]), default="info", help="uvicorn's log level.")  # fmt: skip
@click.option("--drain-delay", default=None,
              help="Seconds to serve on after SIGTERM (POISE_DRAIN_DELAY).")  # fmt: skip
@click.option("--drain-timeout", default=None,
              help="Seconds requests in flight get after that (POISE_DRAIN_TIMEOUT).")  # fmt: skip
@click.option("--timeout-graceful-shutdown", default=None,
              help="uvicorn's name for --drain-timeout (which wins over it).")  # fmt: skip
@click.option("--env-file", type=click.Path(exists=True, dir_okay=False),
              help="Load environment variables from this file first (python-dotenv).")  # fmt: skip
@click.option("--log-config", type=click.Path(exists=True, dir_okay=False),
              help="uvicorn's logging configuration file (.json, .yaml or .ini).")  # fmt: skip
@click.option("--reload", is_flag=True, help="Restart when --app-dir's files change (development).")
@click.option("--ssl-keyfile", type=click.Path(exists=True, dir_okay=False), help="TLS key file.")
@click.option("--ssl-certfile", type=click.Path(exists=True, dir_okay=False),
              help="TLS certificate file.")  # fmt: skip
@click.option("--ssl-keyfile-password", default=None, help="Password of the TLS key file.")
@click.option("--ssl-ca-certs", type=click.Path(exists=True, dir_okay=False),
              help="CA certificates file.")  # fmt: skip
@click.option("--ssl-ciphers", default="TLSv1", help="Ciphers to use (see the ssl module).")
def run_command(target: str, host: str, port: int, uds: str | None, workers: int, loop: str,
                http: str, factory: bool, app_dir: str, root_path: str, proxy_headers: bool,
                forwarded_allow_ips: str | None, timeout_keep_alive: int, access_log: bool,
                log_level: str, drain_delay: str | None, drain_timeout: str | None,
                timeout_graceful_shutdown: str | None, env_file: str | None,
                log_config: str | None, reload: bool, ssl_keyfile: str | None,
                ssl_certfile: str | None, ssl_keyfile_password: str | None,
                ssl_ca_certs: str | None, ssl_ciphers: str) -> None:  # fmt: skip
    """Serve TARGET (module:app) with uvicorn, poise installed, and a drain on SIGTERM.

    On SIGTERM or SIGINT: /readyz answers 503 at once, the app keeps serving for the
    drain delay, then requests in flight finish (up to the drain timeout), then the
    app's lifespan shutdown runs. Exit codes: 0 clean stop, 2 the target cannot be
    loaded or a setting is bad, 3 the app's start-up failed.
    """
    from poise.run import RunError, _log_like_uvicorn, serve

    _log_like_uvicorn()  # poise's lines from here on: uvicorn's format, once each
    if env_file is not None:
        # Before anything reads the environment: poise's settings, the app's import.
        try:
            from dotenv import load_dotenv
        except ImportError:
            click.echo("poise run: --env-file needs python-dotenv: pip install python-dotenv",
                       err=True)  # fmt: skip
            sys.exit(EXIT_USAGE)
        load_dotenv(dotenv_path=env_file)
    drain_timeout = drain_timeout if drain_timeout is not None else timeout_graceful_shutdown
    for name, value in (("POISE_DRAIN_DELAY", drain_delay), ("POISE_DRAIN_TIMEOUT", drain_timeout)):
        if value is not None:
            os.environ[name] = value
    # uvicorn's own options, passed only when given (its defaults otherwise).
    passed = {
        name: value
        for name, value in (
            ("log_config", log_config), ("ssl_keyfile", ssl_keyfile),
            ("ssl_certfile", ssl_certfile), ("ssl_keyfile_password", ssl_keyfile_password),
            ("ssl_ca_certs", ssl_ca_certs),
        )
        if value is not None
    }  # fmt: skip
    try:
        Settings.from_env()  # a bad POISE_* value: one line, before anything starts
        code = serve(
            target, factory=factory, app_dir=app_dir, workers=workers, host=host, port=port,
            uds=uds, loop=loop, http=http, root_path=root_path, proxy_headers=proxy_headers,
            forwarded_allow_ips=forwarded_allow_ips, timeout_keep_alive=timeout_keep_alive,
            access_log=access_log, log_level=log_level, reload=reload, ssl_ciphers=ssl_ciphers,
            **passed,
        )  # fmt: skip
    except (RunError, SettingsError) as exc:
        click.echo(f"poise run: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    sys.exit(code)
