"""PSE102: os.listdir in an async route."""

import os

from fastapi import FastAPI

app = FastAPI()

UPLOAD_DIR = "/srv/uploads"


@app.get("/uploads")
async def list_uploads(prefix: str = "") -> list[str]:
    names = sorted(os.listdir(UPLOAD_DIR))
    return [os.path.join("/uploads", n) for n in names if n.startswith(prefix)]
