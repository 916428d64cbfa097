"""The health endpoints in-process: format, methods, paths, who sees the detail, and
that they stay outside the app, its statistics and admission."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from poise import Poise, Settings, SettingsError
from poise.health import Observation
from tests.conftest import ADMIN_HEADERS, free_port
from tests.lifespan import running

pytestmark = pytest.mark.anyio

TOKEN = "t0ken-for-the-health-tests"


def build(settings: Settings | None = None) -> tuple[FastAPI, Poise]:
    app = FastAPI()

    @app.get("/healthy")
    async def healthy() -> dict[str, bool]:
        return {"app": True}

    return app, Poise(app, settings)


def client(app: Any, host: str = "127.0.0.1", *, admin: bool = True) -> httpx.AsyncClient:
    """A client, with the tests' admin token unless ``admin`` is false."""
    transport = httpx.ASGITransport(app=app, client=(host, 40000))
    headers = ADMIN_HEADERS if admin else {}
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers)


async def test_probe_bodies_and_headers() -> None:
    app, poise = build()

    @poise.health.check("db")
    async def db() -> Observation:
        return Observation("responseTime", 1.25, "ms")

    async with client(app) as c:
        before = await c.get("/readyz")
        assert (before.status_code, before.json()) == (503, {"status": "fail",
                                                             "notes": ["starting"]})  # fmt: skip
        assert (await c.get("/startupz")).status_code == 503
        async with running(app):
            for _ in range(100):  # the first run of the check, started with the app
                if (await c.get("/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.02)
            for path, expected in (("/livez", {"status": "pass"}),
                                   ("/readyz", {"status": "pass", "notes": ["ready"]}),
                                   ("/startupz", {"status": "pass"})):  # fmt: skip
                response = await c.get(path)
                assert (response.status_code, response.json()) == (200, expected), path
                assert response.headers["content-type"] == "application/health+json"
                assert response.headers["cache-control"] == "no-store"
            health = (await c.get("/healthz")).json()
            head = await c.head("/healthz")
        stats = (await c.get("/_poise/api/stats")).json()
    assert health["status"] == "pass"
    assert health["checks"]["db:responseTime"][0]["observedValue"] == 1.25
    assert health["checks"]["db:responseTime"][0]["observedUnit"] == "ms"
    assert health["checks"]["db:responseTime"][0]["time"].endswith("Z")
    assert set(health["checks"]) == {"db:responseTime", "eventloop:lag", "admission:shed"}
    assert (head.status_code, head.content) == (200, b"")
    # Probes are not the app's traffic: not in the per-route statistics.
    assert stats["routes"] == {}
    assert stats["health"]["checks"]["db"]["runs"] >= 1
    assert stats["health"]["state"] == "draining"  # the lifespan shutdown has run


@pytest.mark.parametrize(
    ("host", "headers"),
    [
        ("127.0.0.1", {}),
        ("::1", {}),
        ("10.1.2.3", {}),
        ("127.0.0.1", {"x-forwarded-for": "203.0.113.9"}),
    ],
)
async def test_healthz_detail_never_for_the_peer_address_alone(
    monkeypatch: pytest.MonkeyPatch, host: str, headers: dict[str, str]
) -> None:
    """On the app's port a same-host proxy looks like loopback: only the token (or the
    admin port, tests/observe/test_admin_access.py) shows the detail."""
    monkeypatch.delenv("POISE_ADMIN_TOKEN")
    app, _ = build()
    async with running(app), client(app, host, admin=False) as c:
        body = (await c.get("/healthz", headers=headers)).json()
    assert body == {"status": "pass"}


async def test_healthz_detail_with_the_admin_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POISE_ADMIN_TOKEN")
    app, _ = build(Settings(admin_token=TOKEN))
    async with running(app), client(app, "10.1.2.3", admin=False) as c:
        plain = (await c.get("/healthz")).json()
        full = (await c.get("/healthz", headers={"authorization": f"bearer {TOKEN}"})).json()
    assert plain == {"status": "pass"}
    assert "checks" in full


async def test_only_get_and_head() -> None:
    app, _ = build()
    async with client(app) as c:
        response = await c.post("/livez")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


async def test_paths_are_configurable_and_can_be_switched_off() -> None:
    app, _ = build(Settings(livez_path="/ops/live", healthz_path=None))
    async with running(app), client(app) as c:
        assert (await c.get("/ops/live")).json() == {"status": "pass"}
        assert (await c.get("/livez")).status_code == 404  # now the app's (it has none)
        assert (await c.get("/healthz")).status_code == 404
        assert (await c.get("/healthy")).json() == {"app": True}


def test_health_paths_must_differ() -> None:
    with pytest.raises(SettingsError, match="distinct paths"):
        Settings(readyz_path="/livez")


@pytest.mark.parametrize(
    ("name", "value"),
    [("POISE_PROBE_PORT", "70000"), ("POISE_READY_MAX_SHED", "1.5"), ("POISE_LIVEZ_PATH", "x")],
)
def test_bad_health_settings_from_the_environment(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


async def test_probe_port_busy_keeps_the_app_serving(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app, poise = build(Settings(probe_port=port, probe_host="127.0.0.1"))
        with caplog.at_level(logging.WARNING, logger="poise"):
            async with running(app), client(app) as c:
                assert (await c.get("/livez")).status_code == 200
                assert poise.probe_server is None
    assert f"probe port 127.0.0.1:{port} not available" in caplog.text


async def test_probe_port_serves_the_probes_only() -> None:
    port = free_port()
    app, poise = build(Settings(probe_port=port, probe_host="127.0.0.1"))
    async with running(app):
        assert poise.probe_server is not None
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
            live = await c.get("/livez")
            ready = await c.get("/readyz?verbose=1")
            head = await c.head("/startupz")
            other = await c.get("/healthz")
            posted = await c.post("/readyz")
            deleted = await c.delete("/livez")
    assert (posted.status_code, posted.headers["allow"]) == (405, "GET, HEAD")  # not 501
    assert deleted.status_code == 405
    assert (live.status_code, live.json()) == (200, {"status": "pass"})
    assert live.headers["content-type"] == "application/health+json"
    assert live.headers["cache-control"] == "no-store"
    assert live.headers["server"] == "poise-probe"  # no Python version to fingerprint
    assert (ready.status_code, ready.json()["notes"]) == (200, ["ready"])
    assert (head.status_code, head.content) == (200, b"")
    assert other.status_code == 404
    async with httpx.AsyncClient() as c:
        with pytest.raises(httpx.ConnectError):  # closed with the app
            await c.get(f"http://127.0.0.1:{port}/livez", timeout=1)


async def test_responses_while_draining_close_the_connection() -> None:
    app, poise = build()
    async with running(app), client(app) as c:
        before = await c.get("/healthy")
        poise.health.begin_drain()
        during = await c.get("/healthy")
        ready = await c.get("/readyz")
    assert "connection" not in before.headers
    assert during.headers["connection"] == "close"
    assert during.json() == {"app": True}  # still served
    assert (ready.status_code, ready.json()["notes"]) == (503, ["draining"])


async def test_probe_port_closes_a_trickling_connection() -> None:
    port = free_port()
    app, _ = build(Settings(probe_port=port, probe_host="127.0.0.1"))
    async with running(app):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        loop = asyncio.get_running_loop()
        opened = loop.time()
        writer.write(b"GET /livez HTTP/1.1\r\n")
        for _ in range(6):  # a header byte every 0.3 s: each read is on time
            await asyncio.sleep(0.3)
            try:
                writer.write(b"X")
                await writer.drain()
            except OSError:
                break
        try:
            data = await reader.read(-1)
        except OSError:
            data = b""
        closed = loop.time() - opened
        writer.close()
    assert not data.startswith(b"HTTP/1.0 200")  # cut off, not served
    assert closed < 1.8  # the 1 s deadline, not the 6 x 0.3 s the client wanted


def test_an_app_served_twice_is_ready_twice() -> None:
    """Each TestClient block is a new event loop: checks and readiness start afresh."""
    from starlette.testclient import TestClient

    app, poise = build()
    runs = []

    @poise.health.check("db", ttl=3600)
    async def db() -> None:
        runs.append(asyncio.get_running_loop())

    for _ in range(2):
        with TestClient(app) as test_client:
            for _ in range(100):
                if test_client.get("/readyz").status_code == 200:
                    break
                time.sleep(0.02)
            assert test_client.get("/readyz").json() == {"status": "pass", "notes": ["ready"]}
    assert len(runs) == 2  # once per life, each on its own loop
    assert runs[0] is not runs[1]


async def test_an_app_route_at_a_probe_path_wins(caplog: pytest.LogCaptureFixture) -> None:
    """poise used to take an app's own /healthz over without a word (bare: 200 with the
    app's body; poise: 503 health+json). The app's route wins; poise's moves under
    admin_prefix, and start-up says so, naming both."""
    app = FastAPI()

    @app.get("/healthz")
    async def own_health() -> dict[str, str]:
        return {"mine": "yes"}

    @app.get("/{page}")
    async def catch_all(page: str) -> dict[str, str]:  # a parameter: not an exact path
        return {"page": page}

    Poise(app)
    async with running(app), client(app) as c:
        own = await c.get("/healthz")
        moved = await c.get("/_poise/healthz")
        ready = await c.get("/readyz")
    assert own.json() == {"mine": "yes"}
    assert moved.headers["content-type"] == "application/health+json"
    assert "checks" in moved.json()  # the tests' admin token
    assert ready.headers["content-type"] == "application/health+json"  # still poise's
    assert (
        "poise: the app has its own route at /healthz; poise serves its /healthz endpoint "
        "at /_poise/healthz instead"
    ) in caplog.text
    assert caplog.text.count("has its own route") == 1
