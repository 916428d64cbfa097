"""PSE104: clients created per request in a sync route and in a middleware."""

import httpx
from fastapi import FastAPI, Request

app = FastAPI()

GEO_URL = "https://geo.example.com/v1"
FLAGS_URL = "http://flags.internal/v1"


@app.middleware("http")
async def load_flags(request: Request, call_next):
    async with httpx.AsyncClient(base_url=FLAGS_URL, timeout=2.0) as flags:
        resp = await flags.get("/flags", params={"path": request.url.path})
    request.state.flags = resp.json()
    return await call_next(request)


@app.get("/geo/{ip}")
def geolocate(ip: str) -> dict:
    with httpx.Client(base_url=GEO_URL, timeout=5.0) as client:
        return client.get(f"/ip/{ip}").json()
