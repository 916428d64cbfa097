"""poise's own 503 and 504 carry the app's CORS headers, so a browser app can read them."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

import poise
from poise import Poise, Settings

pytestmark = pytest.mark.anyio

ORIGIN = "https://shop.example"


def build(*, cors: bool = True, expose: tuple[str, ...] = ()) -> FastAPI:
    app = FastAPI()
    if cors:
        app.add_middleware(
            CORSMiddleware, allow_origins=[ORIGIN], allow_methods=["*"],
            expose_headers=list(expose),
        )  # fmt: skip

    @app.get("/slow")
    @poise.route(deadline=0.05)
    async def slow() -> dict[str, str]:
        await asyncio.sleep(1)
        return {"status": "late"}

    @app.get("/held")
    async def held() -> dict[str, str]:
        await asyncio.sleep(0.3)
        return {"status": "ok"}

    Poise(app, Settings(admission_min_limit=1, admission_max_limit=1, admission_max_queue=1))
    return app


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_a_deadline_504_carries_the_apps_cors_headers() -> None:
    async with client(build(expose=("X-Total",))) as http:
        browser = await http.get("/slow", headers={"Origin": ORIGIN})
        other = await http.get("/slow", headers={"Origin": "https://evil.example"})
        plain = await http.get("/slow")
    assert browser.status_code == 504
    assert browser.headers["access-control-allow-origin"] == ORIGIN
    assert browser.headers["content-type"] == "application/problem+json"
    assert "deadline" in browser.json()["detail"]
    # The app's own exposed headers stay; poise's answer has no Retry-After to add.
    assert browser.headers["access-control-expose-headers"].lower() == "x-total"
    assert other.status_code == 504
    assert "access-control-allow-origin" not in other.headers  # not an allowed origin
    assert plain.status_code == 504
    assert "access-control-allow-origin" not in plain.headers


async def test_a_shed_503_carries_cors_headers_and_exposes_retry_after() -> None:
    app = build()
    async with client(app) as http:
        first = asyncio.create_task(http.get("/held", headers={"Origin": ORIGIN}))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(http.get("/held", headers={"Origin": ORIGIN}))
        await asyncio.sleep(0.05)
        shed = await http.get("/held", headers={"Origin": ORIGIN})
        answers = await asyncio.gather(first, second)
    assert [a.status_code for a in answers] == [200, 200]
    assert shed.status_code == 503
    assert shed.headers["access-control-allow-origin"] == ORIGIN
    assert "retry-after" in shed.headers
    assert shed.headers["access-control-expose-headers"].lower() == "retry-after"


async def test_an_app_without_cors_gets_plain_answers() -> None:
    async with client(build(cors=False)) as http:
        answer = await http.get("/slow", headers={"Origin": ORIGIN})
    assert answer.status_code == 504
    assert "access-control-allow-origin" not in answer.headers


async def test_cors_origins_for_apps_that_add_cors_elsewhere() -> None:
    app = FastAPI()

    @app.get("/slow")
    @poise.route(deadline=0.05)
    async def slow() -> dict[str, str]:
        await asyncio.sleep(1)
        return {"status": "late"}

    Poise(app, Settings(cors_origins=(ORIGIN,)))
    async with client(app) as http:
        allowed = await http.get("/slow", headers={"Origin": ORIGIN})
        other = await http.get("/slow", headers={"Origin": "https://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "access-control-allow-origin" not in other.headers


def test_cors_origins_are_validated() -> None:
    from poise import SettingsError

    read = Settings.from_env({"POISE_CORS_ORIGINS": "https://a.example, http://b:8080"})
    assert read.cors_origins == ("https://a.example", "http://b:8080")
    with pytest.raises(SettingsError, match="POISE_CORS_ORIGINS"):
        Settings.from_env({"POISE_CORS_ORIGINS": "https://a.example/path"})
