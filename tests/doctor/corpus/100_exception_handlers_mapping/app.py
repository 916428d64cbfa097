"""PSE101/PSE102: blocking calls in handlers registered through exception_handlers={...}."""

from pathlib import Path

import redis
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

NOT_FOUND_PAGE = "/srv/static/404.html"

strikes = redis.Redis(host="redis")


class RateLimited(Exception):
    pass


async def not_found(request: Request, exc: Exception) -> HTMLResponse:
    return HTMLResponse(Path(NOT_FOUND_PAGE).read_text(), status_code=404)


async def rate_limited(request: Request, exc: RateLimited) -> JSONResponse:
    strikes.incr(f"strikes:{request.client.host}")
    return JSONResponse({"detail": "too many requests"}, status_code=429)


app = FastAPI(exception_handlers={404: not_found, RateLimited: rate_limited})


@app.get("/items/{item_id}")
async def item(item_id: int) -> dict:
    raise RateLimited()
