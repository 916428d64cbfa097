"""Route templates: resolved from the routing result, prefixes joined, never raw paths."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from poise import Poise
from poise.routing import RouteTemplates


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


def build_fastapi_app(tmp_path: Any) -> FastAPI:
    app = FastAPI()
    items = APIRouter(prefix="/items", tags=["items"])

    @items.get("/{item_id}")
    async def get_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @items.get("/{item_id}/parts/{part}")
    async def get_part(item_id: int, part: str) -> dict[str, str]:
        return {"part": part}

    admin = APIRouter(prefix="/admin")
    nested = APIRouter(prefix="/users")

    @nested.delete("/{user_id}")
    async def delete_user(user_id: str) -> None:
        return None

    admin.include_router(nested)
    app.include_router(items, prefix="/v1")
    # The same router reachable under a second prefix: same route objects, two templates.
    app.include_router(items, prefix="/v2")
    app.include_router(admin)

    sub = FastAPI()

    @sub.get("/reports/{year}")
    async def report(year: int) -> dict[str, int]:
        return {"year": year}

    app.mount("/sub", sub)
    app.mount("/legacy", Starlette(routes=[Mount("/m", routes=[Route("/u/{uid}", hello)])]))
    (tmp_path / "logo.txt").write_text("logo")
    app.mount("/static", StaticFiles(directory=tmp_path))
    return app


@pytest.mark.parametrize(
    ("method", "path", "status", "label"),
    [
        pytest.param("GET", "/v1/items/3", 200, "GET /v1/items/{item_id}", id="prefixed router"),
        pytest.param(
            "GET", "/v2/items/3", 200, "GET /v2/items/{item_id}", id="router included twice"
        ),
        pytest.param(
            "GET",
            "/v1/items/3/parts/x",
            200,
            "GET /v1/items/{item_id}/parts/{part}",
            id="two params",
        ),
        pytest.param("GET", "/v1/items/abc", 422, "GET /v1/items/{item_id}", id="validation error"),
        pytest.param(
            "DELETE", "/admin/users/u1", 200, "DELETE /admin/users/{user_id}", id="nested"
        ),
        pytest.param("POST", "/v1/items/3", 405, "POST /v1/items/{item_id}", id="wrong method"),
        pytest.param("GET", "/sub/reports/2026", 200, "GET /sub/reports/{year}", id="mounted app"),
        pytest.param("GET", "/legacy/m/u/9", 200, "GET /legacy/m/u/{uid}", id="starlette mount"),
        pytest.param("GET", "/static/logo.txt", 200, "GET /static/{path}", id="static files"),
        pytest.param("GET", "/static/missing", 404, "GET /static/{path}", id="static 404"),
        pytest.param("GET", "/sub/nope", 404, "GET <unmatched>", id="404 inside a mount"),
        pytest.param("GET", "/nothing/here", 404, "GET <unmatched>", id="404"),
        pytest.param("BREW", "/coffee", 404, "OTHER <unmatched>", id="made-up method"),
    ],
)
@pytest.mark.anyio
async def test_fastapi_route_labels(
    tmp_path: Any, method: str, path: str, status: int, label: str
) -> None:
    app = build_fastapi_app(tmp_path)
    poise = Poise(app)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        response = await http.request(method, path)
    assert response.status_code == status
    assert list(poise.stats()["routes"]) == [label]


@pytest.mark.anyio
async def test_raw_path_values_never_become_labels() -> None:
    app = Starlette(routes=[Route("/users/{name}", hello)])
    poise = Poise(app)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        for i in range(50):
            await http.get(f"/users/user-{i}")
    routes = poise.stats()["routes"]
    assert list(routes) == ["GET /users/{name}"]
    assert routes["GET /users/{name}"]["count"] == 50


@pytest.mark.anyio
async def test_routes_added_after_the_first_request_are_named() -> None:
    app = FastAPI()

    @app.get("/first")
    async def first() -> str:
        return "1"

    poise = Poise(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        await http.get("/first")
        app.add_api_route("/late/{x}", first)
        poise._templates._built_at -= 60  # as if the rebuild interval had passed
        assert (await http.get("/late/1")).status_code == 200
    assert set(poise.stats()["routes"]) == {"GET /first", "GET /late/{x}"}


def test_resolve_falls_back_to_matching_when_scope_was_copied() -> None:
    """A middleware that copied the scope hides the routing result: the path decides."""
    app = Starlette(routes=[Route("/a/{x}", hello, methods=["GET"]), Route("/b", hello)])
    templates = RouteTemplates(app)
    scope = {"type": "http", "method": "GET", "path": "/a/1", "root_path": ""}
    assert templates.resolve(scope, 401, "") == "/a/{x}"
    assert templates.resolve({**scope, "method": "PUT"}, 405, "") == "/a/{x}"
    assert templates.resolve({**scope, "path": "/zzz"}, 307, "") == "<unmatched>"
    assert templates.resolve({**scope, "path": "/zzz"}, 404, "") == "<unmatched>"
    assert templates.templates() == ["/a/{x}", "/b"]


def test_resolve_under_a_root_path() -> None:
    app = Starlette(routes=[Route("/a/{x}", hello)])
    templates = RouteTemplates(app)
    scope = {"type": "http", "method": "GET", "path": "/api/a/1", "root_path": "/api"}
    assert templates.resolve(scope, 200, "/api") == "/a/{x}"


def test_unknown_route_object_uses_its_own_template() -> None:
    templates = RouteTemplates(Starlette())
    stray = Route("/stray/{id}", hello)
    assert templates.resolve({"route": stray, "path": "/stray/1"}, 200, "") == "/stray/{id}"
