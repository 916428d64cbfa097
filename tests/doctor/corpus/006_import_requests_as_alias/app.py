"""PSE101: requests imported under an alias."""

import requests as rq
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()

SLACK_WEBHOOK = "https://hooks.slack.com/services/T000/B000/XXXX"


class Alert(BaseModel):
    text: str


@app.post("/alerts")
async def send_alert(alert: Alert) -> dict:
    rq.post(SLACK_WEBHOOK, json={"text": alert.text}, timeout=5)
    return {"sent": True}
