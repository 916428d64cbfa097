"""The public surface: what ``poise`` exports is deliberate and importable."""

from __future__ import annotations

import poise


def test_all_is_exactly_the_public_api() -> None:
    assert sorted(poise.__all__) == sorted(
        [
            "AlreadyInstalledError",
            "InstallError",
            "Ledger",
            "Poise",
            "PoiseError",
            "Settings",
            "SettingsError",
            "UNMATCHED",
            "__version__",
            "current_ledger",
            "remaining",
            "route",
        ]
    )
    for name in poise.__all__:
        assert hasattr(poise, name), name


def test_errors_share_a_base() -> None:
    assert issubclass(poise.SettingsError, poise.PoiseError)
    assert issubclass(poise.SettingsError, ValueError)
    assert issubclass(poise.AlreadyInstalledError, poise.InstallError)
    assert issubclass(poise.InstallError, poise.PoiseError)
