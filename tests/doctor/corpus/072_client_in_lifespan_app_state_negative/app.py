"""Negative: clients created once in the lifespan and shared through app.state."""

from contextlib import asynccontextmanager
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

DATABASE_URL = "postgresql+asyncpg://app:secret@db/app"


@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.http = httpx.AsyncClient(base_url="https://api.partner.com", timeout=10.0)
    app.state.engine = create_async_engine(DATABASE_URL, pool_size=10, max_overflow=5)
    yield
    await app.state.http.aclose()
    await app.state.engine.dispose()


app = FastAPI(lifespan=lifespan)


async def get_http(request: Request) -> httpx.AsyncClient:
    return request.app.state.http


async def get_engine(request: Request) -> AsyncEngine:
    return request.app.state.engine


@app.get("/partners/{pid}")
async def partner(pid: str, http: Annotated[httpx.AsyncClient, Depends(get_http)]) -> dict:
    resp = await http.get(f"/partners/{pid}")
    return resp.json()


@app.get("/orders/count")
async def order_count(engine: Annotated[AsyncEngine, Depends(get_engine)]) -> dict:
    async with engine.connect() as conn:
        total = await conn.scalar(text("SELECT count(*) FROM orders"))
    return {"orders": total}
