"""PSE101: the sync httpx.Client used from an async route."""

import httpx
from fastapi import FastAPI

app = FastAPI()

users_api = httpx.Client(base_url="http://users.internal", timeout=5.0)


@app.get("/users/{user_id}/profile")
async def user_profile(user_id: int) -> dict:
    resp = users_api.get(f"/users/{user_id}")
    resp.raise_for_status()
    return resp.json()
