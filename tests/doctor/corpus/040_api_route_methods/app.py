"""PSE101: api_route with two methods -> two findings; default api_route -> GET."""

import requests
from fastapi import FastAPI, Request

app = FastAPI()

CI_TRIGGER_URL = "http://ci.internal/api/trigger"
LEGACY_STATUS_URL = "http://legacy.internal/status"


@app.api_route("/webhooks/github", methods=["GET", "POST"])
async def github_webhook(request: Request) -> dict:
    delivery = request.headers.get("x-github-delivery", "ping")
    requests.post(CI_TRIGGER_URL, json={"delivery": delivery}, timeout=5)
    return {"delivery": delivery}


@app.api_route("/legacy/status")
async def legacy_status() -> dict:
    return requests.get(LEGACY_STATUS_URL, timeout=5).json()
