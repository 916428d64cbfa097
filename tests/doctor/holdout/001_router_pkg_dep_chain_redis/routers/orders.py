from fastapi import APIRouter, HTTPException

from core.schemas import Order
from core.security import CurrentUser

router = APIRouter(prefix="/orders", tags=["orders"])

_FAKE_ORDERS = {1: Order(id=1, owner="alice", total=12.5)}


@router.get("/{order_id}", response_model=Order)
async def get_order(order_id: int, user: CurrentUser) -> Order:
    order = _FAKE_ORDERS.get(order_id)
    if order is None or order.owner != user.username:
        raise HTTPException(status_code=404, detail="order not found")
    return order


@router.get("", response_model=list[Order])
def list_orders(user: CurrentUser) -> list[Order]:
    return [o for o in _FAKE_ORDERS.values() if o.owner == user.username]
