"""The layer that answers poise's own endpoints before the app (and its middleware) runs."""

from __future__ import annotations

from collections.abc import Mapping

from poise.types import ASGIApp, Receive, Scope, Send

__all__ = ["EndpointsMiddleware"]


class EndpointsMiddleware:
    """Route exact paths to poise's handlers; everything else goes to the app untouched.

    A dict lookup per request: poise's endpoints cost the app nothing, and they answer
    even when the app's own middleware or routing is the thing that is broken.

    Args:
        app: the ASGI app to wrap.
        endpoints: exact path (``/_poise/api/stats``) to the ASGI handler answering it.
    """

    def __init__(self, app: ASGIApp, *, endpoints: Mapping[str, ASGIApp]) -> None:
        for path in endpoints:
            if not path.startswith("/"):
                raise ValueError(f"endpoint path {path!r} must start with '/'")
        self.app = app
        self._endpoints = dict(endpoints)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            handler = self._endpoints.get(path)
            if handler is None:
                root_path: str = scope.get("root_path", "")
                if root_path and path.startswith(root_path):
                    # Servers that include root_path in path (uvicorn --root-path).
                    handler = self._endpoints.get(path[len(root_path) :])
            if handler is not None:
                await handler(scope, receive, send)
                return
        await self.app(scope, receive, send)
