"""PSE101 (background): file I/O in an async BackgroundTask is reported as PSE101."""

import json
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask

app = FastAPI()

EXPORT_DIR = "/srv/exports"


async def write_export(user_id: int, rows: list[dict]) -> None:
    path = Path(EXPORT_DIR, f"{user_id}.json")
    path.write_text(json.dumps(rows))


@app.post("/users/{user_id}/export")
async def export_user(user_id: int) -> JSONResponse:
    rows = [{"user_id": user_id, "kind": "profile"}]
    return JSONResponse(
        {"status": "scheduled"},
        background=BackgroundTask(write_export, user_id, rows),
    )
