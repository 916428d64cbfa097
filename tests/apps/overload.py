"""An app for admission and deadline tests: slow routes, priorities, a real PostgreSQL
pool of one connection, and an outbound call to a server that never answers.

Environment: ``DATABASE_URL`` (asyncpg URL, optional), ``HANG_URL`` (optional).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import poise
from poise import Poise

entered: dict[str, int] = {}
engines: dict[str, AsyncEngine] = {}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    url = os.environ.get("DATABASE_URL")
    if url:
        # One connection and no overflow: a request that keeps it blocks the next.
        # client_connection_check_interval: when a cancelled request's connection is
        # closed, PostgreSQL stops the query within 100 ms. Without it the query runs
        # on: SQLAlchemy terminates the asyncpg connection on cancellation, which drops
        # asyncpg's pending CancelRequest (docs/admission.md, "Cancelling database work").
        engines["db"] = create_async_engine(
            url,
            pool_size=1,
            max_overflow=0,
            pool_timeout=5,
            connect_args={"server_settings": {"client_connection_check_interval": "100"}},
        )
    yield
    for engine in engines.values():
        await engine.dispose()


app = FastAPI(lifespan=lifespan)
Poise(app)


def enter(name: str) -> None:
    entered[name] = entered.get(name, 0) + 1


@app.get("/slow")
async def slow(seconds: float = 0.5) -> dict[str, str]:
    enter("slow")
    await anyio.sleep(seconds)
    return {"status": "ok"}


@app.get("/critical")
@poise.route(priority="critical")
async def critical() -> dict[str, str]:
    enter("critical")
    return {"status": "ok"}


@app.get("/sheddable")
@poise.route(priority="sheddable")
async def sheddable() -> dict[str, str]:
    enter("sheddable")
    await anyio.sleep(0.5)
    return {"status": "ok"}


@app.get("/reports/{name}")
async def report(name: str) -> dict[str, str]:
    """Sheddable by path pattern (POISE_ADMISSION_PRIORITIES), not by route option."""
    enter("report")
    await anyio.sleep(0.5)
    return {"status": "ok"}


@app.get("/admin/ping")
async def admin_ping() -> dict[str, str]:
    """Critical by path pattern."""
    enter("admin")
    return {"status": "ok"}


@app.get("/sync-slow")
@poise.route(deadline=0.2)
def sync_slow(seconds: float = 0.6) -> dict[str, float | None]:
    """A sync route: its thread cannot be cancelled, and nothing checkpoints after it."""
    enter("sync-slow")
    left = poise.remaining()
    time.sleep(seconds)
    return {"remaining_at_start": left}


@app.get("/budget-capped")
@poise.route(deadline=0.5)
async def budget_capped() -> dict[str, float | None]:
    return {"remaining": poise.remaining()}


@app.get("/entered")
async def entered_counts() -> dict[str, int]:
    return entered


@app.get("/pg-sleep")
@poise.route(deadline=0.2)
async def pg_sleep() -> dict[str, str]:
    async with engines["db"].connect() as connection:
        await connection.execute(text("SELECT pg_sleep(5)"))
    return {"status": "slept"}


@app.get("/pg-quick")
async def pg_quick() -> dict[str, Any]:
    async with engines["db"].connect() as connection:
        value = (await connection.execute(text("SELECT 1"))).scalar_one()
    return {"value": value}


@app.get("/pool")
async def pool() -> dict[str, int]:
    return {"checked_out": engines["db"].pool.checkedout()}  # type: ignore[attr-defined]


@app.get("/hang")
@poise.route(deadline=0.2)
async def hang() -> dict[str, str]:
    async with httpx.AsyncClient(timeout=30) as client:
        await client.get(os.environ["HANG_URL"])
    return {"status": "answered"}


@app.get("/budget")
async def budget() -> dict[str, float | None]:
    return {"remaining": poise.remaining()}


@app.get("/stream")
@poise.route(deadline=0.3)
async def stream() -> Any:
    from fastapi.responses import StreamingResponse

    async def chunks() -> AsyncIterator[bytes]:
        yield b"first\n"
        await anyio.sleep(5)
        yield b"never\n"

    return StreamingResponse(chunks())
