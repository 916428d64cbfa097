"""PSE108: sync def routes."""

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

app = FastAPI()
router = APIRouter(prefix="/items")

ITEMS: dict[int, "Item"] = {}


class Item(BaseModel):
    id: int
    name: str


@app.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}


@router.post("", status_code=201)
def create_item(
    item: Item,
    dry_run: bool = False,
) -> Item:
    if not dry_run:
        ITEMS[item.id] = item
    return item


app.include_router(router)
