"""PSE101: requests.get called directly in an async route."""

import requests
from fastapi import FastAPI

app = FastAPI()

INVENTORY_URL = "http://inventory.internal/api/stock"


@app.get("/products/{sku}/stock")
async def product_stock(sku: str) -> dict:
    resp = requests.get(f"{INVENTORY_URL}/{sku}", timeout=5)
    resp.raise_for_status()
    return {"sku": sku, "available": resp.json()["available"]}
