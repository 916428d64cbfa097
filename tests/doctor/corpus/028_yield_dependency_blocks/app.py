"""PSE101: an async yield dependency doing sync redis calls around its yield."""

from typing import Annotated

import redis
from fastapi import Depends, FastAPI, Header, HTTPException
from pydantic import BaseModel

app = FastAPI()

store = redis.Redis(host="redis", decode_responses=True)


class Payment(BaseModel):
    amount_cents: int
    currency: str


async def idempotency_guard(idempotency_key: Annotated[str, Header()]):
    key = f"idem:{idempotency_key}"
    if store.exists(key):
        raise HTTPException(status_code=409, detail="duplicate request")
    yield
    store.set(key, "done", ex=86400)


@app.post("/payments", dependencies=[Depends(idempotency_guard)])
async def create_payment(payment: Payment) -> dict:
    return {"status": "accepted", "amount_cents": payment.amount_cents}
