"""The pytest plugin, loaded through the ``pytest11`` entry point when poise is installed."""

from __future__ import annotations

import pytest

from poise._version import __version__


def pytest_report_header(config: pytest.Config) -> str:
    """Say which poise the run uses, so a CI log shows it next to the other plugins."""
    return f"poise: {__version__}"
