"""A FastAPI app served by real uvicorn processes in the tests.

It has its own lifespan (logged to the file named by LIFESPAN_LOG), its own middleware
and every kind of response the ledger must time: plain, streaming, endless, raising.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import StreamingResponse
from starlette.middleware.gzip import GZipMiddleware

from poise import Poise


def log_event(event: str) -> None:
    path = os.environ.get("LIFESPAN_LOG")
    if path:
        with Path(path).open("a") as f:
            f.write(event + "\n")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    log_event("app startup")
    yield
    log_event("app shutdown")


app = FastAPI(lifespan=lifespan)
app.add_middleware(GZipMiddleware, minimum_size=10_000)
orders = APIRouter(prefix="/orders")


@orders.get("/{order_id}")
async def get_order(order_id: int) -> dict[str, int]:
    return {"order_id": order_id}


@app.get("/stream")
async def stream(chunks: int = 5, pause: float = 0.1) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        for i in range(chunks):
            await asyncio.sleep(pause)
            yield f"chunk {i}\n".encode()

    return StreamingResponse(body(), media_type="text/plain")


@app.get("/boom")
async def boom() -> None:
    raise RuntimeError("the handler failed on purpose")


app.include_router(orders)
Poise(app)
