"""Negative: blocking calls that only exist under `if TYPE_CHECKING:`."""

from typing import TYPE_CHECKING, reveal_type

import httpx
import requests
from fastapi import FastAPI

if TYPE_CHECKING:
    from requests import Response

    # Keeps mypy honest about the sync client's return type; never executed.
    _probe: Response = requests.get("https://example.invalid", timeout=5)

app = FastAPI()

UPSTREAM = "http://upstream.internal/ping"

client = httpx.AsyncClient(timeout=5.0)


@app.get("/ping-upstream")
async def ping_upstream() -> dict:
    resp = await client.get(UPSTREAM)
    if TYPE_CHECKING:
        reveal_type(requests.get(UPSTREAM, timeout=5))
    return {"status": resp.status_code}
