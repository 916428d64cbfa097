"""poise keeps FastAPI and other ASGI apps responsive under production load.

The public API is what this module exports; everything else is private and may change.

    from fastapi import FastAPI
    from poise import Poise

    app = FastAPI()
    Poise(app)
"""

from __future__ import annotations

from poise._version import __version__
from poise.admission.deadline import remaining
from poise.admission.policy import route
from poise.errors import AlreadyInstalledError, InstallError, PoiseError, SettingsError
from poise.install import Poise
from poise.ledger import UNMATCHED, Ledger, current_ledger
from poise.settings import Settings

__all__ = [
    "UNMATCHED",
    "AlreadyInstalledError",
    "InstallError",
    "Ledger",
    "Poise",
    "PoiseError",
    "Settings",
    "SettingsError",
    "__version__",
    "current_ledger",
    "remaining",
    "route",
]
