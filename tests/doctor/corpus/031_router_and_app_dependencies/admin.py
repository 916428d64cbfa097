from fastapi import APIRouter, Depends

from deps import require_admin

router = APIRouter(prefix="/admin", dependencies=[Depends(require_admin)])


@router.get("/users")
async def list_users() -> list[dict]:
    return []


@router.post("/cache/flush")
async def flush_cache() -> dict:
    return {"flushed": True}
