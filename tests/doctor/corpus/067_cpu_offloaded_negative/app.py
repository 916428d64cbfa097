"""Negative: CPU-heavy work offloaded with anyio."""

import io
import zlib

import anyio.to_process
import anyio.to_thread
import bcrypt
from fastapi import FastAPI, UploadFile
from fastapi.responses import Response
from PIL import Image
from pydantic import BaseModel

app = FastAPI()


class Credentials(BaseModel):
    username: str
    password: str


def render_thumbnail(raw: bytes) -> bytes:
    image = Image.open(io.BytesIO(raw))
    thumb = image.resize((128, 128))
    out = io.BytesIO()
    thumb.save(out, format="PNG")
    return out.getvalue()


def pack(data: bytes) -> bytes:
    return zlib.compress(data, level=9)


@app.post("/avatars")
async def upload_avatar(file: UploadFile) -> Response:
    raw = await file.read()
    png = await anyio.to_thread.run_sync(render_thumbnail, raw)
    return Response(png, media_type="image/png")


@app.post("/passwords")
async def set_password(creds: Credentials) -> dict:
    salt = bcrypt.gensalt()
    hashed = await anyio.to_thread.run_sync(bcrypt.hashpw, creds.password.encode(), salt)
    return {"username": creds.username, "hash_len": len(hashed)}


@app.post("/pack")
async def pack_upload(file: UploadFile) -> Response:
    packed = await anyio.to_process.run_sync(pack, await file.read())
    return Response(packed, media_type="application/octet-stream")
