"""The pytest plugin is registered through the pytest11 entry point."""

from __future__ import annotations

import pytest

from poise import __version__

pytest_plugins = ["pytester"]


def test_plugin_loads_and_reports_the_version(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing():\n    assert True\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"poise: {__version__}"])


def test_plugin_can_be_disabled(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing():\n    assert True\n")
    result = pytester.runpytest_subprocess("-p", "no:poise", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert f"poise: {__version__}" not in result.stdout.str()
