"""The lifespan runner: poise starts before the app and stops after it, in every case."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from poise._internal import InternalErrors
from poise.middleware.core import PoiseMiddleware
from poise.middleware.lifespan import Lifespan
from poise.routing import RouteTemplates
from poise.types import Message, Receive, Scope, Send


class Hooks:
    def __init__(self, events: list[str], *, fail_startup: bool = False) -> None:
        self.events = events
        self.fail_startup = fail_startup

    async def startup(self) -> None:
        self.events.append("poise startup")
        if self.fail_startup:
            raise RuntimeError("poise could not start")

    async def started(self) -> None:
        self.events.append("poise started")

    async def shutdown(self) -> None:
        self.events.append("poise shutdown")

    def wrap(self, app: Any) -> PoiseMiddleware:
        lifespan = Lifespan(startup=self.startup, started=self.started, shutdown=self.shutdown)
        return PoiseMiddleware(
            app,
            templates=RouteTemplates(app),
            sinks=[],
            errors=InternalErrors(),
            lifespan=lifespan,
        )


async def run_lifespan(app: Any) -> list[Message]:
    """Drive a whole lifespan like a server: start-up, then (if it worked) shutdown."""
    to_app: asyncio.Queue[Message] = asyncio.Queue()
    from_app: list[Message] = []
    await to_app.put({"type": "lifespan.startup"})

    async def receive() -> Message:
        return await to_app.get()

    async def send(message: Message) -> None:
        from_app.append(message)
        if message["type"] == "lifespan.startup.complete":
            await to_app.put({"type": "lifespan.shutdown"})

    try:
        await asyncio.wait_for(app({"type": "lifespan", "state": {}}, receive, send), 5)
    except Exception as exc:
        from_app.append({"type": "raised", "error": repr(exc)})
    return from_app


def starlette_like(events: list[str], *, fail: bool = False) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive())["type"] == "lifespan.startup"
        events.append("app startup")
        if fail:
            await send({"type": "lifespan.startup.failed", "message": "no database"})
            raise RuntimeError("no database")
        await send({"type": "lifespan.startup.complete"})
        assert (await receive())["type"] == "lifespan.shutdown"
        events.append("app shutdown")
        await send({"type": "lifespan.shutdown.complete"})

    return app


@pytest.mark.anyio
async def test_poise_wraps_the_app_lifespan() -> None:
    events: list[str] = []
    sent = await run_lifespan(Hooks(events).wrap(starlette_like(events)))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert events == [
        "poise startup",
        "app startup",
        "poise started",
        "app shutdown",
        "poise shutdown",
    ]


@pytest.mark.anyio
async def test_app_startup_failure_still_stops_poise() -> None:
    events: list[str] = []
    sent = await run_lifespan(Hooks(events).wrap(starlette_like(events, fail=True)))
    assert sent[0] == {"type": "lifespan.startup.failed", "message": "no database"}
    assert sent[1]["type"] == "raised"
    assert events == ["poise startup", "app startup", "poise shutdown"]


@pytest.mark.anyio
async def test_poise_startup_failure_fails_the_app_startup() -> None:
    events: list[str] = []
    sent = await run_lifespan(Hooks(events, fail_startup=True).wrap(starlette_like(events)))
    assert sent == [{"type": "raised", "error": "RuntimeError('poise could not start')"}]
    assert events == ["poise startup"]


@pytest.mark.parametrize("behaviour", ["raises", "returns"])
@pytest.mark.anyio
async def test_app_without_lifespan_support_gets_poise_hooks(behaviour: str) -> None:
    async def http_only(scope: Scope, receive: Receive, send: Send) -> None:
        if behaviour == "raises":
            assert scope["type"] == "http"

    events: list[str] = []
    sent = await run_lifespan(Hooks(events).wrap(http_only))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert events == ["poise startup", "poise started", "poise shutdown"]


@pytest.mark.anyio
async def test_poise_startup_failure_without_app_lifespan_is_reported() -> None:
    async def http_only(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("lifespan unsupported")

    events: list[str] = []
    sent = await run_lifespan(Hooks(events, fail_startup=True).wrap(http_only))
    assert sent == [
        {
            "type": "lifespan.startup.failed",
            "message": "RuntimeError('poise could not start')",
        }
    ]


@pytest.mark.anyio
async def test_a_starlette_app_failing_before_its_startup_fails_as_without_poise() -> None:
    """Regression: a middleware raising on the lifespan scope before the start-up message
    was taken for "no lifespan support": poise ran its own, the app's lifespan silently
    never ran, and uvicorn's --lifespan on no longer refused to start."""
    from starlette.applications import Starlette

    from poise import Poise

    class Broken:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "lifespan":
                raise RuntimeError("the middleware's own bug")
            await self.app(scope, receive, send)

    def build() -> Any:
        app = Starlette()
        app.add_middleware(Broken)
        return app

    bare = await run_lifespan(build())
    poised_app = build()
    Poise(poised_app)
    poised = await run_lifespan(poised_app)
    assert (
        poised == bare == [{"type": "raised", "error": 'RuntimeError("the middleware\'s own bug")'}]
    )
