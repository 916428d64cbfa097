"""Negative: a project function called `get` in a module named requests_helpers."""

from fastapi import FastAPI

from requests_helpers import get

app = FastAPI()


@app.get("/products/{sku}")
async def product(sku: str) -> dict:
    return await get(f"/products/{sku}")
