"""PSE101: BaseHTTPMiddleware.dispatch blocks (registered with add_middleware)."""

import time

import requests
from fastapi import FastAPI, Request
from starlette.middleware.base import BaseHTTPMiddleware

AUDIT_URL = "http://audit.internal/requests"


class AuditMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        record = {
            "path": request.url.path,
            "status": response.status_code,
            "ms": round((time.perf_counter() - started) * 1000, 1),
        }
        requests.post(AUDIT_URL, json=record, timeout=2)
        return response


app = FastAPI()
app.add_middleware(AuditMiddleware)


@app.get("/items")
async def items() -> list:
    return []
