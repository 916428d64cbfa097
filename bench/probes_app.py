"""The apps ``bench/probes.py`` serves: overload_app's /work plus a Redis health check.

``bare``: the route and a fastapi-health ``/health`` endpoint whose condition pings
Redis (the usual FastAPI health check). ``poised``: the route, ``Poise(app)``, and
poise's Redis check (``/readyz``; ``POISE_PROBE_PORT`` adds the probe port). Both count
their check's runs at ``/calls``.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from fastapi_health import health

from bench.overload_app import build
from poise import Poise
from poise.health import Check

calls = {"count": 0}
client = aioredis.Redis(host="127.0.0.1", port=6379, socket_timeout=1)


async def redis_ok() -> bool:
    calls["count"] += 1
    return bool(await client.ping())


def _counted(app: object) -> None:
    @app.get("/calls")  # type: ignore[attr-defined, untyped-decorator]
    async def counted() -> dict[str, int]:
        return calls


bare = build()
bare.add_api_route("/health", health([redis_ok]))
_counted(bare)

poised = build()
_counted(poised)
Poise(poised).health.add(Check("redis", redis_ok, background=False, ttl=1.0))
