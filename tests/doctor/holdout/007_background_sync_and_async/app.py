from fastapi import BackgroundTasks, FastAPI
from pydantic import BaseModel

from notifications import notify_warehouse, send_receipt_email

app = FastAPI()


class OrderIn(BaseModel):
    sku: str
    quantity: int
    email: str


@app.post("/orders", status_code=201)
async def place_order(order: OrderIn, background_tasks: BackgroundTasks) -> dict:
    order_id = 42
    background_tasks.add_task(send_receipt_email, order.email, order_id)
    background_tasks.add_task(notify_warehouse, order_id, order.sku, order.quantity)
    return {"id": order_id}
