"""poise's own answers (503 shed, 504 deadline) with the app's CORS headers.

poise answers those before the app's middleware runs, so the headers an app's
``CORSMiddleware`` adds were missing: a browser app then cannot read the response (not
even ``Retry-After``) and reports a network error. :class:`CorsAnswers` runs each of
poise's own answers through the app's CORS policy, built once from the app's own
``CORSMiddleware`` options (found in ``app.user_middleware``), and exposes
``Retry-After`` (and the debug header) to the page.

Requests without an ``Origin`` header (every non-browser client) skip all of it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

from poise.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CorsAnswers", "app_cors"]

#: Where the answer to send is handed to the inner app (a key only poise's copy of the
#: scope carries).
_RESPOND: Final = "poise.respond"
#: Response headers poise's answers carry that a browser app should be able to read.
_EXPOSED: Final = (b"retry-after", b"poise-shed-reason")

Respond = Callable[[Send], Awaitable[None]]


async def _respond_from_scope(scope: Scope, receive: Receive, send: Send) -> None:
    respond: Respond = scope[_RESPOND]
    await respond(send)


async def _no_body(_: Any = None) -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


class CorsAnswers:
    """The app's CORS policy, applied to poise's own answers.

    Args:
        middleware: an ASGI app wrapping :func:`_respond_from_scope` in the app's CORS
            middleware (see :func:`app_cors`).
    """

    def __init__(self, middleware: ASGIApp) -> None:
        self._cors = middleware

    async def send(self, scope: Scope, send: Send, respond: Respond) -> None:
        """Send one of poise's answers (``respond(send)``), with CORS headers when the
        request is a browser's (it has ``Origin``)."""
        if not any(name == b"origin" for name, _ in scope.get("headers", ())):
            await respond(send)
            return

        async def exposing(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = _expose(message)
            await send(message)

        await self._cors({**scope, _RESPOND: respond}, _no_body, exposing)


def _expose(message: Message) -> Message:
    """Add the headers poise's answer carries to ``Access-Control-Expose-Headers``, when
    the CORS policy allowed the origin."""
    headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
    names = {name.lower() for name, _ in headers}
    if b"access-control-allow-origin" not in names:
        return message  # the origin is not allowed: nothing to expose
    wanted = [name for name in _EXPOSED if name in names]
    if not wanted:
        return message
    exposed = [value for name, value in headers if name.lower() == b"access-control-expose-headers"]
    headers = [(n, v) for n, v in headers if n.lower() != b"access-control-expose-headers"]
    current = [item.strip() for value in exposed for item in value.split(b",") if item.strip()]
    known = {item.lower() for item in current}
    current += [name for name in wanted if name not in known]
    headers.append((b"access-control-expose-headers", b", ".join(current)))
    return {**message, "headers": headers}


def app_cors(app: Any, origins: tuple[str, ...] = ()) -> CorsAnswers | None:
    """The CORS policy of a Starlette/FastAPI ``app`` (its ``CORSMiddleware``); else,
    with ``origins`` (the ``cors_origins`` setting), one allowing those origins any
    method; else ``None``."""
    from starlette.middleware.cors import CORSMiddleware

    for entry in getattr(app, "user_middleware", ()) or ():
        cls = getattr(entry, "cls", None)
        if isinstance(cls, type) and issubclass(cls, CORSMiddleware):
            middleware = cls(_respond_from_scope, *entry.args, **entry.kwargs)
            return CorsAnswers(middleware)
    if origins:
        return CorsAnswers(
            CORSMiddleware(_respond_from_scope, allow_origins=list(origins), allow_methods=["*"])
        )
    return None
