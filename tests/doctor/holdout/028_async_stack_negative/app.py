from contextlib import asynccontextmanager
from typing import Annotated, AsyncIterator

import asyncpg
from fastapi import Depends, FastAPI, Request
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

DATABASE_URL = "postgresql+asyncpg://app@db/app"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    engine = create_async_engine(DATABASE_URL, pool_size=10, max_overflow=5, pool_timeout=5)
    app.state.sessions = async_sessionmaker(engine, expire_on_commit=False)
    app.state.pg = await asyncpg.create_pool("postgresql://app@db/app", min_size=2, max_size=10)
    app.state.redis = Redis.from_url("redis://redis:6379/0", max_connections=20)
    yield
    await app.state.redis.aclose()
    await app.state.pg.close()
    await engine.dispose()


app = FastAPI(lifespan=lifespan)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


async def get_redis(request: Request) -> Redis:
    return request.app.state.redis


SessionDep = Annotated[AsyncSession, Depends(get_session)]
CacheDep = Annotated[Redis, Depends(get_redis)]


@app.get("/orders/{order_id}")
async def get_order(order_id: int, session: SessionDep, cache: CacheDep) -> dict:
    cached = await cache.get(f"order:{order_id}")
    if cached:
        return {"id": order_id, "cached": True}
    status = await session.scalar(text("SELECT status FROM orders WHERE id = :id"), {"id": order_id})
    await cache.set(f"order:{order_id}", status or "", ex=60)
    return {"id": order_id, "status": status}


@app.get("/orders")
async def list_orders(request: Request, limit: int = 50) -> list[dict]:
    async with request.app.state.pg.acquire() as conn:
        rows = await conn.fetch("SELECT id, status FROM orders ORDER BY id DESC LIMIT $1", limit)
    return [dict(r) for r in rows]
