"""PSE105: httpx with an explicit timeout=None."""

from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request

SEARCH_URL = "http://search.internal"

reports_api = httpx.AsyncClient(base_url="http://reports.internal", timeout=10.0)


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with httpx.AsyncClient(base_url=SEARCH_URL, timeout=None) as client:
        app.state.search = client
        yield


app = FastAPI(lifespan=lifespan)


@app.get("/search")
async def search(q: str, request: Request) -> dict:
    resp = await request.app.state.search.get("/query", params={"q": q})
    return resp.json()


@app.post("/reports/{report_id}/build")
async def build_report(report_id: int) -> dict:
    resp = await reports_api.post(f"/reports/{report_id}/build", timeout=None)
    return resp.json()


@app.get("/exports/{export_id}")
def download_export(export_id: int) -> dict:
    return httpx.get(f"http://exports.internal/{export_id}", timeout=None).json()
