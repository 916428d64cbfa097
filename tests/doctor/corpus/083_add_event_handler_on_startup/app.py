"""PSE107: on_startup/on_shutdown and add_event_handler; blocking start-up code is info."""

import asyncpg
import requests
from fastapi import FastAPI, Request

DSN = "postgresql://app:secret@db/app"
CATALOG_URL = "http://catalog.internal/products"

CATALOG: dict[str, dict] = {}


async def connect_db() -> None:
    app.state.pool = await asyncpg.create_pool(DSN, min_size=2, max_size=10)


async def disconnect_db() -> None:
    await app.state.pool.close()


async def warm_cache() -> None:
    for product in requests.get(CATALOG_URL, timeout=30).json():
        CATALOG[product["sku"]] = product


app = FastAPI(on_startup=[connect_db], on_shutdown=[disconnect_db])
app.add_event_handler("startup", warm_cache)


@app.get("/products/{sku}")
async def product(sku: str, request: Request) -> dict:
    async with request.app.state.pool.acquire() as conn:
        stock = await conn.fetchval("SELECT qty FROM stock WHERE sku = $1", sku)
    return {**CATALOG.get(sku, {}), "stock": stock}
