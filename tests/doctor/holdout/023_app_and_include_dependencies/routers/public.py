from fastapi import APIRouter

router = APIRouter(prefix="/catalog")


@router.get("/items")
async def list_items() -> list[dict]:
    return [{"id": 1, "name": "widget"}]
