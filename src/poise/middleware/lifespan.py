"""Runs poise's start-up and shutdown around the app's own lifespan."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from poise.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Lifespan"]

logger = logging.getLogger("poise")

Hook = Callable[[], Awaitable[None]]


class Lifespan:
    """Wrap the app's lifespan so poise starts before it and stops after it.

    The app's own start-up and shutdown (FastAPI ``lifespan=``, Starlette ``on_startup``
    handlers) run unchanged, in between. A plain ASGI app that does not speak the
    lifespan protocol at all (it raises or returns on a ``lifespan`` scope before reading
    the start-up message) still gets poise's hooks: poise then answers the server
    itself. A Starlette or FastAPI app always speaks it (its router does), so an
    exception there before start-up is an error (a middleware's, say): it propagates
    exactly as without poise (``own_if_unsupported=False``), and the server decides
    (uvicorn's ``--lifespan on`` refuses to start).

    Args:
        startup: awaited when the server sends ``lifespan.startup``, before the app sees
            it. If it raises, the app's start-up fails with that error.
        started: awaited after the app reports ``lifespan.startup.complete``.
        stopping: awaited when the server sends ``lifespan.shutdown``, before the app
            sees it.
        shutdown: awaited after the app's shutdown finished (or its start-up failed),
            before the server is told.
        own_if_unsupported: run poise's own lifespan when the app raises before reading
            the start-up message (a plain ASGI app without lifespan support); ``False``:
            let that exception propagate.
    """

    def __init__(
        self,
        *,
        startup: Hook,
        started: Hook,
        shutdown: Hook,
        stopping: Hook | None = None,
        own_if_unsupported: bool = True,
    ) -> None:
        self._own_if_unsupported = own_if_unsupported
        self._startup = startup
        self._started = started
        self._stopping = stopping
        self._shutdown = shutdown

    async def run(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ``lifespan`` scope: the app's protocol, with poise's hooks around it."""
        startup_seen = False
        poise_up = False

        async def receive_hooked() -> Message:
            nonlocal startup_seen, poise_up
            message = await receive()
            if message["type"] == "lifespan.startup":
                startup_seen = True
                await self._startup()
                poise_up = True
            elif message["type"] == "lifespan.shutdown" and self._stopping is not None:
                await self._stopping()
            return message

        async def send_hooked(message: Message) -> None:
            nonlocal poise_up
            kind = message["type"]
            if kind == "lifespan.startup.complete":
                await self._started()
            elif poise_up and kind in (
                "lifespan.shutdown.complete",
                "lifespan.shutdown.failed",
                "lifespan.startup.failed",
            ):
                poise_up = False
                await self._shutdown()
            await send(message)

        try:
            await app(scope, receive_hooked, send_hooked)
        except BaseException as exc:
            if startup_seen or not isinstance(exc, Exception) or not self._own_if_unsupported:
                if poise_up:
                    await self._shutdown()
                raise
            logger.info("poise: the app raised %s on the lifespan scope before its start-up: "
                        "taken as no lifespan support; poise runs its own",
                        type(exc).__name__)  # fmt: skip
        else:
            if startup_seen:
                if poise_up:
                    # The app returned mid-protocol; still stop what poise started.
                    await self._shutdown()
                return
        await self._run_own(receive, send)

    async def _run_own(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self._startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                await self._started()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._stopping is not None:
                    await self._stopping()
                await self._shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return
