"""PSE101: `from requests import get as fetch`."""

from fastapi import FastAPI
from requests import get as fetch

app = FastAPI()

STATUS_PAGE = "https://status.example.com/api/v2/status.json"


@app.get("/upstream-status")
async def upstream_status() -> dict:
    page = fetch(STATUS_PAGE, timeout=5).json()
    return {"indicator": page["status"]["indicator"]}
