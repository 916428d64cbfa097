from decimal import Decimal

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from payments.client import PaymentsClient
from payments.deps import get_payments_client

router = APIRouter(prefix="/payments", tags=["payments"])


class ChargeIn(BaseModel):
    customer_id: str
    amount: Decimal


@router.post("/charges", status_code=201)
async def create_charge(
    body: ChargeIn, psp: PaymentsClient = Depends(get_payments_client)
) -> dict:
    return psp.charge(body.customer_id, body.amount)


@router.post("/{payment_id}/refund")
async def refund_payment(payment_id: str, psp: PaymentsClient = Depends(get_payments_client)) -> dict:
    result = psp.refund(payment_id)
    return {"refund": result["id"]}
