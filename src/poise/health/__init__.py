"""Honest health: live / ready / startup probes, checks, and the drain state.

Register checks on the app's poise (``Poise(app).health``)::

    from poise import Poise
    from poise.health import http, postgres, redis

    poise = Poise(app)
    poise.health.add(postgres(lambda: app.state.engine))
    poise.health.add(redis("redis://127.0.0.1:6379/0"))
    poise.health.add(http("https://payments.internal/health", critical=False))

See docs/health.md.
"""

from __future__ import annotations

from poise.health.checks import Check, CheckResult, Observation, PoolState, http, postgres, redis
from poise.health.state import Health

__all__ = [
    "Check",
    "CheckResult",
    "Health",
    "Observation",
    "PoolState",
    "http",
    "postgres",
    "redis",
]
