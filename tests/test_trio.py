"""poise on trio (anyio's other backend): what needs asyncio is off, said once; the
ledger, statistics, deadlines, probes and the admin API work."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI

import poise
from poise import Poise, Settings
from poise.health import Observation
from tests.conftest import ADMIN_HEADERS
from tests.lifespan import running

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "trio"


def build() -> tuple[FastAPI, Poise]:
    app = FastAPI()

    @app.get("/work")
    async def work() -> dict[str, str]:
        await anyio.sleep(0.01)
        return {"status": "ok"}

    @app.get("/slow")
    @poise.route(deadline=0.05)
    async def slow() -> dict[str, str]:
        await anyio.sleep(1)
        return {"status": "late"}

    installed = Poise(app)

    @installed.health.check("db")
    async def db() -> Observation:  # needs asyncio to run: reported, never run
        return Observation("responseTime", 1.0, "ms")

    return app, installed


def client(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://test", headers=ADMIN_HEADERS)


async def test_an_app_with_poise_serves_on_trio(caplog: pytest.LogCaptureFixture) -> None:
    app, installed = build()
    async with running(app), client(app) as http:
        work = await http.get("/work")
        slow = await http.get("/slow")
        ready = await http.get("/readyz")
        stats = (await http.get("/_poise/api/stats")).json()
    assert work.json() == {"status": "ok"}
    assert slow.status_code == 504  # the deadline: an anyio cancel scope, on trio too
    assert ready.status_code == 200  # readiness follows the lifespan
    assert stats["routes"]["GET /work"]["count"] == 1
    assert stats["routes"]["GET /slow"]["deadline"] == 1
    assert stats["loop"] is None or stats["loop"]["running"] is False
    assert installed.health.state == "draining"  # the shutdown ran
    assert caplog.text.count("not an asyncio event loop") == 1


async def test_admission_holds_a_crowd_on_trio() -> None:
    """Admission works on trio from latency alone: its queue is anyio's events there."""
    app = FastAPI()
    in_flight: list[int] = []
    now = [0]

    @app.get("/work")
    async def work() -> dict[str, str]:
        now[0] += 1
        in_flight.append(now[0])
        await anyio.sleep(0.02)
        now[0] -= 1
        return {"status": "ok"}

    installed = Poise(app, Settings(admission_min_limit=1, admission_max_limit=2))
    statuses: list[int] = []

    async def call(http: httpx.AsyncClient) -> None:
        statuses.append((await http.get("/work")).status_code)

    async with running(app), client(app) as http:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tasks:
                for _ in range(30):
                    tasks.start_soon(call, http)
    assert statuses == [200] * 30  # a closed crowd is held, not shed
    assert max(in_flight) <= 2  # the limit held on trio
    assert installed.admission.observe is False
    assert installed.admission.shed_total == 0
