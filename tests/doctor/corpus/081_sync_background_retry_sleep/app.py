"""PSE106: a sync background task that retries with time.sleep."""

from fastapi import BackgroundTasks, FastAPI
from pydantic import BaseModel

from webhooks import schedule_webhooks

app = FastAPI()


class OrderEvent(BaseModel):
    order_id: int
    status: str


@app.post("/orders/events")
async def order_event(event: OrderEvent, background_tasks: BackgroundTasks) -> dict:
    count = schedule_webhooks(background_tasks, event.model_dump())
    return {"scheduled": count}
