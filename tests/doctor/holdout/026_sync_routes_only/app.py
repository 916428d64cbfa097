import subprocess

import httpx
import requests
from fastapi import APIRouter, FastAPI

app = FastAPI()
router = APIRouter(prefix="/ops")


@router.get("/disk")
def disk_usage() -> dict[str, str]:
    out = subprocess.run(["df", "-h", "/"], capture_output=True, text=True, timeout=5)
    return {"df": out.stdout}


@router.get("/upstream")
def upstream_status() -> dict[str, int]:
    resp = requests.get("https://status.partner.example.com/api/v2/status.json")
    return {"status": resp.status_code}


@router.api_route("/ping-partner", methods=["GET", "POST"])
def ping_partner() -> dict[str, float]:
    with httpx.Client(timeout=5.0) as client:
        elapsed = client.get("https://partner.example.com/ping").elapsed.total_seconds()
    return {"elapsed": elapsed}


def read_motd() -> str:
    with open("/etc/motd") as fh:
        return fh.read()


router.add_api_route("/motd", read_motd, methods=["GET"])


@app.api_route("/version")
async def version() -> dict[str, str]:
    return {"version": "1.4.2"}


app.include_router(router)
