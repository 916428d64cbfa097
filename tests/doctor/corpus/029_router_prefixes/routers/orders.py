import requests
from fastapi import APIRouter

router = APIRouter(prefix="/orders", tags=["orders"])

ERP_URL = "http://erp.internal"


@router.get("/{order_id}")
async def get_order(order_id: int) -> dict:
    resp = requests.get(f"{ERP_URL}/orders/{order_id}", timeout=5)
    resp.raise_for_status()
    return resp.json()
