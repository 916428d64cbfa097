import requests
from fastapi import FastAPI, Query
from fastapi.concurrency import run_in_threadpool

PRICES = "https://pricing.internal/v1/prices"
STOCK = "https://stock.internal/v1/levels"

app = FastAPI()


@app.get("/bundle")
async def bundle(skus: list[str] = Query(...)) -> dict:
    def fetch_price(sku: str) -> float:
        return requests.get(f"{PRICES}/{sku}", timeout=3).json()["price"]

    def fetch_stock(sku: str) -> int:
        return requests.get(f"{STOCK}/{sku}", timeout=3).json()["available"]

    prices = list(map(fetch_price, skus))
    stock = await run_in_threadpool(lambda: [fetch_stock(s) for s in skus])
    ordered = sorted(skus, key=lambda s: prices[skus.index(s)])
    return {"skus": ordered, "total": sum(prices), "stock": stock}


def make_loader(base_url: str):
    def load(key: str) -> dict:
        return requests.get(f"{base_url}/{key}").json()

    return load


load_profile = make_loader("https://profiles.internal/v1")


@app.get("/profiles/{key}")
async def get_profile(key: str) -> dict:
    return load_profile(key)
