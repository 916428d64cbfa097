"""Blocks, stalls, lag and the thread pool, against real uvicorn processes on both loops."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import APPS_DIR, Server

pytestmark = [pytest.mark.uvicorn]

LOOPS = [pytest.param("asyncio", id="asyncio"), pytest.param("uvloop", id="uvloop")]


def marker_line(path: Path, marker: str) -> int:
    """The line of ``path`` carrying ``# BLOCK: marker``."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.rstrip().endswith(f"# BLOCK: {marker}"):
            return number
    raise AssertionError(f"no marker {marker} in {path}")


def stats(server: Server) -> dict[str, Any]:
    response = httpx.get(f"{server.admin_url}/_poise/api/stats")
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def ledgers_of(server: Server, route: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{server.admin_url}/_poise/api/requests", params={"limit": 1000})
    return [item for item in response.json()["requests"] if item["route"] == route]


def wait_for_incidents(server: Server, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        incidents: list[dict[str, Any]] = stats(server)["incidents"]
        if len(incidents) >= count or time.monotonic() > deadline:
            return incidents
        time.sleep(0.05)


def innermost_user_frame(incident: dict[str, Any]) -> dict[str, Any]:
    user = [frame for frame in incident["stack"] if not frame["library"]]
    assert user, incident
    frame: dict[str, Any] = user[-1]
    return frame


async def victim_then_culprit(base_url: str, victim: str, culprit: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        # Two warm keep-alive connections, so that the two requests below reach the
        # server well within the victim's 10 ms await.
        await asyncio.gather(client.get("/fast"), client.get("/fast"))
        first = asyncio.create_task(client.get(victim))
        await asyncio.sleep(0.002)
        second = asyncio.create_task(client.get(culprit))
        for response in await asyncio.gather(first, second):
            assert response.status_code == 200


@pytest.fixture(params=LOOPS)
def loopy(request: pytest.FixtureRequest, serve: Callable[..., Server]) -> Server:
    return serve("loopy:app", args=("--loop", request.param))


def test_block_names_culprit_stack_and_victims(loopy: Server) -> None:
    asyncio.run(victim_then_culprit(loopy.base_url, "/b", "/a"))
    [incident] = wait_for_incidents(loopy, 1)
    assert 0.25 <= incident["duration_s"] <= 0.45
    assert incident["route"] == "GET /a"
    assert incident["stalled_requests"] >= 1
    frame = innermost_user_frame(incident)
    assert frame["file"] == str(APPS_DIR / "loopy.py")
    assert frame["line"] == marker_line(APPS_DIR / "loopy.py", "loopy.a")
    assert frame["function"] == "a"

    [victim] = ledgers_of(loopy, "/b")
    assert victim["stalled_s"] >= 0.2
    assert list(victim["stalled_by"]) == ["GET /a"]
    assert victim["stalled_by"]["GET /a"] == pytest.approx(victim["stalled_s"])
    [culprit] = ledgers_of(loopy, "/a")
    assert culprit["on_loop_s"] >= 0.25
    assert culprit["stalled_s"] == 0

    loop = stats(loopy)["loop"]
    assert loop["incidents_total"] == 1
    assert loop["blocked_s_total"] == pytest.approx(incident["duration_s"], abs=1e-5)
    assert loop["lag_max_s"] >= 0.2
    routes = stats(loopy)["routes"]
    assert routes["GET /a"]["on_loop_s"] >= 0.25
    assert routes["GET /b"]["stalled_s"] >= 0.2


@pytest.mark.parametrize("route", ["/deep", "/gathered"])
def test_block_two_calls_deep_or_in_a_spawned_task(loopy: Server, route: str) -> None:
    asyncio.run(victim_then_culprit(loopy.base_url, "/b", route))
    [incident] = wait_for_incidents(loopy, 1)
    assert incident["route"] == f"GET {route}"
    assert 0.25 <= incident["duration_s"] <= 0.45
    frame = innermost_user_frame(incident)
    assert frame["file"] == str(APPS_DIR / "blockers.py")
    assert frame["line"] == marker_line(APPS_DIR / "blockers.py", "blockers.inner")
    functions = [f["function"] for f in incident["stack"]]
    assert functions[-2:] == ["outer", "inner"]
    [victim] = ledgers_of(loopy, "/b")
    assert list(victim["stalled_by"]) == [f"GET {route}"]
    [culprit] = ledgers_of(loopy, route)
    # The spawned task's steps are the request's own time on the loop.
    assert culprit["on_loop_s"] >= 0.25


def test_block_outside_any_request_has_no_route(loopy: Server) -> None:
    assert httpx.get(f"{loopy.base_url}/later").status_code == 200
    [incident] = wait_for_incidents(loopy, 1)
    assert incident["route"] is None
    # Timed by the heartbeat's lateness: up to one beat interval (0.1 s) short.
    assert 0.15 <= incident["duration_s"] <= 0.45
    frame = innermost_user_frame(incident)
    assert frame["file"] == str(APPS_DIR / "blockers.py")
    assert frame["line"] == marker_line(APPS_DIR / "blockers.py", "blockers.sleepy_callback")


def test_clean_burst_has_no_incidents(loopy: Server) -> None:
    async def burst() -> None:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(base_url=loopy.base_url, limits=limits, timeout=30) as client:
            gate = asyncio.Semaphore(50)

            async def one(i: int) -> int:
                async with gate:
                    path = "/b" if i % 5 == 0 else "/fast"
                    return (await client.get(path)).status_code

            statuses = await asyncio.gather(*(one(i) for i in range(500)))
            assert set(statuses) == {200}

    asyncio.run(burst())
    time.sleep(0.2)
    result = stats(loopy)
    assert result["incidents"] == []
    assert result["loop"]["incidents_total"] == 0
    assert result["routes"]["GET /fast"]["count"] == 400
    assert result["loop"]["lag_p50_s"] is not None


@pytest.mark.parametrize("loop_name", ["asyncio", "uvloop"])
def test_thread_pool_queue_and_run(serve: Callable[..., Server], loop_name: str) -> None:
    server = serve("loopy:app", env={"THREAD_TOKENS": "2"}, args=("--loop", loop_name))

    async def six() -> None:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
            responses = await asyncio.gather(*(client.get("/sync") for _ in range(6)))
            assert {r.status_code for r in responses} == {200}

    asyncio.run(six())
    sync = ledgers_of(server, "/sync")
    assert len(sync) == 6
    for ledger in sync:
        assert 0.09 <= ledger["threadpool_run_s"] <= 0.2
        assert ledger["threadpool_jumps"] >= 1
    assert sum(ledger["threadpool_queue_s"] >= 0.09 for ledger in sync) >= 3
    # A sync def route runs in the pool: the loop itself was never blocked.
    assert stats(server)["incidents"] == []
    threadpool = stats(server)["threadpool"]
    assert threadpool == {
        "size": 2, "busy": 0, "waiting": 0, "starved": False,
        "deadlock": False, "starved_total": 0, "starved_after_s": 2.0,
    }  # fmt: skip

    assert httpx.get(f"{server.base_url}/with-dependency").json() == {"value": 7}
    [with_dependency] = ledgers_of(server, "/with-dependency")
    assert with_dependency["threadpool_jumps"] >= 1
