"""PSE102: open() and file.read() in an async route."""

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import Response

app = FastAPI()

EXPORT_DIR = Path("/srv/exports")


@app.get("/exports/{name}")
async def download_export(name: str) -> Response:
    with open(EXPORT_DIR / name, "rb") as fh:
        data = fh.read()
    return Response(data, media_type="text/csv")
