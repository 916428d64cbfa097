"""Admission and deadlines against a real uvicorn process (tests/apps/overload.py)."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import ADMIN_HEADERS, Server

pytestmark = [pytest.mark.uvicorn, pytest.mark.anyio]

PINNED = {"POISE_ADMISSION_MIN_LIMIT": "2", "POISE_ADMISSION_MAX_LIMIT": "2"}
POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "database": "postgres"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def get(client: httpx.AsyncClient, path: str, **kwargs: Any) -> httpx.Response:
    return await client.get(path, **kwargs)


async def test_over_the_limit_is_shed_with_retry_after_without_entering(
    serve: Callable[..., Server],
) -> None:
    # Held at most 0.1 s (the default holds a closed-loop crowd up to 10 s: below).
    env = {**PINNED, "POISE_ADMISSION_MAX_WAIT": "0.1", "POISE_DEBUG_HEADERS": "1"}
    server = serve("overload:app", env=env)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        busy = [asyncio.create_task(get(client, "/slow", params={"seconds": 1})) for _ in range(2)]
        await asyncio.sleep(0.3)  # both admitted and sleeping: the limit (2) is reached
        extra = [asyncio.create_task(get(client, "/slow")) for _ in range(3)]
        # poise's own endpoints bypass admission: stats answer during the overload.
        stats = (await client.get("/_poise/api/stats", headers=ADMIN_HEADERS)).json()
        assert stats["admission"]["limit"] == 2
        assert stats["admission"]["in_flight"] == 2
        shed = await asyncio.gather(*extra)
        done = await asyncio.gather(*busy)
        entered = (await client.get("/entered")).json()
        stats = (await client.get("/_poise/api/stats", headers=ADMIN_HEADERS)).json()

    assert [r.status_code for r in done] == [200, 200]
    assert [r.status_code for r in shed] == [503, 503, 503]
    for response in shed:
        assert response.headers["content-type"] == "application/problem+json"
        assert int(response.headers["retry-after"]) >= 1
        assert response.headers["poise-shed-reason"] == "queue_timeout"
        assert response.json()["status"] == 503
        assert "no slot freed up" in response.json()["detail"]
    assert entered == {"slow": 2}  # the shed requests never reached the handler
    assert stats["admission"]["shed_total"] == 3
    assert stats["admission"]["shed_reasons"] == {"queue_timeout": 3}
    route = stats["routes"]["GET /slow"]
    assert route["shed"] == 3
    assert route["outcomes"] == {"ok": 2, "shed": 3}
    assert route["statuses"] == {"2xx": 2, "503_shed": 3}
    assert route["shed_reasons"] == {"queue_timeout": 3}
    assert (route["count"], route["served"]) == (5, 2)
    assert route["p50_s"] >= 0.9  # the served 1 s requests, not the refusals


async def test_a_crowd_over_the_limit_is_held_and_served_not_shed(
    serve: Callable[..., Server],
) -> None:
    """The default: requests over the limit wait in the queue (first come, first
    served) and are all served; none is shed, and none has a debug header."""
    server = serve("overload:app", env=PINNED)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        busy = [
            asyncio.create_task(get(client, "/slow", params={"seconds": 0.5})) for _ in range(2)
        ]
        await asyncio.sleep(0.2)
        extra = [
            asyncio.create_task(get(client, "/slow", params={"seconds": 0.1})) for _ in range(3)
        ]
        await asyncio.sleep(0.1)
        during = (await client.get("/_poise/api/stats", headers=ADMIN_HEADERS)).json()["admission"]
        responses = await asyncio.gather(*busy, *extra)
        stats = (await client.get("/_poise/api/stats", headers=ADMIN_HEADERS)).json()
        ledgers = (
            await client.get("/_poise/api/requests", params={"limit": 10}, headers=ADMIN_HEADERS)
        ).json()

    assert (during["queued"], during["queue_mode"]) == (3, "hold")
    assert [r.status_code for r in responses] == [200] * 5
    assert all("poise-shed-reason" not in r.headers for r in responses)
    assert stats["admission"]["shed_total"] == 0
    waits = sorted(
        item["admission_wait_s"] for item in ledgers["requests"] if item["route"] == "/slow"
    )
    assert len(waits) == 5
    assert all(wait < 0.01 for wait in waits[:2])  # admitted at once
    assert all(wait >= 0.15 for wait in waits[2:])  # waited for the first two to finish


@pytest.mark.parametrize(
    ("sheddable_path", "critical_path", "env", "entered_as"),
    [
        pytest.param("/sheddable", "/critical", {}, "critical", id="route-options"),
        pytest.param(
            "/reports/daily", "/admin/ping",
            {"POISE_ADMISSION_PRIORITIES": "/reports/*=sheddable,/admin/*=critical"},
            "admin", id="path-patterns",
        ),
    ],
)  # fmt: skip
async def test_critical_is_admitted_while_sheddable_is_shed(
    serve: Callable[..., Server],
    sheddable_path: str,
    critical_path: str,
    env: dict[str, str],
    entered_as: str,
) -> None:
    server = serve("overload:app", env=PINNED | env)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        busy = [asyncio.create_task(get(client, "/slow", params={"seconds": 0.6}))
                for _ in range(2)]  # fmt: skip
        await asyncio.sleep(0.3)
        sheddable = [asyncio.create_task(get(client, sheddable_path)) for _ in range(3)]
        await asyncio.sleep(0.05)
        critical = await get(client, critical_path)
        results = await asyncio.gather(*sheddable, *busy)
        entered = (await client.get("/entered")).json()

    assert critical.status_code == 200
    assert [r.status_code for r in results[:3]] == [503, 503, 503]
    assert entered == {"slow": 2, entered_as: 1}


async def test_a_sync_route_past_its_deadline_gets_504_and_its_thread_is_counted(
    serve: Callable[..., Server],
) -> None:
    """Regression: a sync route's thread cannot be cancelled, and nothing checkpoints
    after it returns, so its late answer used to go out as a 200."""
    server = serve("overload:app")
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        quick = await client.get("/sync-slow", params={"seconds": 0})
        started = time.perf_counter()
        late = await client.get("/sync-slow", params={"seconds": 0.6})
        elapsed = time.perf_counter() - started
        stats = (await client.get("/_poise/api/stats", headers=ADMIN_HEADERS)).json()
    assert quick.status_code == 200
    # poise.remaining() works in the thread pool too (the request's context is copied).
    assert 0.1 < quick.json()["remaining_at_start"] <= 0.2
    assert late.status_code == 504, late.text
    assert late.headers["content-type"] == "application/problem+json"
    assert 0.55 < elapsed < 2.0  # the thread ran to its end: it cannot be interrupted
    assert stats["routes"]["GET /sync-slow"]["deadline"] == 1
    assert stats["routes"]["GET /sync-slow"]["outcomes"] == {"ok": 1, "deadline": 1}
    assert stats["admission"]["deadline_total"] == 1
    assert stats["admission"]["orphaned_thread_work_total"] == 1


async def test_deadline_cancels_a_postgres_query_and_frees_the_pool(
    serve: Callable[..., Server],
) -> None:
    try:
        watcher = await asyncpg.connect(**POSTGRES, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("POISE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"PostgreSQL is unreachable: {exc!r}")
        pytest.skip(f"PostgreSQL is unreachable: {exc!r}")
    url = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    server = serve("overload:app", env={"DATABASE_URL": url})
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
            assert (await client.get("/pg-quick")).json() == {"value": 1}  # pool warmed
            started = time.perf_counter()
            response = await client.get("/pg-sleep")
            elapsed = time.perf_counter() - started
            assert response.status_code == 504, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert elapsed < 0.35, elapsed
            assert (await client.get("/pool")).json() == {"checked_out": 0}

            running = -1
            until = time.monotonic() + 1.0
            while time.monotonic() < until:
                running = await watcher.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                    "AND query LIKE 'SELECT pg_sleep(5)%'"
                )
                if running == 0:
                    break
                await asyncio.sleep(0.05)
            assert running == 0, "the cancelled query is still running on the server"

            started = time.perf_counter()
            quick = await client.get("/pg-quick")  # the same pool of one, right away
            assert quick.json() == {"value": 1}
            assert time.perf_counter() - started < 1.0
            stats = (await client.get("/_poise/api/stats", headers=ADMIN_HEADERS)).json()
    finally:
        await watcher.close()
    assert stats["admission"]["deadline_total"] == 1
    assert stats["routes"]["GET /pg-sleep"]["deadline"] == 1


@pytest.fixture
def hanging_server() -> Iterator[tuple[str, threading.Event]]:
    """A TCP server that accepts and reads, never answers; the event is set when the
    client closes its connection (the outbound call was aborted)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(10)
    closed = threading.Event()

    def serve_one() -> None:
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        connection.settimeout(10)
        with connection:
            try:
                while connection.recv(4096):
                    pass
                closed.set()  # EOF: the client closed it
            except OSError:
                closed.set()

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    host, port = listener.getsockname()
    try:
        yield f"http://{host}:{port}/never", closed
    finally:
        listener.close()
        thread.join(15)


