"""Negative: a client factory cached with lru_cache is not a client per request."""

from functools import lru_cache

import httpx
from fastapi import FastAPI

app = FastAPI()


@lru_cache(maxsize=1)
def get_search_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url="http://search.internal", timeout=5.0)


@app.get("/search")
async def search(q: str) -> dict:
    resp = await get_search_client().get("/query", params={"q": q})
    return resp.json()


@app.get("/suggest")
async def suggest(prefix: str) -> dict:
    resp = await get_search_client().get("/suggest", params={"prefix": prefix})
    return resp.json()
