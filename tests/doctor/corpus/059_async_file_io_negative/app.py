"""Negative: async file APIs (anyio.Path, anyio.open_file, aiofiles)."""

import os

import aiofiles
import anyio
from fastapi import FastAPI, UploadFile

app = FastAPI()

DOCS_DIR = "/srv/docs"
UPLOAD_DIR = "/srv/uploads"
LOG_FILE = "/var/log/app/access.log"


@app.get("/docs/{name}")
async def read_doc(name: str) -> dict:
    text = await anyio.Path(DOCS_DIR, f"{name}.md").read_text()
    return {"name": name, "text": text}


@app.post("/uploads/{name}")
async def save_upload(name: str, file: UploadFile) -> dict:
    async with aiofiles.open(os.path.join(UPLOAD_DIR, name), "wb") as out:
        while chunk := await file.read(1 << 20):
            await out.write(chunk)
    return {"saved": name}


@app.get("/logs/head")
async def log_head() -> list[str]:
    async with await anyio.open_file(LOG_FILE) as f:
        return [await f.readline() for _ in range(20)]
