from contextlib import asynccontextmanager
from typing import Annotated, AsyncIterator

import httpx
from fastapi import BackgroundTasks, Depends, FastAPI, Request

CATALOG_URL = "https://catalog.internal"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    limits = httpx.Limits(max_connections=20, max_keepalive_connections=10)
    timeout = httpx.Timeout(5.0, connect=2.0)
    async with httpx.AsyncClient(base_url=CATALOG_URL, timeout=timeout, limits=limits) as client:
        app.state.catalog = client
        yield


app = FastAPI(lifespan=lifespan)


async def catalog_client(request: Request) -> httpx.AsyncClient:
    return request.app.state.catalog


Catalog = Annotated[httpx.AsyncClient, Depends(catalog_client)]


async def warm_related(client: httpx.AsyncClient, sku: str) -> None:
    resp = await client.get(f"/products/{sku}/related")
    resp.raise_for_status()


@app.get("/products/{sku}")
async def get_product(sku: str, catalog: Catalog, tasks: BackgroundTasks) -> dict:
    resp = await catalog.get(f"/products/{sku}")
    resp.raise_for_status()
    tasks.add_task(warm_related, catalog, sku)
    return resp.json()


@app.get("/search")
async def search(q: str, catalog: Catalog) -> list[dict]:
    resp = await catalog.get("/search", params={"q": q}, timeout=10.0)
    return resp.json()["items"]
