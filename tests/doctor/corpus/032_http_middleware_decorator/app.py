"""PSE101: sync redis lookup inside an @app.middleware("http") function."""

import redis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI()

blocklist = redis.Redis(host="redis", decode_responses=True)


@app.middleware("http")
async def block_banned_ips(request: Request, call_next):
    if blocklist.sismember("banned_ips", request.client.host):
        return JSONResponse({"detail": "forbidden"}, status_code=403)
    return await call_next(request)


@app.get("/")
async def index() -> dict:
    return {"hello": "world"}
