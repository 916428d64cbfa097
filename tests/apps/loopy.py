"""A FastAPI app whose routes block the loop in every way poise must see.

THREAD_TOKENS (env) sets the size of anyio's default thread limiter at start-up.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
import blockers
from fastapi import Depends, FastAPI

from poise import Poise


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    tokens = os.environ.get("THREAD_TOKENS")
    if tokens:
        anyio.to_thread.current_default_thread_limiter().total_tokens = int(tokens)
    yield


app = FastAPI(lifespan=lifespan)


@app.get("/a")
async def a() -> dict[str, str]:
    time.sleep(0.3)  # BLOCK: loopy.a
    return {"route": "a"}


@app.get("/b")
async def b() -> dict[str, str]:
    await asyncio.sleep(0.01)
    return {"route": "b"}


@app.get("/deep")
async def deep() -> dict[str, str]:
    blockers.outer(0.3)
    return {"route": "deep"}


@app.get("/gathered")
async def gathered() -> dict[str, str]:
    async def child() -> None:
        await asyncio.sleep(0)
        blockers.outer(0.3)

    await asyncio.gather(child(), asyncio.sleep(0.001))
    return {"route": "gathered"}


@app.get("/later")
async def later() -> dict[str, str]:
    asyncio.get_running_loop().call_later(0.05, blockers.sleepy_callback)
    return {"route": "later"}


@app.get("/sync")
def sync_route() -> dict[str, str]:
    time.sleep(0.1)
    return {"route": "sync"}


def sync_dependency() -> int:
    return 7


@app.get("/with-dependency")
async def with_dependency(value: int = Depends(sync_dependency)) -> dict[str, int]:
    return {"value": value}


@app.get("/fast")
async def fast() -> dict[str, str]:
    return {"route": "fast"}


Poise(app)
