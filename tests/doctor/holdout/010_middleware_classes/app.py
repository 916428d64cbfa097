import socket
from datetime import datetime, timezone

from fastapi import FastAPI, Request
from starlette.middleware import Middleware

from middleware import AuditMiddleware, TimingMiddleware

app = FastAPI(middleware=[Middleware(TimingMiddleware, header="x-response-time")])
app.add_middleware(AuditMiddleware, log_path="/var/log/api/audit.log")


@app.middleware("http")
async def reverse_dns(request: Request, call_next):
    host = request.client.host if request.client else "unknown"
    try:
        request.state.client_name = socket.gethostbyaddr(host)[0]
    except OSError:
        request.state.client_name = host
    return await call_next(request)


@app.get("/time")
async def now() -> dict[str, str]:
    return {"now": datetime.now(timezone.utc).isoformat()}
