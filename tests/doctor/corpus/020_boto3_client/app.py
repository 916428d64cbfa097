"""PSE101: boto3 client call in an async route."""

import boto3
from fastapi import FastAPI, UploadFile

app = FastAPI()

BUCKET = "shop-avatars"

s3 = boto3.client("s3", region_name="eu-west-1")


@app.post("/users/{user_id}/avatar")
async def upload_avatar(user_id: int, file: UploadFile) -> dict:
    data = await file.read()
    key = f"avatars/{user_id}.png"
    s3.put_object(Bucket=BUCKET, Key=key, Body=data, ContentType=file.content_type)
    return {"key": key}
