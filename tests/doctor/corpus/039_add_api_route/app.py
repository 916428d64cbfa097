"""PSE101/PSE102: routes added with add_api_route on the app and on a router."""

from pathlib import Path

import requests
from fastapi import APIRouter, FastAPI
from fastapi.responses import Response

REPORTING_URL = "http://reporting.internal"
EXPORT_DIR = "/srv/exports"


async def get_report(report_id: int) -> dict:
    return requests.get(f"{REPORTING_URL}/reports/{report_id}", timeout=10).json()


async def download_export(name: str) -> Response:
    data = Path(EXPORT_DIR, name).read_bytes()
    return Response(data, media_type="text/csv")


app = FastAPI()
app.add_api_route("/reports/{report_id}", get_report, methods=["GET"])

router = APIRouter(prefix="/exports")
router.add_api_route("/{name}", download_export, methods=["GET"])
app.include_router(router)
