"""Helpers for the doctor's tests: small projects written to a temporary directory."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from poise.doctor import Report
from poise.doctor.run import diagnose

WriteProject = Callable[[dict[str, str]], Path]


@pytest.fixture
def write_project(tmp_path: Path) -> WriteProject:
    """Write ``{relative path: source}`` under a fresh directory and return it."""

    def write(files: dict[str, str]) -> Path:
        root = tmp_path / "project"
        for name, source in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(source).lstrip("\n"), encoding="utf-8")
        return root

    return write


def audit(root: Path, target: str | None = None) -> Report:
    """Diagnose ``target`` (default: the whole project directory) without a disk cache."""
    return diagnose(target or str(root), cwd=root, cache_dir=None)


def found(report: Report) -> set[tuple[str, str, int, str]]:
    """(rule, file, line, entry) of every finding."""
    return {(f.rule, f.file, f.line, f.entry) for f in report.findings}


REPO = Path(__file__).parents[2]


def doctor_command(*args: str) -> list[str]:
    """``python -m poise doctor ARGS``, measured by coverage when the tests are.

    The command runs in the project's directory, so coverage is pointed back at the
    repository's configuration and data file.
    """
    prefix: list[str] = []
    try:
        import coverage
    except ImportError:  # pragma: no cover
        coverage = None  # type: ignore[assignment]
    if coverage is not None and coverage.Coverage.current() is not None:
        prefix = ["-m", "coverage", "run", "--parallel-mode",
                  f"--rcfile={REPO / 'pyproject.toml'}",
                  f"--data-file={REPO / '.coverage'}"]  # fmt: skip
    return [sys.executable, *prefix, "-m", "poise", "doctor", *args]
