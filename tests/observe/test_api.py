"""The admin API: what it returns, and how it refuses bad input (who may read it:
test_admin_access.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from poise import Poise, Settings, __version__
from tests.conftest import ADMIN_HEADERS

TOKEN = "s3cr3t-token-0123456789"


def build_app(settings: Settings | None = None) -> tuple[FastAPI, Poise]:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    return app, Poise(app, settings)


def client(app: Any, host: str = "127.0.0.1") -> httpx.AsyncClient:
    """A client with the tests' admin token (who may read: tests/observe/test_admin_access.py)."""
    transport = httpx.ASGITransport(app=app, client=(host, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://test", headers=ADMIN_HEADERS)


@pytest.mark.anyio
async def test_token_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POISE_ADMIN_TOKEN", TOKEN)
    app, _ = build_app()
    async with client(app, "198.51.100.1") as http:
        ok = await http.get("/_poise/api/stats", headers={"Authorization": f"Bearer {TOKEN}"})
        refused = await http.get("/_poise/api/stats")
    assert (ok.status_code, refused.status_code) == (200, 403)


@pytest.mark.anyio
async def test_stats_document() -> None:
    app, _ = build_app()
    async with client(app) as http:
        for i in range(20):
            await http.get(f"/items/{i}")
        response = await http.get("/_poise/api/stats")
    assert response.headers["cache-control"] == "no-store"
    stats = response.json()
    assert stats["poise_version"] == __version__
    assert stats["uptime_s"] >= 0
    assert set(stats) >= {"loop", "admission", "pools", "routes", "incidents"}
    row = stats["routes"]["GET /items/{item_id}"]
    assert row["count"] == 20
    assert 0 < row["p50_s"] <= row["p95_s"] <= row["p99_s"] <= row["max_s"] * 1.02
    # poise's own endpoints are not part of the app's statistics.
    assert not any("_poise" in key for key in stats["routes"])


@pytest.mark.anyio
async def test_requests_slowest_and_recent() -> None:
    app, poise = build_app(Settings(recent_requests=10))
    async with client(app) as http:
        for i in range(15):
            await http.get(f"/items/{i}")
        slowest = (await http.get("/_poise/api/requests", params={"slowest": 3})).json()
        recent = (await http.get("/_poise/api/requests", params={"limit": 4})).json()
        default = (await http.get("/_poise/api/requests")).json()
    assert slowest["capacity"] == 10
    walls = [item["wall_s"] for item in slowest["requests"]]
    assert len(walls) == 3
    assert walls == sorted(walls, reverse=True)
    assert walls[0] == round(max(ledger.wall for ledger in poise.requests.recent(10)), 6)
    assert len(recent["requests"]) == 4
    assert len(default["requests"]) == 10
    item = recent["requests"][0]
    assert set(item) == {
        "at", "method", "route", "status", "outcome", "wall_s", "on_loop_s", "stalled_s",
        "stalled_by", "threadpool_queue_s", "threadpool_run_s", "threadpool_jumps",
        "admission_wait_s", "queued_behind_block_s", "shed_reason", "hung",
    }  # fmt: skip
    assert (item["method"], item["route"], item["status"], item["outcome"]) == (
        "GET", "/items/{item_id}", 200, "ok",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        pytest.param("slowest=abc", "slowest must be one whole number from 1 to 1000", id="text"),
        pytest.param("slowest=-1", "slowest must be one whole number", id="negative"),
        pytest.param("slowest=0", "slowest must be one whole number", id="zero"),
        pytest.param("slowest=1001", "from 1 to 1000", id="beyond the ring"),
        pytest.param("slowest=", "slowest must be one whole number", id="empty"),
        pytest.param("slowest=1&slowest=2", "slowest must be one whole number", id="twice"),
        pytest.param("slowest=%D9%A3", "slowest must be one whole number", id="unicode digit"),
        pytest.param("limit=" + "9" * 5000, "limit must be one whole number", id="5000 digits"),
        pytest.param("limit=2.5", "limit must be one whole number", id="fractional limit"),
        pytest.param("slowest=1&limit=1", "not both", id="both"),
        pytest.param("sort=wall", "unknown query parameter 'sort'", id="unknown"),
    ],
)
@pytest.mark.anyio
async def test_requests_rejects_bad_queries(query: str, detail: str) -> None:
    app, _ = build_app()
    async with client(app) as http:
        response = await http.get(f"/_poise/api/requests?{query}")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert detail in response.json()["detail"]


@pytest.mark.anyio
async def test_admin_api_is_read_only() -> None:
    app, _ = build_app()
    async with client(app) as http:
        response = await http.post("/_poise/api/stats")
        head = await http.head("/_poise/api/stats")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert head.status_code == 200
    assert head.content == b""


@pytest.mark.parametrize(
    ("path", "root_path"),
    [
        pytest.param("/_poise/api/stats", "", id="no root path"),
        pytest.param("/_poise/api/stats", "/api", id="root path not in path"),
        pytest.param("/api/_poise/api/stats", "/api", id="root path in path (uvicorn)"),
    ],
)
@pytest.mark.anyio
async def test_admin_api_behind_a_root_path(path: str, root_path: str) -> None:
    app, _ = build_app()
    transport = httpx.ASGITransport(app=app, root_path=root_path)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers=ADMIN_HEADERS
    ) as http:
        response = await http.get(path)
    assert response.status_code == 200
    assert "routes" in response.json()


@pytest.mark.anyio
async def test_other_paths_under_the_root_path_reach_the_app() -> None:
    app, poise = build_app()
    transport = httpx.ASGITransport(app=app, root_path="/api")
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        assert (await http.get("/api/items/3")).json() == {"item_id": 3}
        assert (await http.get("/elsewhere/_poise/api/stats")).status_code == 404
    assert set(poise.stats()["routes"]) == {"GET /items/{item_id}", "GET <unmatched>"}
