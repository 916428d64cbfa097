"""Negative: an async lifespan with an AsyncClient and asyncio.sleep."""

import asyncio
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request


@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.http = httpx.AsyncClient(base_url="http://inventory.internal")
    for _ in range(5):
        try:
            await app.state.http.get("/health")
            break
        except httpx.HTTPError:
            await asyncio.sleep(1)
    yield
    await app.state.http.aclose()


app = FastAPI(lifespan=lifespan)


@app.get("/stock/{sku}")
async def stock(sku: str, request: Request) -> dict:
    resp = await request.app.state.http.get(f"/stock/{sku}")
    return resp.json()
