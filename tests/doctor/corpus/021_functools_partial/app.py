"""PSE101: requests functions wrapped in functools.partial, then called."""

import functools

import requests
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()

GEO_URL = "https://geo.example.com/v1/ip"
AUDIT_URL = "https://audit.internal/events"

post_event = functools.partial(requests.post, AUDIT_URL, timeout=5)


class Event(BaseModel):
    kind: str
    subject: str


@app.get("/geo/{ip}")
async def geolocate(ip: str) -> dict:
    fetch = functools.partial(requests.get, f"{GEO_URL}/{ip}", timeout=3)
    resp = fetch()
    return resp.json()


@app.post("/audit")
async def audit(event: Event) -> dict:
    post_event(json=event.model_dump())
    return {"ok": True}
