"""The poise command: version, settings, and a clear exit 2 on bad configuration."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from poise import __version__
from poise.cli import EXIT_USAGE, main


def test_version_from_the_installed_script() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "poise", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == f"poise, version {__version__}"


def test_settings_shows_effective_values_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POISE_BLOCK_THRESHOLD", "100ms")
    monkeypatch.setenv("POISE_ADMIN_TOKEN", "a-very-secret-token-123")
    result = CliRunner().invoke(main, ["settings"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "POISE_BLOCK_THRESHOLD" in result.output
    assert "0.1" in result.output
    assert "a-very-secret-token-123" not in result.output
    assert "'***'" in result.output


def test_settings_with_a_bad_variable_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POISE_RECENT_REQUESTS", "lots")
    result = CliRunner().invoke(main, ["settings"])
    assert result.exit_code == EXIT_USAGE == 2
    assert result.output.strip().splitlines() == [
        "poise: POISE_RECENT_REQUESTS='lots' is not valid: expected a whole number from 1 to 100000"
    ]
