"""A FastAPI app whose ``def`` routes burn pure-Python CPU in the thread pool, next to an
``async def`` route that does almost nothing: the worker threads hold the GIL, so the
loop thread waits for it, and poise must blame the thread pool, not the async route.

``THREAD_TOKENS`` (env) sets the size of anyio's default thread limiter at start-up.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from poise import Poise


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    tokens = os.environ.get("THREAD_TOKENS")
    if tokens:
        anyio.to_thread.current_default_thread_limiter().total_tokens = int(tokens)
    yield


app = FastAPI(lifespan=lifespan)


@app.get("/burn")
def burn(seconds: float = 0.2) -> dict[str, int]:
    # Pure Python: the thread keeps the GIL except when the interpreter makes it switch.
    end = time.perf_counter() + seconds
    spins = 0
    while time.perf_counter() < end:
        spins += 1
    return {"spins": spins}


@app.get("/ping")
async def ping() -> dict[str, str]:
    await asyncio.sleep(0)
    return {"route": "ping"}


Poise(app)
