"""Negative: blocking work offloaded with asyncio.to_thread (function and lambda)."""

import asyncio
import hashlib
from pathlib import Path

import requests
from fastapi import FastAPI

app = FastAPI()

MEDIA_DIR = "/srv/media"
LICENSE_URL = "https://licenses.example.com/check"


def file_digest(name: str) -> str:
    data = Path(MEDIA_DIR, name).read_bytes()
    return hashlib.sha256(data).hexdigest()


@app.get("/media/{name}/digest")
async def media_digest(name: str) -> dict:
    digest = await asyncio.to_thread(file_digest, name)
    return {"name": name, "sha256": digest}


@app.get("/license")
async def license_status() -> dict:
    resp = await asyncio.to_thread(lambda: requests.get(LICENSE_URL, timeout=5))
    return {"valid": resp.ok}
