import json
import time
from datetime import datetime, timezone

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class TimingMiddleware:
    def __init__(self, app: ASGIApp, header: str = "x-process-time") -> None:
        self.app = app
        self.header = header.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed = f"{time.perf_counter() - start:.4f}".encode()
                message.setdefault("headers", []).append((self.header, elapsed))
            await send(message)

        await self.app(scope, receive, send_wrapper)


class AuditMiddleware(BaseHTTPMiddleware):
    def __init__(self, app: ASGIApp, log_path: str) -> None:
        super().__init__(app)
        self.log_path = log_path

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        entry = {
            "ts": datetime.now(timezone.utc).isoformat(),
            "method": request.method,
            "path": request.url.path,
            "status": response.status_code,
        }
        with open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")
        return response
