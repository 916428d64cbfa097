"""The thread pool starved: a deadlock (FastAPI's sync session pattern on a small pool)
fails readiness until it clears; plain saturation is an incident and nothing more.

Against real uvicorn processes serving tests/apps/starving.py with 4 thread tokens and
``threadpool_starved_after`` of 1 s.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import ADMIN_HEADERS, REQUIRE_SERVICES, Server

pytestmark = [pytest.mark.uvicorn]

DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
STARVED = {
    "THREAD_TOKENS": "4",
    "POISE_THREADPOOL_STARVED_AFTER": "1s",
    # Readiness changes at once: a single moment of "deadlock" shows as a 503.
    "POISE_READY_HOLD": "0",
}
# Requests still stuck in the thread pool would keep uvicorn's graceful shutdown waiting.
SERVER_ARGS = ("--timeout-graceful-shutdown", "1")


def require_postgres() -> None:
    try:
        psycopg.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname="test", connect_timeout=5
        ).close()
    except psycopg.OperationalError as exc:
        if REQUIRE_SERVICES:
            pytest.fail(f"PostgreSQL is unreachable: {exc!r} (POISE_REQUIRE_SERVICES=1)")
        pytest.skip(f"PostgreSQL is unreachable: {exc!r}")


async def eventually(
    check: Callable[[], Awaitable[Any]], within: float, what: str, *, every: float = 0.05
) -> Any:
    """Await ``check()`` until it returns something true; that value."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(every)


async def stats(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/_poise/api/stats", headers=ADMIN_HEADERS)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


async def warm_connections(client: httpx.AsyncClient, count: int) -> None:
    """Open ``count`` keep-alive connections, so that a burst arrives all at once."""
    responses = await asyncio.gather(*(client.get("/fast") for _ in range(count)))
    assert {r.status_code for r in responses} == {200}


def starvations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in document["incidents"] if i["kind"] == "threadpool_starved"]


@pytest.mark.postgres
def test_sync_session_deadlock_fails_readiness_until_it_clears(
    serve: Callable[..., Server],
) -> None:
    """Regression: FastAPI's documented sync ``get_db`` dependency on a pool smaller than
    the thread pool deadlocks (every thread waits for a connection; the requests holding
    the connections wait for a thread to validate their response). poise names it a
    deadlock within the threshold, fails /readyz with the reason while it lasts, and is
    ready again once the pool's timeout breaks it."""
    require_postgres()
    env = {**STARVED, "DATABASE_URL": DATABASE_URL, "POOL_SIZE": "2", "POOL_TIMEOUT": "4"}
    server = serve("starving:app", env=env, args=SERVER_ARGS)

    async def scenario() -> None:
        limits = httpx.Limits(max_connections=None)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30, limits=limits) as client:
            assert (await client.get("/items")).json() == {"value": 1}
            assert (await client.get("/readyz")).status_code == 200
            await warm_connections(client, 8)
            started = time.monotonic()
            load = [asyncio.ensure_future(client.get("/items")) for _ in range(8)]

            last: dict[str, Any] = {}

            async def deadlocked() -> dict[str, Any] | None:
                document = last["stats"] = await stats(client)
                found = starvations(document)
                return document if found and found[0]["deadlock"] else None

            try:
                document = await eventually(deadlocked, 5, "a threadpool_starved deadlock")
            except AssertionError as exc:
                done = [t.result().status_code for t in load if t.done()]
                raise AssertionError(
                    f"{exc}; answered {done}; threadpool {last['stats']['threadpool']}; "
                    f"incidents {last['stats']['incidents']}"
                ) from None
            detected = time.monotonic() - started
            # (One of the first requests may have got through before it closed.)
            answered = sum(task.done() for task in load)
            [incident] = starvations(document)
            assert set(incident["routes"]) == {"GET /items"}
            assert incident["threads"] == 4
            assert incident["waiting_max"] >= 1
            assert incident["ongoing"] is True
            assert incident["duration_s"] >= 1.0
            threadpool = document["threadpool"]
            assert threadpool["size"] == threadpool["busy"] == 4
            assert threadpool["starved"] is True
            assert threadpool["deadlock"] is True

            async def unready() -> bool:
                return (await client.get("/readyz")).status_code == 503

            await eventually(unready, 2, "/readyz failing")
            reasons = (await stats(client))["health"]["reasons"]
            assert any(r.startswith("thread pool deadlocked: all 4 threads busy") for r in reasons)
            healthz = (
                await client.get("/healthz", headers=ADMIN_HEADERS)
            ).json()  # in full: the token
            assert "thread pool deadlocked" in healthz["output"]
            assert sum(task.done() for task in load) == answered  # still stuck meanwhile

            statuses = Counter(r.status_code for r in await asyncio.gather(*load))
            cleared = time.monotonic() - started
            # The pool timeout (4 s) failed the requests waiting for a connection; that
            # gave the threads back and the rest finished.
            assert set(statuses) == {200, 500}, statuses
            assert 3.5 <= cleared <= 15

            async def ready() -> bool:
                return (await client.get("/readyz")).status_code == 200

            await eventually(ready, 3, "/readyz passing again")
            document = await stats(client)
            [incident] = starvations(document)
            assert incident["ongoing"] is False
            assert incident["deadlock"] is False
            assert incident["deadlocked_s"] >= 1.0
            assert document["threadpool"]["deadlock"] is False
            assert document["threadpool"]["starved"] is False
            assert document["threadpool"]["starved_total"] == 1
            assert document["health"]["reasons"] == []
            print(f"deadlock seen after {detected:.2f} s, cleared after {cleared:.2f} s")

    asyncio.run(scenario())
    assert "poise: the thread pool has been starved for 1.0 s" in server.output()


