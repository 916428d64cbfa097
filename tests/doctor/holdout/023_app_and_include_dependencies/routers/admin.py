from fastapi import APIRouter

router = APIRouter(tags=["admin"])


@router.get("/stats")
async def stats() -> dict[str, int]:
    return {"requests": 0}


@router.delete("/cache")
async def purge_cache() -> dict[str, bool]:
    return {"purged": True}
