"""PSE101: subprocess.run and Popen.wait in async routes."""

import subprocess
from pathlib import Path

from fastapi import FastAPI, HTTPException

app = FastAPI()

DATABASE_URL = "postgresql://app@db/app"
BACKUP_DIR = Path("/var/backups/app")
REPORT_DIR = Path("/srv/reports")


@app.post("/backups")
async def create_backup() -> dict:
    target = BACKUP_DIR / "latest.dump"
    subprocess.run(["pg_dump", "--format=custom", "--file", str(target), DATABASE_URL], check=True)
    return {"backup": str(target)}


@app.post("/reports/{report_id}/render")
async def render_report(report_id: int) -> dict:
    src = REPORT_DIR / f"{report_id}.html"
    dst = REPORT_DIR / f"{report_id}.pdf"
    proc = subprocess.Popen(["wkhtmltopdf", str(src), str(dst)])
    if proc.wait() != 0:
        raise HTTPException(status_code=500, detail="render failed")
    return {"pdf": str(dst)}
