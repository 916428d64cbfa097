from fastapi import APIRouter

router = APIRouter()


@router.get("/daily")
async def daily_report() -> dict:
    return {"orders": 0}