@pytest.mark.postgres
def test_the_log_says_deadlock(serve: Callable[..., Server]) -> None:
    """The warning logged for the sync-session deadlock says it is a deadlock, as the
    stats and /readyz do. (It is logged when the incident begins, at most once a minute:
    a job that finished in the first second of the starvation makes that line say
    "jobs are finishing: the pool is saturated, not stuck", and nothing more is logged.)"""
    require_postgres()
    env = {**STARVED, "DATABASE_URL": DATABASE_URL, "POOL_SIZE": "2", "POOL_TIMEOUT": "4"}
    server = serve("starving:app", env=env, args=SERVER_ARGS)

    async def scenario() -> None:
        limits = httpx.Limits(max_connections=None)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30, limits=limits) as client:
            await warm_connections(client, 8)
            load = [asyncio.ensure_future(client.get("/items")) for _ in range(8)]

            async def deadlocked() -> bool:
                found = starvations(await stats(client))
                return bool(found and found[0]["deadlock"])

            await eventually(deadlocked, 5, "a threadpool_starved deadlock")
            await asyncio.sleep(0.3)
            for task in load:
                task.cancel()
            await asyncio.gather(*load, return_exceptions=True)

    asyncio.run(scenario())
    lines = [line for line in server.output().splitlines() if "thread pool has been" in line]
    # Logged when it began (possibly still "saturated": a job had just finished), and
    # again at once when it turned into a deadlock, despite the once-a-minute limit.
    assert 1 <= len(lines) <= 2, lines
    assert "a deadlock" in lines[-1], lines


def test_saturation_is_an_incident_but_not_unready(serve: Callable[..., Server]) -> None:
    """Regression: a thread pool that is merely saturated (every thread busy, jobs
    finishing) is a threadpool_starved incident, never a deadlock: /readyz stays 200."""
    server = serve("starving:app", env=STARVED, args=SERVER_ARGS)

    async def scenario() -> None:
        limits = httpx.Limits(max_connections=None)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30, limits=limits) as client:
            end = time.monotonic() + 2.5
            statuses: Counter[int] = Counter()
            readyz: Counter[int] = Counter()
            seen: list[dict[str, Any]] = []

            async def closed_loop() -> None:
                while time.monotonic() < end:
                    statuses[(await client.get("/nap")).status_code] += 1

            async def watch() -> None:
                while time.monotonic() < end:
                    readyz[(await client.get("/readyz")).status_code] += 1
                    seen.append((await stats(client))["threadpool"])
                    await asyncio.sleep(0.1)

            await asyncio.gather(*(closed_loop() for _ in range(20)), watch())

            # 4 threads x 0.3 s: about 13 naps a second, each waiting its turn.
            assert set(statuses) == {200}, statuses
            assert statuses[200] >= 20
            assert set(readyz) == {200}, readyz
            assert readyz[200] >= 10
            assert any(t["starved"] for t in seen), seen
            assert not any(t["deadlock"] for t in seen), seen
            document = await stats(client)
            found = starvations(document)
            assert found, document["incidents"]
            for incident in found:
                assert incident["deadlock"] is False
                assert incident["deadlocked_s"] == 0
                assert set(incident["routes"]) == {"GET /nap"}
                assert incident["threads"] == 4
            assert document["health"]["state"] == "ready"

    asyncio.run(scenario())


def test_incident_names_the_routes_holding_the_threads(serve: Callable[..., Server]) -> None:
    """``routes`` of a threadpool_starved incident is documented as the threads each
    route held: the 4 sleeping /hold calls, not the /quick calls queued behind them
    (naming the victims first would send the reader after the wrong route)."""
    server = serve("starving:app", env=STARVED, args=SERVER_ARGS)

    async def scenario() -> dict[str, Any]:
        limits = httpx.Limits(max_connections=None)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30, limits=limits) as client:
            holders = [asyncio.ensure_future(client.get("/hold")) for _ in range(4)]

            async def all_held() -> bool:
                return bool((await stats(client))["threadpool"]["busy"] == 4)

            await eventually(all_held, 2, "4 threads held")
            waiting = [asyncio.ensure_future(client.get("/quick")) for _ in range(12)]

            async def incident() -> list[dict[str, Any]]:
                return starvations(await stats(client))

            [found] = await eventually(incident, 3, "a threadpool_starved incident")
            responses = await asyncio.gather(*holders, *waiting)
            assert {r.status_code for r in responses} == {200}
            return dict(found)

    found = asyncio.run(scenario())
    assert found["threads"] == 4
    assert found["waiting_max"] >= 12
    assert found["routes"] == {"GET /hold": 4}
