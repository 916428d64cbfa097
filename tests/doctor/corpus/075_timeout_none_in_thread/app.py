"""PSE105: missing timeouts in offloaded functions (no PSE101 there)."""

import asyncio
import urllib.request

import requests
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

app = FastAPI()

CRM_URL = "https://crm.example.com/api/leads"
HEALTH_URL = "http://legacy.internal/health"


class Lead(BaseModel):
    email: str


def push_to_crm(payload: dict) -> None:
    requests.post(CRM_URL, json=payload, timeout=None)


def legacy_alive() -> bool:
    with urllib.request.urlopen(HEALTH_URL) as resp:
        return resp.status == 200


@app.post("/leads")
async def create_lead(lead: Lead) -> dict:
    await asyncio.to_thread(push_to_crm, lead.model_dump())
    return {"queued": True}


@app.get("/legacy/health")
async def legacy_health() -> dict:
    return {"alive": await run_in_threadpool(legacy_alive)}
