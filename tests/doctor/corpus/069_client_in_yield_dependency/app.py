"""PSE104: a yield dependency that creates an AsyncClient for every request."""

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI
from pydantic import BaseModel

app = FastAPI()

PAYMENTS_URL = "https://payments.example.com/v1"


async def get_payments_client() -> AsyncIterator[httpx.AsyncClient]:
    timeout = httpx.Timeout(10.0, connect=3.0)
    async with httpx.AsyncClient(base_url=PAYMENTS_URL, timeout=timeout) as client:
        yield client


PaymentsClient = Annotated[httpx.AsyncClient, Depends(get_payments_client)]


class Charge(BaseModel):
    amount_cents: int
    source: str


class Refund(BaseModel):
    charge_id: str


@app.post("/charges")
async def create_charge(charge: Charge, client: PaymentsClient) -> dict:
    resp = await client.post("/charges", json=charge.model_dump())
    return resp.json()


@app.post("/refunds")
async def create_refund(refund: Refund, client: PaymentsClient) -> dict:
    resp = await client.post("/refunds", json=refund.model_dump())
    return resp.json()
