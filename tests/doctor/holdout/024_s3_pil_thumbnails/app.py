import io
import uuid

import boto3
from fastapi import FastAPI, UploadFile
from fastapi.concurrency import run_in_threadpool
from PIL import Image

BUCKET = "user-avatars"
s3 = boto3.client("s3", region_name="eu-west-1")

app = FastAPI()


def make_thumbnail(data: bytes, size: tuple[int, int] = (256, 256)) -> bytes:
    img = Image.open(io.BytesIO(data))
    img.thumbnail(size)
    out = io.BytesIO()
    img.convert("RGB").save(out, format="JPEG", quality=85)
    return out.getvalue()


@app.post("/avatars")
async def upload_avatar(file: UploadFile) -> dict[str, str]:
    data = await file.read()
    thumb = make_thumbnail(data)
    key = f"avatars/{uuid.uuid4()}.jpg"
    s3.upload_fileobj(io.BytesIO(thumb), BUCKET, key, ExtraArgs={"ContentType": "image/jpeg"})
    return {"key": key}


@app.post("/banners")
async def upload_banner(file: UploadFile) -> dict[str, str]:
    data = await file.read()
    thumb = await run_in_threadpool(make_thumbnail, data, (1200, 400))
    key = f"banners/{uuid.uuid4()}.jpg"
    await run_in_threadpool(s3.put_object, Bucket=BUCKET, Key=key, Body=thumb)
    return {"key": key}
