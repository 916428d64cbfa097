"""PSE103: json.loads of the raw request body."""

import json

from fastapi import FastAPI, Request

app = FastAPI()


@app.post("/events/batch")
async def ingest_batch(request: Request) -> dict:
    events = json.loads(await request.body())
    return {"accepted": len(events)}


@app.post("/events/replay")
async def replay(request: Request) -> dict:
    raw = await request.body()
    events = json.loads(raw)
    return {"replayed": len(events)}
