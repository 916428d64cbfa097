"""Negative: clients created once at module level."""

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

app = FastAPI()

http = httpx.AsyncClient(base_url="http://pricing.internal", timeout=5.0)
engine = create_async_engine("postgresql+asyncpg://app:secret@db/app", pool_size=10, max_overflow=5)
cache = Redis.from_url("redis://redis:6379/0", decode_responses=True)


@app.get("/prices/{sku}")
async def price(sku: str) -> dict:
    cached = await cache.get(f"price:{sku}")
    if cached is not None:
        return {"sku": sku, "price": float(cached)}
    resp = await http.get(f"/prices/{sku}")
    value = resp.json()["price"]
    await cache.set(f"price:{sku}", value, ex=60)
    return {"sku": sku, "price": value}


@app.get("/orders/count")
async def order_count() -> dict:
    async with engine.connect() as conn:
        return {"orders": await conn.scalar(text("SELECT count(*) FROM orders"))}