async def test_deadline_aborts_a_hanging_outbound_call(
    serve: Callable[..., Server], hanging_server: tuple[str, threading.Event]
) -> None:
    url, closed = hanging_server
    server = serve("overload:app", env={"HANG_URL": url})
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        started = time.perf_counter()
        response = await client.get("/hang")
        elapsed = time.perf_counter() - started
    assert response.status_code == 504
    assert elapsed < 1.0
    assert closed.wait(2), "the outbound connection was not closed at the deadline"


async def test_deadline_header_bad_values_are_ignored_and_counted(
    serve: Callable[..., Server],
) -> None:
    server = serve("overload:app", env={"POISE_DEADLINE_HEADER": "X-Request-Deadline"})
    # Header names are case-insensitive; the caller below sends it lower-cased.
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        for bad in ("abc", "-1", "nan"):
            response = await client.get("/slow", params={"seconds": 0.05},
                                        headers={"x-request-deadline": bad})  # fmt: skip
            assert response.status_code == 200, bad
        for bad in ("1_0", "inf", "1e3"):  # float() takes these; a deadline header does not
            response = await client.get("/budget", headers={"x-request-deadline": bad})
            assert response.json() == {"remaining": None}, bad
        budget = (await client.get("/budget", headers={"x-request-deadline": "0.8"})).json()
        capped = (await client.get("/budget-capped", headers={"x-request-deadline": "5"})).json()
        short = await client.get("/slow", params={"seconds": 1},
                                 headers={"x-request-deadline": "0.1"})  # fmt: skip
        expired = await client.get("/slow", headers={"x-request-deadline": "0"})
        none = (await client.get("/budget")).json()
        stats = (await client.get("/_poise/api/stats", headers=ADMIN_HEADERS)).json()
        entered = (await client.get("/entered")).json()
    assert stats["admission"]["deadline_header_ignored_total"] == 6
    assert 0.5 < budget["remaining"] <= 0.8 + 1e-9
    assert 0.3 < capped["remaining"] <= 0.5 + 1e-9  # the route's deadline caps the caller's
    assert none == {"remaining": None}
    assert short.status_code == 504
    assert expired.status_code == 504
    assert expired.json()["detail"] == "the request's deadline passed before it could start"
    assert entered["slow"] == 4  # 3 with ignored headers, 1 cancelled; not the expired one


async def test_deadline_after_the_response_started_closes_the_connection(
    serve: Callable[..., Server],
) -> None:
    server = serve("overload:app")
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        started = time.perf_counter()
        async with client.stream("GET", "/stream") as response:
            assert response.status_code == 200
            with pytest.raises(httpx.RemoteProtocolError):  # closed mid-body
                await response.aread()
        assert time.perf_counter() - started < 2.0
        stats = (await client.get("/_poise/api/stats", headers=ADMIN_HEADERS)).json()
    assert stats["routes"]["GET /stream"]["deadline"] == 1
