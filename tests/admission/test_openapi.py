"""poise's own 503 and 504 in the app's OpenAPI schema (``openapi_responses=True``)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

import poise
from poise import Poise, Settings


def build(settings: Settings) -> FastAPI:
    app = FastAPI()

    @app.get("/orders/{order_id}")
    async def order(order_id: int) -> dict[str, int]:
        return {"order_id": order_id}

    @app.post("/checkout", responses={503: {"description": "the app's own words"}})
    @poise.route(deadline=2.0)
    async def checkout() -> dict[str, str]:
        return {"status": "paid"}

    @app.get("/events")
    @poise.route(long_lived=True)
    async def events() -> dict[str, str]:
        return {"status": "streaming"}

    Poise(app, settings)
    return app


def responses(schema: dict[str, object], path: str, method: str) -> dict[str, object]:
    operation = schema["paths"][path][method]  # type: ignore[index]
    result: dict[str, object] = operation["responses"]
    return result


def test_the_schema_lists_poises_answers_per_operation() -> None:
    app = build(Settings(openapi_responses=True))
    schema = app.openapi()
    order = responses(schema, "/orders/{order_id}", "get")
    assert "503" in order
    assert "504" not in order  # no deadline on it
    assert order["503"]["headers"]["Retry-After"]["schema"] == {"type": "integer"}  # type: ignore[index]
    content = order["503"]["content"]  # type: ignore[index]
    assert content["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/PoiseProblem"
    }
    checkout = responses(schema, "/checkout", "post")
    assert checkout["503"] == {"description": "the app's own words"}  # the app's wins
    assert "504" in checkout  # its deadline
    events = responses(schema, "/events", "get")
    assert "503" not in events  # long-lived: never shed
    assert "PoiseProblem" in schema["components"]["schemas"]  # type: ignore[index]
    assert app.openapi() == schema  # cached, added once


def test_deadlines_for_all_and_observe_mode() -> None:
    schema = build(Settings(openapi_responses=True, deadline_header="X-Deadline",
                            admission="observe")).openapi()  # fmt: skip
    order = responses(schema, "/orders/{order_id}", "get")
    assert "504" in order  # a caller may send a deadline
    assert "503" not in order  # observe mode sheds nothing


@pytest.mark.anyio
async def test_off_by_default_and_served_at_openapi_json() -> None:
    plain = build(Settings()).openapi()
    assert "503" not in responses(plain, "/orders/{order_id}", "get")
    app = build(Settings(openapi_responses=True))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        served = (await http.get("/openapi.json")).json()
    assert "503" in responses(served, "/orders/{order_id}", "get")
