"""Requests that arrive while the loop is blocked wait in the server's buffers, where
poise cannot see them: they are counted as the block's victims once they reach it.

Against real uvicorn processes (both loops) serving tests/apps/buffered.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import Server

pytestmark = [pytest.mark.uvicorn]

LOOPS = [pytest.param("asyncio", id="asyncio"), pytest.param("uvloop", id="uvloop")]
CLIENTS = 3


def stats(server: Server) -> dict[str, Any]:
    response = httpx.get(f"{server.admin_url}/_poise/api/stats")
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def ledgers_of(server: Server, route: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{server.admin_url}/_poise/api/requests", params={"limit": 1000})
    return [item for item in response.json()["requests"] if item["route"] == route]


def eventually(check: Callable[[], Any], within: float, what: str) -> Any:
    """Call ``check()`` until it returns something true; that value."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        time.sleep(0.05)


async def three_behind_a_block(base_url: str) -> list[float]:
    """Each of three keep-alive clients sends a fast request while /block holds the
    loop; how long each took, as the clients saw it."""
    clients = [
        httpx.AsyncClient(base_url=base_url, timeout=10, limits=httpx.Limits(max_connections=1))
        for _ in range(CLIENTS)
    ]
    try:
        for client in clients:  # an established keep-alive connection each
            assert (await client.get("/fast")).status_code == 200
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as culprit_client:
            culprit = asyncio.ensure_future(culprit_client.get("/block"))
            await asyncio.sleep(0.5)  # the loop is inside time.sleep(2.0) by now

            async def timed(client: httpx.AsyncClient) -> float:
                started = time.perf_counter()
                assert (await client.get("/fast")).status_code == 200
                return time.perf_counter() - started

            waited = await asyncio.gather(*(timed(client) for client in clients))
            assert (await culprit).status_code == 200
        return list(waited)
    finally:
        for client in clients:
            await client.aclose()


@pytest.mark.parametrize("loop", LOOPS)
def test_requests_buffered_behind_a_block_are_its_victims(
    serve: Callable[..., Server], loop: str
) -> None:
    """Regression: requests read from the server's buffers right after a block get the
    block's length as ``queued_behind_block_s`` and count in its ``victims``."""
    server = serve("buffered:app", args=("--loop", loop))
    waited = asyncio.run(three_behind_a_block(server.base_url))
    # As the clients saw it: they waited for the rest of the block (about 1.5 s).
    assert all(1.2 <= w <= 3.0 for w in waited), waited

    [incident] = eventually(lambda: stats(server)["incidents"], 5, "the block's incident")
    assert incident["kind"] == "block"
    assert incident["route"] == "GET /block"
    assert 1.9 <= incident["duration_s"] <= 2.5
    assert incident["queued_requests"] == CLIENTS
    assert incident["victims"] >= CLIENTS
    assert incident["victims"] == incident["stalled_requests"] + incident["queued_requests"]

    fast = ledgers_of(server, "/fast")
    assert len(fast) == 2 * CLIENTS
    victims = [ledger for ledger in fast if ledger["queued_behind_block_s"]]
    assert len(victims) == CLIENTS, fast
    for ledger in victims:
        assert ledger["queued_behind_block_s"] >= 1.5
        assert ledger["queued_behind_block_s"] == pytest.approx(incident["duration_s"], abs=1e-3)
        # What poise timed itself is only the time after the block: the estimate is
        # what tells those requests waited.
        assert ledger["wall_s"] < 0.5
        assert ledger["status"] == 200
