"""A FastAPI app whose async route blocks the event loop for 2 s: requests sent meanwhile
on keep-alive connections wait in uvicorn's and the kernel's buffers, unseen."""

from __future__ import annotations

import time

from fastapi import FastAPI

from poise import Poise

app = FastAPI()


@app.get("/block")
async def block() -> dict[str, str]:
    time.sleep(2.0)  # the whole loop waits
    return {"route": "block"}


@app.get("/fast")
async def fast() -> dict[str, str]:
    return {"route": "fast"}


Poise(app)
