"""Negative: pool sizes within the per-process budget (<= 50)."""

from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis.asyncio import ConnectionPool, Redis
from sqlalchemy.ext.asyncio import create_async_engine

from db import make_engine

DATABASE_URL = "postgresql+asyncpg://app:secret@db/app"
ANALYTICS_URL = "postgresql+asyncpg://app:secret@analytics/app"


@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.engine = create_async_engine(DATABASE_URL, pool_size=10, max_overflow=5)
    app.state.analytics = make_engine(ANALYTICS_URL, pool_size=40, max_overflow=10)
    pool = ConnectionPool.from_url("redis://redis:6379/0", max_connections=50)
    app.state.redis = Redis(connection_pool=pool)
    yield
    await app.state.redis.aclose()
    await app.state.analytics.dispose()
    await app.state.engine.dispose()


app = FastAPI(lifespan=lifespan)


@app.get("/ping")
async def ping() -> dict:
    return {"ok": True}
