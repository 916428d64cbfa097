"""PSE101: waiting for an executor's future (or a thread) from an async route blocks the
loop, although the work itself was handed off."""

import threading
from concurrent.futures import ThreadPoolExecutor

import requests
from fastapi import FastAPI

app = FastAPI()
pool = ThreadPoolExecutor(max_workers=4)


def fetch_price(sku: str) -> float:
    return requests.get(f"http://prices.internal/{sku}", timeout=5).json()["price"]


@app.get("/prices/{sku}")
async def price(sku: str) -> dict:
    future = pool.submit(fetch_price, sku)
    return {"sku": sku, "price": future.result()}


@app.post("/warm")
async def warm() -> dict:
    worker = threading.Thread(target=fetch_price, args=("all",))
    worker.start()
    worker.join()
    return {"status": "warm"}
