"""The app ``bench/overload.py`` loads: ~5 ms of CPU and ~20 ms of awaited I/O per request.

Three ASGI apps from one route: ``bare`` (served as is, or with uvicorn's
``--limit-concurrency``) and ``poised`` (``Poise(app)`` with its defaults).

``BENCH_STEP_AT`` (a ``time.time()`` value): from then on the awaited I/O takes
``BENCH_STEP_MS`` (default 60) instead of 20 ms, a downstream slowing down mid-run.
"""

from __future__ import annotations

import asyncio
import os
import time

from fastapi import FastAPI

from poise import Poise

CPU_SECONDS = 0.005
IO_SECONDS = 0.020
STEP_AT = float(os.environ.get("BENCH_STEP_AT", "inf"))
STEP_SECONDS = float(os.environ.get("BENCH_STEP_MS", "60")) / 1000


def burn(seconds: float) -> None:
    """Spin for ``seconds`` of this thread's CPU time (holds the event loop, like real work)."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def build() -> FastAPI:
    app = FastAPI()

    @app.get("/work")
    async def work() -> dict[str, str]:
        burn(CPU_SECONDS)
        await asyncio.sleep(STEP_SECONDS if time.time() >= STEP_AT else IO_SECONDS)
        return {"status": "ok"}

    return app


bare = build()
poised = build()
Poise(poised)
