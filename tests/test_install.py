"""Poise(app): installing in place, outermost, once, on FastAPI, Starlette and raw ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException, WebSocket
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from poise import AlreadyInstalledError, InstallError, Poise, Settings, SettingsError
from poise.types import Receive, Scope, Send
from tests.conftest import ADMIN_HEADERS


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test", headers=ADMIN_HEADERS
    )


async def routes_of(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/_poise/api/stats")
    assert response.status_code == 200
    routes: dict[str, Any] = response.json()["routes"]
    return routes


class StampMiddleware:
    """A pure-ASGI middleware of the app's own that tags responses and answers /teapot."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/teapot":
            await PlainTextResponse("short and stout", status_code=418)(scope, receive, send)
            return

        async def stamped(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-stamp", b"1"))
            await send(message)

        await self.app(scope, receive, stamped)


@pytest.mark.anyio
async def test_installs_in_place_outside_existing_middleware() -> None:
    app = FastAPI()
    app.add_middleware(StampMiddleware)

    @app.get("/orders/{order_id}")
    async def get_order(order_id: int) -> dict[str, int]:
        return {"order_id": order_id}

    installed = Poise(app)
    assert app.state.poise is installed
    async with client(app) as http:
        response = await http.get("/orders/7")
        assert response.json() == {"order_id": 7}
        assert response.headers["x-stamp"] == "1"
        # Answered by the app's middleware before routing: poise still sees and times
        # it, and names it by the route its path would match, if any.
        assert (await http.get("/teapot")).status_code == 418
        routes = await routes_of(http)
    assert routes["GET /orders/{order_id}"]["count"] == 1
    assert routes["GET <unmatched>"]["count"] == 1
    assert routes["GET <unmatched>"]["outcomes"] == {"ok": 1}


@pytest.mark.anyio
async def test_middleware_added_after_install_still_runs_inside_poise() -> None:
    app = Starlette(routes=[Route("/", lambda request: PlainTextResponse("home"))])
    Poise(app)
    app.add_middleware(StampMiddleware)
    async with client(app) as http:
        response = await http.get("/")
        assert response.headers["x-stamp"] == "1"
        assert (await routes_of(http))["GET /"]["count"] == 1


@pytest.mark.anyio
async def test_handler_exception_is_recorded_and_propagates() -> None:
    app = FastAPI()

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom")

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPException(418)

    poise = Poise(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        with pytest.raises(RuntimeError, match="kaboom"):
            await http.get("/boom")
        assert (await http.get("/teapot")).status_code == 418
    routes = poise.stats()["routes"]
    assert routes["GET /boom"]["errors"] == 1
    assert routes["GET /boom"]["outcomes"] == {"error": 1}
    # A 4xx the app chose is not an error of the app.
    assert routes["GET /teapot"]["outcomes"] == {"ok": 1}
    last = poise.requests.recent(2)
    assert [(ledger.route, ledger.status, ledger.outcome) for ledger in last] == [
        ("/teapot", 418, "ok"),
        ("/boom", 500, "error"),
    ]


def test_double_install_raises() -> None:
    app = FastAPI()
    Poise(app)
    with pytest.raises(AlreadyInstalledError, match="already installed"):
        Poise(app)


def test_wrapping_a_poise_object_raises() -> None:
    async def bare(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("never called")

    wrapped = Poise(bare)
    with pytest.raises(AlreadyInstalledError):
        Poise(wrapped)
    with pytest.raises(AlreadyInstalledError):
        Poise(bare)


def test_install_after_the_app_started_serving_raises() -> None:
    app = Starlette(routes=[Route("/", lambda request: PlainTextResponse("home"))])
    with TestClient(app) as test_client:
        assert test_client.get("/").text == "home"
    with pytest.raises(InstallError, match="already started serving"):
        Poise(app)


def test_bad_environment_value_fails_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POISE_BLOCK_THRESHOLD", "abc")
    with pytest.raises(SettingsError) as info:
        Poise(FastAPI())
    message = str(info.value)
    assert "POISE_BLOCK_THRESHOLD" in message
    assert "'abc'" in message
    assert "seconds (0.05)" in message


def test_environment_overrides_settings_in_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POISE_RECENT_REQUESTS", "7")
    poise = Poise(FastAPI(), Settings(recent_requests=100, block_threshold=0.2))
    assert poise.settings.recent_requests == 7
    assert poise.settings.block_threshold == 0.2
    assert poise.requests.capacity == 7


@pytest.mark.anyio
async def test_raw_asgi_app_is_served_through_the_poise_object() -> None:
    async def bare(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = Poise(bare)
    async with client(app) as http:
        assert (await http.delete("/x")).status_code == 204
        assert (await routes_of(http))["DELETE <unmatched>"]["count"] == 1


@pytest.mark.anyio
async def test_admin_prefix_is_configurable() -> None:
    app = FastAPI()
    Poise(app, Settings(admin_prefix="/ops/poise"))
    async with client(app) as http:
        assert (await http.get("/ops/poise/api/stats")).status_code == 200
        # The default prefix is now the app's: FastAPI answers it with its own 404.
        response = await http.get("/_poise/api/stats")
        assert response.status_code == 404
        assert response.json() == {"detail": "Not Found"}


def test_websocket_route_still_works() -> None:
    app = FastAPI()

    @app.websocket("/ws")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        text = await websocket.receive_text()
        await websocket.send_text(f"echo: {text}")
        await websocket.close()

    poise = Poise(app)
    with TestClient(app) as test_client, test_client.websocket_connect("/ws") as ws:
        ws.send_text("hello")
        assert ws.receive_text() == "echo: hello"
    # A websocket is not an HTTP request: nothing is recorded for it.
    assert poise.stats()["routes"] == {}


def test_lifespan_context_and_starlette_on_startup_both_run() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, str]]:
        events.append("startup")
        yield {"greeting": "hi"}
        events.append("shutdown")

    app = FastAPI(lifespan=lifespan)

    @app.get("/state")
    async def state(request: Request) -> dict[str, str]:
        return {"greeting": request.state.greeting}

    poise = Poise(app)
    assert poise.phase == "created"
    with TestClient(app) as test_client:
        assert poise.phase == "serving"
        # Lifespan state reaches the handlers through poise untouched.
        assert test_client.get("/state").json() == {"greeting": "hi"}
    assert events == ["startup", "shutdown"]
    assert poise.phase == "stopped"

    started: list[str] = []
    legacy = FastAPI(on_startup=[lambda: started.append("on_startup")])
    legacy.add_middleware(StampMiddleware)
    legacy.add_api_route("/", lambda: "ok")
    Poise(legacy)
    with TestClient(legacy) as test_client:
        assert test_client.get("/").headers["x-stamp"] == "1"
    assert started == ["on_startup"]


def test_plain_starlette_lifespan_runs() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    app = Starlette(routes=[Route("/", lambda request: Response("ok"))], lifespan=lifespan)
    poise = Poise(app)
    with TestClient(app) as test_client:
        assert test_client.get("/").text == "ok"
        assert poise.phase == "serving"
    assert events == ["startup", "shutdown"]


@pytest.mark.anyio
async def test_raw_app_that_cannot_carry_attributes_is_still_served() -> None:
    class Service:
        async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
            await PlainTextResponse("from a bound method")(scope, receive, send)

    app = Poise(Service().asgi)
    async with client(app) as http:
        assert (await http.get("/")).text == "from a bound method"
