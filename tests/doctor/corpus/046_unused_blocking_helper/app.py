"""Negative: blocking helpers defined but never called from any entry point."""

import httpx
from fastapi import FastAPI

from maintenance import rebuild_search_index

app = FastAPI()

http = httpx.AsyncClient(base_url="http://catalog.internal", timeout=10.0)


async def nightly_job() -> None:
    """Run by cron through `python -m maintenance`, never by the web app."""
    rebuild_search_index()


@app.get("/products")
async def products() -> list:
    resp = await http.get("/products")
    return resp.json()
