"""Blocking helpers in a module of their own: the block is two calls away from the route."""

from __future__ import annotations

import time


def outer(seconds: float) -> None:
    inner(seconds)


def inner(seconds: float) -> None:
    time.sleep(seconds)  # BLOCK: blockers.inner


def sleepy_callback() -> None:
    time.sleep(0.3)  # BLOCK: blockers.sleepy_callback
