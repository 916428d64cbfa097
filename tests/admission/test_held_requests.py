"""Requests that stay in the app without being load (server-sent events, slow uploads,
handlers that never return) must not take admission's slots from short requests.

Against real uvicorn processes serving tests/apps/held.py, with poise and bare: the
short route's goodput, with those requests held open, is measured on both.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_HEADERS, Server

pytestmark = [pytest.mark.uvicorn]

#: Closed-loop clients of the short route: as many as the limit's floor (4), so that a
#: single held request counted as load would make them queue.
CLIENTS = 4
MEASURE_S = 2.0
#: The measurement alternates between the servers in this many windows each.
WINDOWS = 8
#: Poise's short goodput must be at least this share of the bare app's. A generous
#: wall-clock bound (two servers, the load and the held clients share 2 cores: 0.78 to
#: 1.14 measured); before the fix it was about 0 (every short request shed). The sharp
#: checks are that no short request waited for a slot and none was shed.
GOODPUT_RATIO = 0.5
STREAMS_FEW = 4
STREAMS_MANY = 50
UPLOADS = 4
FOREVER = 4
#: Each slow upload sends UPLOAD_CHUNKS chunks UPLOAD_GAP_S apart: well past admission's
#: SLOW_BODY (10 ms) between chunks, and done well within hung_after (1 s).
UPLOAD_CHUNKS = 5
UPLOAD_GAP_S = 0.1
#: Enough ledgers kept for every short request of the test.
RING = 10_000
POISED = {
    "POISE_HUNG_AFTER": "1s",
    "POISE_RECENT_REQUESTS": str(RING),
    # Readiness judges over ready_hold; the default (2 s) would hide a short dip.
    "POISE_READY_HOLD": "0",
}
# The never-returning handlers would keep uvicorn's graceful shutdown waiting.
SERVER_ARGS = ("--timeout-graceful-shutdown", "1")


async def eventually(predicate: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.02)


async def goodput(client: httpx.AsyncClient, seconds: float) -> tuple[float, Counter[int]]:
    """Short requests answered 200 per second by ``CLIENTS`` closed-loop clients."""
    statuses: Counter[int] = Counter()
    end = time.perf_counter() + seconds

    async def closed_loop() -> None:
        while time.perf_counter() < end:
            statuses[(await client.get("/short")).status_code] += 1

    started = time.perf_counter()
    await asyncio.gather(*(closed_loop() for _ in range(CLIENTS)))
    return statuses[200] / (time.perf_counter() - started), statuses


@dataclass
class Held:
    """The requests held open against one server, and what they saw."""

    client: httpx.AsyncClient
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    streaming: int = 0
    uploads_done: int = 0
    upload_statuses: Counter[int] = field(default_factory=Counter)

    def spawn(self, work: Awaitable[None]) -> None:
        self.tasks.append(asyncio.ensure_future(work))

    async def stream(self) -> None:
        async with self.client.stream("GET", "/events") as response:
            assert response.status_code == 200
            first = True
            async for line in response.aiter_lines():
                if first and line.startswith("data:"):
                    first = False
                    self.streaming += 1

    async def slow_uploads(self) -> None:
        async def body() -> AsyncIterator[bytes]:
            for _ in range(UPLOAD_CHUNKS):
                yield b"x" * 1024
                await asyncio.sleep(UPLOAD_GAP_S)

        while True:
            response = await self.client.post("/upload", content=body())
            self.upload_statuses[response.status_code] += 1
            self.uploads_done += 1

    async def forever(self) -> None:
        await self.client.get("/forever")


@asynccontextmanager
async def holding(base_url: str) -> AsyncIterator[Held]:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=base_url, timeout=None, limits=limits) as client:
        held = Held(client)
        try:
            yield held
        finally:
            for task in held.tasks:
                task.cancel()
            await asyncio.gather(*held.tasks, return_exceptions=True)


@dataclass
class Side:
    """One server under test, its short-route client and what it saw."""

    server: Server
    poised: bool
    client: httpx.AsyncClient
    answered: dict[str, int] = field(default_factory=lambda: {"few": 0, "many": 0})
    seconds: dict[str, float] = field(default_factory=lambda: {"few": 0.0, "many": 0.0})
    statuses: Counter[int] = field(default_factory=Counter)
    readyz: Counter[int] = field(default_factory=Counter)
    during: dict[str, Any] = field(default_factory=dict)
    short_ledgers: list[dict[str, Any]] = field(default_factory=list)
    uploads_done: int = 0
    upload_statuses: Counter[int] = field(default_factory=Counter)

    def goodput(self, phase: str) -> float:
        return self.answered[phase] / self.seconds[phase]

    async def read_short_ledgers(self) -> None:
        """The short requests' ledgers (the ring keeps every request of the test)."""
        response = await self.client.get(
            "/_poise/api/requests", params={"limit": RING}, headers=ADMIN_HEADERS
        )
        self.short_ledgers = [i for i in response.json()["requests"] if i["route"] == "/short"]


