"""Suppression: `# poise: ignore[RULE]` and `# poise: ignore` on the finding's line."""

import requests
from fastapi import FastAPI

app = FastAPI()

LEGACY_URL = "http://legacy.internal"


@app.get("/legacy/price/{sku}")
async def legacy_price(sku: str) -> dict:
    # Known and accepted until the legacy service is retired (ticket OPS-412).
    resp = requests.get(f"{LEGACY_URL}/price/{sku}", timeout=2)  # poise: ignore[PSE101]
    return resp.json()


@app.get("/legacy/stock/{sku}")
async def legacy_stock(sku: str) -> dict:
    return requests.get(f"{LEGACY_URL}/stock/{sku}").json()  # poise: ignore


@app.get("/legacy/name/{sku}")
async def legacy_name(sku: str) -> dict:
    return requests.get(f"{LEGACY_URL}/name/{sku}").json()  # poise: ignore[PSE101]
