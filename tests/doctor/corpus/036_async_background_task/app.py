"""PSE101 (background): an async background task that blocks the loop."""

import requests
from fastapi import BackgroundTasks, FastAPI
from pydantic import BaseModel

app = FastAPI()

WAREHOUSE_URL = "http://warehouse.internal/orders"


class Order(BaseModel):
    id: int
    skus: list[str]


async def notify_warehouse(order: Order) -> None:
    requests.post(WAREHOUSE_URL, json=order.model_dump(), timeout=5)


@app.post("/orders")
async def create_order(order: Order, background_tasks: BackgroundTasks) -> dict:
    background_tasks.add_task(notify_warehouse, order)
    return {"id": order.id, "status": "created"}