async def measure(sides: tuple[Side, Side], phase: str) -> None:
    """Alternate short windows between the two servers (ABBA...), so that the load of
    anything else on the machine falls on both alike."""
    for window in range(WINDOWS):
        order = sides if window % 2 == 0 else sides[::-1]
        for side in order:
            started = time.perf_counter()
            rate, statuses = await goodput(side.client, MEASURE_S / WINDOWS)
            elapsed = time.perf_counter() - started
            side.answered[phase] += round(rate * elapsed)
            side.seconds[phase] += elapsed
            side.statuses += statuses


async def drive(bare_server: Server, poised_server: Server) -> tuple[Side, Side]:
    limits = httpx.Limits(max_connections=CLIENTS)
    async with (
        httpx.AsyncClient(base_url=bare_server.base_url, timeout=10, limits=limits) as bare_client,
        httpx.AsyncClient(base_url=poised_server.base_url, timeout=10, limits=limits) as client,
    ):
        bare = Side(bare_server, False, bare_client)
        poised = Side(poised_server, True, client)
        sides = (bare, poised)
        for side in sides:
            for _ in range(300):  # sequential: the limit learns a concurrency of 1 (its floor)
                assert (await side.client.get("/short")).status_code == 200
        admission = (await client.get("/_poise/api/stats", headers=ADMIN_HEADERS)).json()[
            "admission"
        ]
        assert admission["warming_up"] is False
        assert admission["limit"] == admission["min_limit"] == CLIENTS

        stop_polling = asyncio.Event()

        async def poll_readyz() -> None:
            async with httpx.AsyncClient(base_url=poised_server.base_url, timeout=10) as probe:
                while not stop_polling.is_set():
                    poised.readyz[(await probe.get("/readyz")).status_code] += 1
                    await asyncio.sleep(0.1)

        poller = asyncio.ensure_future(poll_readyz())
        try:
            async with (
                holding(bare_server.base_url) as held_bare,
                holding(poised_server.base_url) as held_poised,
            ):
                helds = (held_bare, held_poised)
                for held in helds:
                    for _ in range(STREAMS_FEW):
                        held.spawn(held.stream())
                await eventually(
                    lambda: all(h.streaming == STREAMS_FEW for h in helds), 10, "the first streams"
                )
                await measure(sides, "few")

                for held in helds:
                    for _ in range(STREAMS_MANY - STREAMS_FEW):
                        held.spawn(held.stream())
                    for _ in range(UPLOADS):
                        held.spawn(held.slow_uploads())
                    for _ in range(FOREVER):
                        held.spawn(held.forever())
                await eventually(
                    lambda: all(h.streaming == STREAMS_MANY for h in helds), 10, "every stream"
                )
                # Past hung_after (and admission's LONG_MIN), both 1 s.
                await asyncio.sleep(1.3)
                await measure(sides, "many")
                for side, held in zip(sides, helds, strict=True):
                    side.uploads_done = held.uploads_done
                    side.upload_statuses = held.upload_statuses
                poised.during = (
                    await client.get("/_poise/api/stats", headers=ADMIN_HEADERS)
                ).json()
                await poised.read_short_ledgers()
        finally:
            stop_polling.set()
            await poller
    return bare, poised


