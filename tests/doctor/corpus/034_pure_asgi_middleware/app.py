"""PSE101: pure ASGI middleware whose async __call__ blocks (both registration forms)."""

import redis
from fastapi import FastAPI
from pymongo import MongoClient
from pymongo.collection import Collection
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

tenants: Collection = MongoClient("mongodb://mongo:27017")["core"]["tenants"]
metrics = redis.Redis(host="redis")


class TenantMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            slug = headers.get(b"x-tenant", b"public").decode()
            scope.setdefault("state", {})["tenant"] = tenants.find_one({"slug": slug})
        await self.app(scope, receive, send)


class RequestCounterMiddleware:
    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app = app
        self.key = key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            metrics.incr(self.key)
        await self.app(scope, receive, send)


app = FastAPI(middleware=[Middleware(TenantMiddleware)])
app.add_middleware(RequestCounterMiddleware, key="requests_total")


@app.get("/whoami")
async def whoami() -> dict:
    return {"ok": True}
