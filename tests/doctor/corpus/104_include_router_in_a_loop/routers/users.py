import time

from fastapi import APIRouter

router = APIRouter(prefix="/users")


@router.get("/{user_id}")
async def get_user(user_id: int) -> dict:
    time.sleep(0.1)
    return {"id": user_id}