def test_held_requests_do_not_take_slots_from_short_ones(serve: Callable[..., Server]) -> None:
    """Regression: streams (once started), slow uploads (while waiting for the client)
    and handlers that never return (once long-lived) stop holding admission slots, so
    with the limit at its floor the short route keeps its goodput, nothing is shed,
    and readiness holds; the stats count them as released early and hung."""
    bare, poised = asyncio.run(
        drive(
            serve("held:app", env={"HELD_BARE": "1"}, args=SERVER_ARGS),
            serve("held:app", env=POISED, args=SERVER_ARGS),
        )
    )
    few = poised.goodput("few") / bare.goodput("few")
    many = poised.goodput("many") / bare.goodput("many")
    print(
        f"short goodput, {STREAMS_FEW} streams: bare {bare.goodput('few'):.0f}/s, poise "
        f"{poised.goodput('few'):.0f}/s ({few:.2f}); {STREAMS_MANY} streams, {UPLOADS} "
        f"uploads, {FOREVER} never-returning: bare {bare.goodput('many'):.0f}/s, poise "
        f"{poised.goodput('many'):.0f}/s ({many:.2f})"
    )

    assert set(bare.statuses) == {200}
    assert set(poised.statuses) == {200}, poised.statuses  # not one 503
    assert poised.readyz[200] >= 20
    assert set(poised.readyz) == {200}, poised.readyz
    # Goodput is the clients' own pace as much as the servers' (both share two cores with
    # the test and whatever else runs): measured 0.95 to 1.14 with few held, 0.92 to 1.11
    # with many (0.74 once, with a benchmark running alongside), so the bound is loose;
    # the admission waits below are the sharp check.
    assert few >= GOODPUT_RATIO
    assert many >= GOODPUT_RATIO
    # Not one short request waited for a slot: the held ones did not take any.
    short = poised.short_ledgers
    assert len(short) == 300 + poised.statuses[200]
    # (A few microseconds mean it went through the wait path and got a slot at once.)
    assert [ledger for ledger in short if ledger["admission_wait_s"] >= 0.001] == []

    admission = poised.during["admission"]
    assert admission["shed_total"] == 0
    assert admission["queued"] == 0
    # The streams gave their slots back when their responses started; the handlers that
    # never return were moved out once long-lived, and reported hung after 1 s.
    # (At most the uploads that began since the last sweep still hold one.)
    assert admission["in_flight"] <= UPLOADS
    assert admission["released_early"]["long_lived"] == FOREVER
    assert admission["hung_total"] == FOREVER
    assert [hung["route"] for hung in admission["hung"]] == ["GET /forever"] * FOREVER
    # Uploads waiting for their next chunk stopped holding a slot (slow_body): each is
    # released at the first sweep (every 0.25 s) that finds it waiting over 10 ms. A
    # stream can be counted too: Starlette's StreamingResponse awaits receive() (for the
    # disconnect) before its response starts, and a sweep in between takes that for a
    # slow body (seen once in about ten runs, with the streams opened all at once).
    assert poised.uploads_done >= 10
    slow_body = admission["released_early"]["slow_body"]
    assert 0.75 * poised.uploads_done <= slow_body <= poised.uploads_done + UPLOADS + STREAMS_MANY
    assert FOREVER <= admission["long_lived_in_flight"] <= FOREVER + UPLOADS
    assert set(poised.upload_statuses) == {200}
    assert set(bare.upload_statuses) == {200}
    assert poised.during["health"]["state"] == "ready"
