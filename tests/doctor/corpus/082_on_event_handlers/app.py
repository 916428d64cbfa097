"""PSE107: deprecated on_event start-up / shutdown handlers."""

import httpx
from fastapi import FastAPI, Request

app = FastAPI()


@app.on_event("startup")
async def open_clients() -> None:
    app.state.http = httpx.AsyncClient(base_url="http://inventory.internal", timeout=10.0)


@app.on_event("shutdown")
async def close_clients() -> None:
    await app.state.http.aclose()


@app.get("/stock/{sku}")
async def stock(sku: str, request: Request) -> dict:
    resp = await request.app.state.http.get(f"/stock/{sku}")
    return resp.json()
