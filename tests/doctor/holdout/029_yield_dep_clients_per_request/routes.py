from typing import Annotated

import httpx
from fastapi import APIRouter, Depends

from deps import get_repo, partner_client
from repository import OrderRepository

router = APIRouter(prefix="/orders")
Repo = Annotated[OrderRepository, Depends(get_repo)]
Partner = Annotated[httpx.AsyncClient, Depends(partner_client)]


@router.get("/{order_id}")
async def order_status(order_id: int, repo: Repo) -> dict:
    return {"status": await repo.status(order_id)}


@router.post("/{order_id}/sync")
async def sync_to_partner(order_id: int, repo: Repo, partner: Partner) -> dict:
    status = await repo.status(order_id)
    resp = await partner.post(f"/orders/{order_id}", json={"status": status})
    return {"partner_status": resp.status_code}
