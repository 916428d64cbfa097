import subprocess
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

REPORT_DIR = Path("/srv/reports")

router = APIRouter(tags=["reports"])


@router.get("/{report_id}/download")
async def download_report(report_id: int) -> Response:
    path = REPORT_DIR / f"{report_id}.pdf"
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise HTTPException(404, "no such report") from None
    return Response(content=content, media_type="application/pdf")


@router.post("/{report_id}/render", status_code=202)
def render_report(report_id: int) -> dict[str, int]:
    subprocess.run(["render-report", str(report_id)], check=True, timeout=300)
    return {"report_id": report_id}
