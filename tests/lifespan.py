"""Drive an app's ASGI lifespan in-process, as a server would (httpx's transport does not)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio

Message = dict[str, Any]


@asynccontextmanager
async def running(app: Callable[..., Any]) -> AsyncIterator[None]:
    """Drive the app's ASGI lifespan as a server would: start-up, then shutdown on exit.

    The whole app is driven, poise's layers included (``ASGITransport`` sends no
    lifespan events at all).
    """
    to_app, app_inbox = anyio.create_memory_object_stream[Message](1)
    app_outbox, from_app = anyio.create_memory_object_stream[Message](1)
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}

    async def expect(kind: str) -> None:
        message = await from_app.receive()
        if message["type"] != kind:
            raise RuntimeError(f"lifespan: expected {kind}, got {message!r}")

    async with to_app, app_inbox, app_outbox, from_app, anyio.create_task_group() as tasks:
        tasks.start_soon(app, scope, app_inbox.receive, app_outbox.send)
        await to_app.send({"type": "lifespan.startup"})
        await expect("lifespan.startup.complete")
        try:
            yield
        finally:
            await to_app.send({"type": "lifespan.shutdown"})
            await expect("lifespan.shutdown.complete")
