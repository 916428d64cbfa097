"""A FastAPI app with requests that stay in the app without being load: server-sent
events, slow uploads and handlers that never return, next to a short route.

``HELD_BARE=1`` (env) serves it without poise, to compare against.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from poise import Poise

app = FastAPI()


@app.get("/short")
async def short() -> dict[str, str]:
    await asyncio.sleep(0.005)
    return {"route": "short"}


@app.get("/events")
async def events() -> StreamingResponse:
    async def ticks() -> AsyncIterator[str]:
        n = 0
        while True:  # until the client disconnects: Starlette then cancels the stream
            yield f"data: {n}\n\n"
            n += 1
            await asyncio.sleep(0.1)

    return StreamingResponse(ticks(), media_type="text/event-stream")


@app.post("/upload")
async def upload(request: Request) -> dict[str, int]:
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
    return {"size": size}


@app.get("/forever")
async def forever() -> dict[str, str]:
    await asyncio.Event().wait()
    return {"route": "forever"}  # pragma: no cover - never reached


if os.environ.get("HELD_BARE") != "1":
    Poise(app)
