"""The loop monitor in-process: many blocks, Server-Timing, switching it off, cleaning up."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest
from fastapi import FastAPI

from poise import Poise, Settings
from tests.conftest import ADMIN_HEADERS
from tests.lifespan import running


def build(settings: Settings | None = None) -> tuple[FastAPI, Poise]:
    app = FastAPI()

    @app.get("/hot")
    async def hot() -> str:
        time.sleep(0.004)  # noqa: ASYNC251 - the blocker under test
        return "hot"

    @app.get("/calm")
    async def calm() -> str:
        await asyncio.sleep(0)
        return "calm"

    return app, Poise(app, settings)


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test", headers=ADMIN_HEADERS
    )


async def wait_until(predicate: Any) -> None:
    with anyio.fail_after(5):
        # A counter the watchdog thread updates: nothing on the loop to await instead.
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


@pytest.mark.anyio
async def test_a_blocker_hit_a_thousand_times_logs_once_and_stays_bounded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, poise = build(Settings(block_threshold=0.002, incident_ring=20))
    with caplog.at_level(logging.WARNING, logger="poise"):
        async with running(app), client(app) as http:
            for _ in range(1000):
                assert (await http.get("/hot")).status_code == 200
            await wait_until(lambda: poise.incidents.total >= 1000)
            stats = (await http.get("/_poise/api/stats")).json()
    assert stats["loop"]["incidents_total"] == 1000
    assert len(stats["incidents"]) == 20
    assert {incident["route"] for incident in stats["incidents"]} == {"GET /hot"}
    # Only the route's own blocks: at a 2 ms threshold a busy machine can also stall
    # the loop outside any request (logged as such, and not what this test is about).
    blocked_logs = [
        r for r in caplog.records if "event loop was blocked for" in r.getMessage()
        and " by GET /hot" in r.getMessage()
    ]  # fmt: skip
    assert len(blocked_logs) == 1, [r.getMessage() for r in blocked_logs]
    assert __file__ in blocked_logs[0].getMessage()


@pytest.mark.anyio
async def test_server_timing_header_when_asked() -> None:
    app, _ = build(Settings(server_timing=True))
    async with running(app), client(app) as http:
        response = await http.get("/hot")
    parts = dict(
        item.strip().split(";dur=") for item in response.headers["server-timing"].split(",")
    )
    assert set(parts) == {"app", "admission", "on_loop", "stalled", "threadpool"}
    assert float(parts["admission"]) < 1.0  # nobody else was waiting: admitted at once
    assert float(parts["on_loop"]) >= 4.0  # milliseconds: the blocking sleep ran on the loop
    assert float(parts["app"]) >= float(parts["on_loop"])


@pytest.mark.anyio
async def test_no_server_timing_by_default() -> None:
    app, _ = build()
    async with running(app), client(app) as http:
        response = await http.get("/calm")
    assert "server-timing" not in response.headers


@pytest.mark.anyio
async def test_monitor_switched_off() -> None:
    app, poise = build(Settings(loop_monitor=False, block_threshold=0.002))
    async with running(app), client(app) as http:
        await http.get("/hot")
        stats = (await http.get("/_poise/api/stats")).json()
        ledger = (await http.get("/_poise/api/requests")).json()["requests"][0]
    assert poise.monitor is None
    assert (stats["loop"], stats["threadpool"], stats["incidents"]) == (None, None, None)
    assert ledger["on_loop_s"] == 0


@pytest.mark.anyio
async def test_stop_puts_back_what_start_installed() -> None:
    loop = asyncio.get_running_loop()
    before_factory = loop.get_task_factory()
    before_run_sync = anyio.to_thread.run_sync
    app, poise = build()
    async with running(app):
        assert poise.monitor is not None
        assert poise.monitor.running
        assert loop.get_task_factory() is not before_factory
        assert anyio.to_thread.run_sync is not before_run_sync
    assert not poise.monitor.running
    assert loop.get_task_factory() is before_factory
    assert anyio.to_thread.run_sync is before_run_sync
    assert not any(t.name == "poise-watchdog" for t in __import__("threading").enumerate())


@pytest.mark.anyio
async def test_without_a_lifespan_the_monitor_does_not_run() -> None:
    app, _ = build()
    async with client(app) as http:
        await http.get("/calm")
        stats = (await http.get("/_poise/api/stats")).json()
    assert stats["loop"] is None
