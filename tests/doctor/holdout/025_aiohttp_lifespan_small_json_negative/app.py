import hashlib
import json
from contextlib import asynccontextmanager

import aiohttp
import orjson
from fastapi import FastAPI, Request, Response

GEO_URL = "https://geo.internal/v1/lookup"


@asynccontextmanager
async def lifespan(app: FastAPI):
    timeout = aiohttp.ClientTimeout(total=5, connect=1)
    async with aiohttp.ClientSession(timeout=timeout, raise_for_status=True) as session:
        app.state.http = session
        yield


app = FastAPI(lifespan=lifespan)


async def geo_lookup(session: aiohttp.ClientSession, ip: str) -> dict:
    async with session.get(GEO_URL, params={"ip": ip}) as resp:
        return await resp.json()


@app.get("/whoami")
async def whoami(request: Request) -> Response:
    ip = request.client.host if request.client else "0.0.0.0"
    geo = await geo_lookup(request.app.state.http, ip)
    prefs = json.loads(request.headers.get("x-prefs", "{}"))
    payload = {"ip": ip, "country": geo.get("country"), "prefs": prefs}
    body = json.dumps(payload, separators=(",", ":"))
    etag = hashlib.sha256(body.encode()).hexdigest()[:16]
    return Response(body, media_type="application/json", headers={"ETag": etag})


@app.post("/echo")
async def echo(request: Request) -> Response:
    data = await request.json()
    return Response(orjson.dumps({"received": len(data)}), media_type="application/json")
