"""PSE109: nest_asyncio.apply + loop.run_until_complete reached from an async route."""

import asyncio

import nest_asyncio
from fastapi import FastAPI

app = FastAPI()

PRICES = {"sku-1": 9.99}


async def fetch_price(sku: str) -> float:
    await asyncio.sleep(0)
    return PRICES.get(sku, 0.0)


def price_sync(sku: str) -> float:
    nest_asyncio.apply()
    loop = asyncio.get_event_loop()
    return loop.run_until_complete(fetch_price(sku))


def price_in_fresh_loop(sku: str) -> float:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(fetch_price(sku))
    finally:
        loop.close()


@app.get("/prices/{sku}")
async def price(sku: str) -> dict:
    return {"sku": sku, "price": price_sync(sku)}


@app.get("/legacy/prices/{sku}")
async def legacy_price(sku: str) -> dict:
    return {"sku": sku, "price": price_in_fresh_loop(sku)}
