"""What ``poise doctor`` does once its options are parsed: audit, probe, report, exit code."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Final, Literal, TextIO

from rich.console import Console

from poise.doctor.model import Report
from poise.doctor.project import DoctorError
from poise.doctor.rules import SEVERITY_RANK
from poise.doctor.run import USE_DEFAULT_CACHE, diagnose

__all__ = ["EXIT_FINDINGS", "FailOn", "Format", "run_doctor"]

Format = Literal["text", "json", "sarif", "html"]
FailOn = Literal["error", "warning", "info", "never"]

EXIT_CLEAN: Final = 0
EXIT_FINDINGS: Final = 1
EXIT_USAGE: Final = 2


def run_doctor(
    *,
    target: str,
    output_format: Format = "text",
    output: Path | None = None,
    fail_on: FailOn = "error",
    probe: bool = False,
    probe_requests: int = 20,
    probe_threshold: float = 0.01,
    cache: bool = True,
    cwd: Path | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Audit ``target``, write the report, and return the exit code.

    0: nothing at or above ``fail_on``; 1: findings; 2: the target (or the app, for
    ``probe``) cannot be used; the reason is one line on ``stderr``.
    """
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    try:
        report = diagnose(target, cwd=cwd, cache_dir=USE_DEFAULT_CACHE if cache else None)
        if probe:
            from poise.doctor.probe import ProbeError, run_probe

            try:
                report.probe = run_probe(report, target, cwd=cwd or Path.cwd(),
                                         requests=probe_requests,
                                         threshold=probe_threshold)  # fmt: skip
            except ProbeError as exc:
                print(f"poise doctor: {exc}", file=stderr)
                return EXIT_USAGE
    except DoctorError as exc:
        print(f"poise doctor: {exc}", file=stderr)
        return EXIT_USAGE
    try:
        write_report(report, output_format, output, stdout)
    except OSError as exc:
        print(f"poise doctor: cannot write {output}: {exc.strerror or exc}", file=stderr)
        return EXIT_USAGE
    threshold = SEVERITY_RANK.get(fail_on)
    if threshold is None:
        return EXIT_CLEAN
    return EXIT_FINDINGS if report.worst() >= threshold else EXIT_CLEAN


def write_report(report: Report, output_format: Format, output: Path | None,
                 stdout: TextIO) -> None:  # fmt: skip
    """Render ``report`` in ``output_format`` to ``output`` (a file) or ``stdout``."""
    if output_format == "text":
        if output is None:
            console = Console(file=stdout, highlight=False, soft_wrap=True)
            from poise.doctor.text import print_text

            print_text(report, console)
            return
        with open(output, "w", encoding="utf-8") as file:
            from poise.doctor.text import print_text

            print_text(report, Console(file=file, no_color=True, width=120, soft_wrap=True))
        return
    if output_format == "json":
        text = json.dumps(report.to_dict(), indent=2)
    elif output_format == "sarif":
        from poise.doctor.sarif import to_sarif

        text = json.dumps(to_sarif(report), indent=2)
    else:
        from poise.doctor.html import to_html

        text = to_html(report)
    if output is None:
        stdout.write(text + "\n")
    else:
        output.write_text(text + "\n", encoding="utf-8")
