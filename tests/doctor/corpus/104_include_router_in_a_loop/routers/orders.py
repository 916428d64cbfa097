import time

from fastapi import APIRouter

router = APIRouter(prefix="/orders")


@router.get("")
async def list_orders() -> list:
    time.sleep(0.1)
    return []
