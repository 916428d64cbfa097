"""Negative: celery task.delay() from an async route does not run the task here."""

from fastapi import FastAPI

from tasks import generate_invoice

app = FastAPI()


@app.post("/orders/{order_id}/invoice")
async def request_invoice(order_id: int) -> dict:
    result = generate_invoice.delay(order_id)
    return {"task_id": result.id}
