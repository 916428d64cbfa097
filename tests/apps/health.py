"""An app for the health and drain tests, served by `poise run` or uvicorn.

Environment (all optional):

* ``REDIS_URL``: a critical Redis check on it (poise's own client).
* ``DATABASE_URL``: an SQLAlchemy async engine with a pool of 2 (no overflow) and a
  critical PostgreSQL check on it; ``/hold`` keeps one connection for a while.
* ``MARKER``: a file the lifespan shutdown writes, with the request ids ``/work`` saw.
* ``CHECK_MODE``: ``count`` adds a check that counts its runs (``/check-runs``), on
  demand with a 30 s TTL; ``raise`` / ``hang`` add a check that raises / never returns.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Header
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from poise import Poise
from poise.health import Observation, postgres, redis

engines: dict[str, AsyncEngine] = {}
seen: list[str] = []
check_runs = {"count": 0}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    url = os.environ.get("DATABASE_URL")
    if url:
        engines["db"] = create_async_engine(url, pool_size=2, max_overflow=0, pool_timeout=30)
    yield
    for engine in engines.values():
        await engine.dispose()
    marker = os.environ.get("MARKER")
    if marker:
        Path(marker).write_text(json.dumps({"shutdown": True, "seen": seen}))


app = FastAPI(lifespan=lifespan)
poise = Poise(app)

if os.environ.get("REDIS_URL"):
    poise.health.add(redis(os.environ["REDIS_URL"], timeout=0.5, ttl=0.5))
if os.environ.get("DATABASE_URL"):
    poise.health.add(postgres(lambda: engines.get("db"), timeout=1.0, ttl=0.5))

mode = os.environ.get("CHECK_MODE")
if mode == "count":

    @poise.health.check("counted", background=False, ttl=30)
    async def counted() -> Observation:
        check_runs["count"] += 1
        await asyncio.sleep(0.2)  # long enough for the probes to pile up behind it
        return Observation("runs", check_runs["count"])

elif mode == "raise":

    @poise.health.check("broken", ttl=0.5)
    async def broken() -> None:
        raise ConnectionRefusedError("nobody home at 10.0.0.1:5")

elif mode == "hang":

    @poise.health.check("stuck", timeout=0.3, ttl=0.5)
    async def stuck() -> None:
        await asyncio.sleep(3600)


@app.get("/work")
async def work(x_request_id: str = Header("")) -> dict[str, str]:
    seen.append(x_request_id)
    await asyncio.sleep(0.02)
    return {"id": x_request_id}


@app.get("/hold")
async def hold(seconds: float = 2.0) -> dict[str, Any]:
    async with engines["db"].connect() as conn:
        await conn.execute(text("SELECT 1"))
        await asyncio.sleep(seconds)
    return {"held": seconds}


@app.get("/block-loop")
async def block_loop(seconds: float = 2.0) -> dict[str, float]:
    time.sleep(seconds)  # deliberately blocks the event loop
    return {"blocked": seconds}


@app.get("/check-runs")
async def runs() -> dict[str, int]:
    return check_runs
