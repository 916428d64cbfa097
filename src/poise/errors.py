"""The exceptions poise raises; every one derives from :class:`PoiseError`."""

from __future__ import annotations

__all__ = ["AlreadyInstalledError", "InstallError", "PoiseError", "SettingsError"]


class PoiseError(Exception):
    """Base class of every error poise raises on purpose."""


class SettingsError(PoiseError, ValueError):
    """A setting (in code or in a ``POISE_*`` variable) has a value poise cannot use."""


class InstallError(PoiseError, RuntimeError):
    """``Poise(app)`` cannot install itself on this app."""


class AlreadyInstalledError(InstallError):
    """``Poise(app)`` was called on an app that already has poise installed."""
