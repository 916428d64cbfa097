from pathlib import Path

from fastapi import APIRouter

from . import items

router = APIRouter(prefix="/v1")
router.include_router(items.router, prefix="/shop")

VERSION_FILE = Path("/srv/app/VERSION")


@router.get("/status")
async def status() -> dict:
    return {"version": VERSION_FILE.read_text().strip()}
