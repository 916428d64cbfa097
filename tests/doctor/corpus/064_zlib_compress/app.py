"""PSE103: zlib.compress of the request body on the event loop."""

import zlib

from fastapi import FastAPI, Request

app = FastAPI()

ARCHIVE: dict[str, bytes] = {}


@app.put("/archive/{key}")
async def archive(key: str, request: Request) -> dict:
    payload = await request.body()
    ARCHIVE[key] = zlib.compress(payload, level=9)
    return {"key": key, "stored": len(ARCHIVE[key])}
