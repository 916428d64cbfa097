"""Negative: asyncio.run in the __main__ block is not reachable from the app."""

import asyncio

from fastapi import FastAPI

app = FastAPI()

PRODUCTS: dict[str, float] = {}


async def seed() -> None:
    await asyncio.sleep(0)
    PRODUCTS.update({"sku-1": 9.99, "sku-2": 19.99})


@app.get("/products")
async def products() -> dict:
    return PRODUCTS


if __name__ == "__main__":
    asyncio.run(seed())
