"""PSE108: one sync dependency serving two routes -> two findings."""

from dataclasses import dataclass

from fastapi import Depends, FastAPI, Query

app = FastAPI()


@dataclass
class Page:
    offset: int
    limit: int


def get_page(page: int = Query(1, ge=1), size: int = Query(20, le=100)) -> Page:
    return Page(offset=(page - 1) * size, limit=size)


@app.get("/orders")
async def list_orders(page: Page = Depends(get_page)) -> dict:
    return {"offset": page.offset, "limit": page.limit, "orders": []}


@app.get("/customers")
async def list_customers(page: Page = Depends(get_page)) -> dict:
    return {"offset": page.offset, "limit": page.limit, "customers": []}
