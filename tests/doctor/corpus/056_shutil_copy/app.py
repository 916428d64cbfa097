"""PSE102: shutil.copy in an async route."""

import os
import shutil
import uuid

from fastapi import FastAPI

app = FastAPI()

PROJECTS_DIR = "/srv/projects"


@app.post("/projects/{project_id}/duplicate")
async def duplicate_project(project_id: int) -> dict:
    new_id = uuid.uuid4().hex
    src = os.path.join(PROJECTS_DIR, str(project_id), "project.db")
    dst = os.path.join(PROJECTS_DIR, new_id, "project.db")
    shutil.copy(src, dst)
    return {"project_id": new_id}
