"""poise's one outermost ASGI layer: its own endpoints, the lifespan, the request ledger.

It is one class rather than a stack of small ones because every layer costs the app a
coroutine frame and an ``await`` per request (about a microsecond each here, measured in
``bench/``); the parts it dispatches to live in their own modules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from time import perf_counter
from typing import Final

from poise._internal import InternalErrors
from poise.ledger import Ledger, LedgerSink, _current
from poise.middleware.lifespan import Lifespan
from poise.routing import RouteTemplates
from poise.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CLIENT_CLOSED_REQUEST", "KNOWN_METHODS", "PoiseMiddleware"]

#: Methods kept as they are in labels; any other (clients choose them) becomes "OTHER",
#: so a scanner sending made-up methods cannot grow the per-route tables.
KNOWN_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)

#: Status recorded when the client went away before any response started (nginx's 499).
CLIENT_CLOSED_REQUEST: Final = 499


class PoiseMiddleware:
    """Answer poise's endpoints, wrap the lifespan, and give every request a ledger.

    For each HTTP request: a path in ``endpoints`` is answered by poise (not recorded,
    not seen by the app); any other gets a ledger, current for the whole request, timed
    to its last body byte, resolved to its route template, and handed to ``sinks``.
    Lifespan scopes go through ``lifespan``; any other scope reaches the app untouched.

    Args:
        app: the ASGI app to wrap.
        templates: resolves the route template once the app has routed the request.
        sinks: called with each finished ledger, in order.
        errors: where a failing sink is reported.
        endpoints: exact path (``/_poise/api/stats``) to the ASGI handler answering it.
        lifespan: runs poise's start-up and shutdown around the app's; ``None`` passes
            lifespan scopes straight through.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        templates: RouteTemplates,
        sinks: Sequence[LedgerSink],
        errors: InternalErrors,
        endpoints: Mapping[str, ASGIApp] | None = None,
        lifespan: Lifespan | None = None,
    ) -> None:
        for path in endpoints or {}:
            if not path.startswith("/"):
                raise ValueError(f"endpoint path {path!r} must start with '/'")
        self.app = app
        self._templates = templates
        self._sinks = tuple(sinks)
        self._errors = errors
        self._endpoints = dict(endpoints or {})
        self._lifespan = lifespan

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan" and self._lifespan is not None:
                await self._lifespan.run(self.app, scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return

        if self._endpoints:
            handler = self._endpoint(scope)
            if handler is not None:
                await handler(scope, receive, send)
                return

        method = scope["method"]
        ledger = Ledger(method if method in KNOWN_METHODS else "OTHER")
        root_path = scope.get("root_path", "")
        token = _current.set(ledger)
        end = 0.0
        complete = False
        disconnected = False

        async def receive_watching() -> Message:
            nonlocal disconnected
            message = await receive()
            if message["type"] == "http.disconnect" and not complete:
                disconnected = True
            return message

        async def send_timed(message: Message) -> None:
            nonlocal end, complete, disconnected
            if message["type"] == "http.response.start":
                ledger.status = message["status"]
            try:
                await send(message)
            except OSError:
                # ASGI 2.4 servers raise here when the client has gone.
                disconnected = True
                raise
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                end = perf_counter()
                complete = True

        try:
            await self.app(scope, receive_watching, send_timed)
        except BaseException:
            if ledger.outcome is None:
                ledger.outcome = "client_disconnected" if disconnected else "error"
            raise
        finally:
            _current.reset(token)
            self._finish(ledger, scope, root_path, end or perf_counter(), complete, disconnected)

    def _endpoint(self, scope: Scope) -> ASGIApp | None:
        path: str = scope["path"]
        handler = self._endpoints.get(path)
        if handler is None:
            root_path: str = scope.get("root_path", "")
            if root_path and path.startswith(root_path):
                # Servers that include root_path in path (uvicorn --root-path).
                handler = self._endpoints.get(path[len(root_path) :])
        return handler

    def _finish(
        self,
        ledger: Ledger,
        scope: Scope,
        root_path: str,
        end: float,
        complete: bool,
        disconnected: bool,
    ) -> None:
        ledger.wall = end - ledger.start
        if ledger.status == 0:
            # Nothing was sent: the server answers 500 itself, unless the client is gone.
            ledger.status = CLIENT_CLOSED_REQUEST if disconnected else 500
        if ledger.outcome is None:
            if disconnected and not complete:
                ledger.outcome = "client_disconnected"
            elif complete and ledger.status < 500:
                ledger.outcome = "ok"
            else:
                ledger.outcome = "error"
        try:
            ledger.route = self._templates.resolve(scope, ledger.status, root_path)
        except Exception as exc:
            self._errors.report("route templates", exc)
            ledger.route = "<error>"
        for sink in self._sinks:
            try:
                sink(ledger)
            except Exception as exc:
                self._errors.report(getattr(sink, "__qualname__", repr(sink)), exc)
