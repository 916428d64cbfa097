import requests
from fastapi import APIRouter

router = APIRouter(prefix="/items")

CATALOG_URL = "http://catalog.internal"


@router.get("/{item_id}")
async def get_item(item_id: int) -> dict:
    return requests.get(f"{CATALOG_URL}/items/{item_id}", timeout=5).json()
