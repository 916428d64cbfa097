"""PSE101: the same sink reached from two routes gives two findings."""

from fastapi import APIRouter, FastAPI

from audit import record

app = FastAPI()
admin = APIRouter(prefix="/admin")


@app.post("/orders/{order_id}/ship")
async def ship(order_id: int) -> dict:
    record("ship", order_id)
    return {"shipped": order_id}


@admin.post("/orders/{order_id}/refund")
async def refund(order_id: int) -> dict:
    record("refund", order_id)
    return {"refunded": order_id}


app.include_router(admin)
