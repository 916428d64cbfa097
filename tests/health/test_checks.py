"""Checks: timeouts, single flight, TTL, what a check may return, and the built-ins
against real PostgreSQL, Redis and HTTP servers."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
import asyncpg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from poise.health import Check, Observation, http, postgres, redis
from poise.health.checks import MAX_OUTPUT
from tests.conftest import REQUIRE_SERVICES, free_port
from tests.forward import forwarder

pytestmark = pytest.mark.anyio

PG_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
OUT_OF_RANGE = "observed value out of range: more than 1e+15 in magnitude"


async def test_concurrent_callers_share_one_run() -> None:
    runs = 0

    async def slow() -> None:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.1)

    check = Check("slow", slow, ttl=60)
    results = await asyncio.gather(*(check.current() for _ in range(200)))
    assert runs == 1
    assert {r.status for r in results} == {"pass"}
    assert len({id(r) for r in results}) == 1
    await check.current()  # fresh: served from the cache
    assert runs == 1


async def test_an_expired_result_runs_again() -> None:
    runs = []
    check = Check("counted", lambda: runs.append(1), ttl=0.05)
    await check.current()
    await asyncio.sleep(0.08)
    assert not check.fresh(time.monotonic())
    await check.current()
    assert len(runs) == 2


async def test_one_caller_giving_up_does_not_cancel_the_run() -> None:
    finished = asyncio.Event()

    async def slow() -> None:
        await asyncio.sleep(0.1)
        finished.set()

    check = Check("slow", slow)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await check.current()
    result = await check.current()  # joins the same run
    assert result.status == "pass"
    assert finished.is_set()
    assert check.runs == 1


async def test_async_check_that_hangs_fails_at_its_timeout() -> None:
    async def hang() -> None:
        await asyncio.sleep(3600)

    started = time.monotonic()
    result = await Check("hang", hang, timeout=0.1).current()
    assert time.monotonic() - started < 1.0
    assert (result.status, result.output) == ("fail", "timed out after 0.1 s")


async def test_sync_check_that_hangs_is_abandoned_and_counted() -> None:
    release = threading.Event()
    check = Check("sync", lambda: release.wait(5), timeout=0.1)
    result = await check.current()
    release.set()
    assert (result.status, result.output) == ("fail", "timed out after 0.1 s")
    assert check.abandoned_threads == 1


async def test_a_hanging_sync_check_does_not_pile_threads_up() -> None:
    release = threading.Event()
    before = threading.active_count()
    check = Check("sync", lambda: release.wait(5), timeout=0.05, ttl=0.01)
    first = await check.current()
    results = []
    for _ in range(5):
        await asyncio.sleep(0.02)
        results.append(await check.current())
    assert threading.active_count() - before <= 1  # the one stuck thread, no more
    assert check.runs == 1
    assert first.output == "timed out after 0.05 s"
    assert all((r.output or "").startswith("still running after ") for r in results)
    release.set()
    await asyncio.sleep(0.05)
    check.function = lambda: None
    assert (await check.current()).status == "pass"  # the thread came back: runs again
    assert check.runs == 2


async def test_sync_check_runs_off_the_loop() -> None:
    loop_thread = threading.get_ident()
    ran_on: list[int] = []
    await Check("sync", lambda: ran_on.append(threading.get_ident())).current()
    assert ran_on
    assert ran_on != [loop_thread]


@pytest.mark.parametrize(
    ("returned", "status", "output"),
    [
        (None, "pass", None),
        (True, "pass", None),
        (False, "fail", "the check returned False"),
        (Observation("lag", 3, "ms"), "pass", None),
        ([Observation("a", 1), Observation("b", 2, status="warn", output="high")], "warn", "high"),
        ("yes", "fail", "TypeError: a health check returned str: expected None, a bool, "
                        "or Observation(s)"),
        (Observation("ratio", float("nan")), "fail", "observed value nan is not a finite number"),
        (Observation("x", 10**5000), "fail", OUT_OF_RANGE),
        (Observation("x", -(10**16)), "fail", OUT_OF_RANGE),
        (Observation("x", 1e300), "fail", OUT_OF_RANGE),
    ],
)  # fmt: skip
async def test_what_a_check_returns(returned: Any, status: str, output: str | None) -> None:
    async def check() -> Any:
        return returned

    result = await Check("c", check).current()
    assert (result.status, result.output) == (status, output)


async def test_observations_are_bounded_and_always_serialisable() -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

    async def check() -> list[Observation]:
        return [
            Observation("long", "v" * 5000, "u" * 500, "warn", "o" * 5000),
            Observation("odd", Unprintable()),
            Observation("big", 10**5000),
            Observation("status", 1, status="weird"),  # type: ignore[arg-type]
        ]

    result = await Check("c", check).current()
    long, odd, big, status = result.observations
    assert len(long.value) == len(long.unit) == len(long.output) == MAX_OUTPUT
    assert long.value.endswith("\u2026")
    assert odd.value == "<Unprintable>"
    assert (big.value, big.status) == (None, "fail")
    assert status.status == "fail"
    assert result.status == "fail"
    json.dumps([dataclasses.asdict(o) for o in result.observations])  # never raises


async def test_a_password_in_a_url_of_the_reason_is_masked() -> None:
    def broken() -> None:
        raise ConnectionError(
            "cannot reach postgresql+psycopg://app:hunter2@db:5432/app nor redis://:pw@r:6379"
        )

    result = await Check("broken", broken).current()
    assert result.output == (
        "ConnectionError: cannot reach postgresql+psycopg://app:***@db:5432/app "
        "nor redis://:***@r:6379"
    )


async def test_a_raising_check_gives_its_reason_cut_to_one_line() -> None:
    def broken() -> None:
        raise OSError("first line\nsecond line " + "x" * 500)

    result = await Check("broken", broken).current()
    assert result.status == "fail"
    assert result.output is not None
    assert result.output.startswith("OSError: first line")
    assert "second" not in result.output


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, "needs a non-empty name"),
        ({"timeout": 0}, "timeout=0 must be a number of seconds"),
        ({"ttl": -1}, "ttl=-1 must be a number of seconds"),
    ],
)
def test_bad_check_arguments_are_refused(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"name": "ok", "function": lambda: None, **kwargs}
    with pytest.raises(ValueError, match=message):
        Check(**args)


# -- built-ins against real servers ---------------------------------------------------


async def _require_postgres() -> None:
    try:
        await (await asyncpg.connect(PG_DSN, timeout=5)).close()
    except (OSError, asyncpg.PostgresError) as exc:
        if REQUIRE_SERVICES:
            pytest.fail(f"PostgreSQL is unreachable: {exc!r}")
        pytest.skip(f"PostgreSQL is unreachable: {exc!r}")


@pytest.mark.postgres
async def test_postgres_check_on_an_asyncpg_pool_does_not_wait_for_a_slot() -> None:
    await _require_postgres()
    pool = await asyncpg.create_pool(PG_DSN, min_size=1, max_size=2)
    try:
        check = postgres(pool, ttl=0.01)
        result = await check.current()
        assert result.status == "pass"
        measured = {o.measurement: o for o in result.observations}
        assert measured["connections"].value == 0
        assert measured["responseTime"].unit == "ms"

        async def take() -> Any:
            return await pool.acquire()

        held = [await take(), await take()]
        waiter = asyncio.create_task(take())
        await asyncio.sleep(0.05)
        started = time.monotonic()
        result = await check.current()
        assert time.monotonic() - started < 0.5  # no wait for a connection
        assert result.status == "warn"
        assert result.output == (
            "pool saturated: 2/2 in use, 1 waiting; SELECT 1 skipped: every pool "
            "connection is in use"
        )
        assert check.pool is not None
        pool_state = check.pool()
        assert pool_state is not None
        assert pool_state.saturated
        for connection in held:
            await pool.release(connection)
        await pool.release(await waiter)
    finally:
        pool.terminate()  # close() would wait for connections a failed test still holds


@pytest.mark.postgres
async def test_postgres_check_on_an_sqlalchemy_engine_made_later() -> None:
    await _require_postgres()
    engines: dict[str, Any] = {}
    check = postgres(lambda: engines.get("db"), timeout=2)
    result = await check.current()
    assert (result.status, result.output) == (
        "fail", "RuntimeError: no PostgreSQL engine or pool yet (the app has not created it)"
    )  # fmt: skip
    engines["db"] = create_async_engine(
        "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres", pool_size=1, max_overflow=1
    )
    try:
        check.result = None
        result = await check.current()
        assert result.status == "pass", result.output
        assert check.pool is not None
        assert check.pool() == _state(0, 2, 0)
    finally:
        await engines["db"].dispose()


def _state(in_use: int, size: int, waiting: int | None) -> Any:
    from poise.health import PoolState

    return PoolState(in_use, size, waiting)


@pytest.mark.postgres
async def test_postgres_check_fails_when_the_server_is_unreachable() -> None:
    dead = free_port()
    engine = create_async_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{dead}/postgres")
    try:
        result = await postgres(engine, timeout=2).current()
        assert result.status == "fail"
        assert result.output is not None
        assert "Connect" in result.output or "refused" in result.output
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_postgres_check_on_a_sync_engine_as_the_full_stack_template_makes_it() -> None:
    """FastAPI's full-stack template: SQLModel's ``create_engine`` (a sync SQLAlchemy
    engine, psycopg). The check used to fail every run with "'Connection' object does
    not support the asynchronous context manager protocol", and /readyz stayed at
    starting; now it queries in a thread of its own and reads the pool's counters."""
    await _require_postgres()
    from sqlalchemy import create_engine

    engine = create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres", pool_size=1, max_overflow=0
    )
    check = postgres(engine, timeout=2, ttl=0.01)
    try:
        result = await check.current()
        assert result.status == "pass", result.output
        assert [o.measurement for o in result.observations] == ["connections", "responseTime"]
        assert check.pool is not None
        assert check.pool() == _state(0, 1, None)
        # The app holds the only connection: the query is skipped, not queued behind it.
        held = await anyio.to_thread.run_sync(engine.connect)
        try:
            check.result = None
            result = await check.current()
            assert result.status == "warn"
            assert "every pool connection is in use" in (result.output or "")
        finally:
            await anyio.to_thread.run_sync(held.close)
    finally:
        await anyio.to_thread.run_sync(engine.dispose)


@pytest.mark.postgres
async def test_a_sync_engine_check_fails_with_its_reason_when_the_server_goes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The server goes away (here: the TCP path to it), the check fails with the
    driver's reason, and the health state logs it as a critical check's failure."""
    await _require_postgres()
    from sqlalchemy import create_engine

    from poise._internal import InternalErrors
    from poise.health.state import Health, HealthLimits

    async with forwarder(5432) as (port, close):
        engine = create_engine(
            f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres?connect_timeout=1",
            pool_pre_ping=False,
        )
        check = postgres(engine, timeout=2, ttl=0.01)
        health = Health(
            HealthLimits(), started=lambda: True, shedding=None, errors=InternalErrors()
        )
        health.add(check)
        try:
            assert (await check.current()).status == "pass"
            await close()
            check.result = None
            result = await check.current()
            assert result.status == "fail"
            assert result.output is not None
            assert "Operational" in result.output or "closed" in result.output.lower()
            health.evaluate(time.monotonic())
            assert f"critical check postgres failed: {result.output}" in caplog.text
        finally:
            await anyio.to_thread.run_sync(engine.dispose)


@pytest.mark.redis
async def test_redis_check_against_the_real_server_and_a_dead_port() -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis(host="127.0.0.1", port=6379, socket_timeout=1)
    try:
        try:
            await client.ping()
        except Exception as exc:
            if REQUIRE_SERVICES:
                pytest.fail(f"Redis is unreachable: {exc!r}")
            pytest.skip(f"Redis is unreachable: {exc!r}")
        result = await redis(client).current()
        assert result.status == "pass"
        assert result.observations[0].measurement == "responseTime"
    finally:
        await client.aclose()
    own = redis(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    result = await own.current()
    assert result.status == "fail"
    assert result.output is not None
    assert "ConnectionError" in result.output
    assert own.close is not None
    await own.close()


@pytest.mark.redis
async def test_redis_check_on_a_sync_client_runs_off_the_loop() -> None:
    """A sync ``redis.Redis``: its ``ping()`` returns a bool (awaiting it failed every
    run) and blocks, so the check runs it in a thread of its own."""
    import redis as sync_redis

    client = sync_redis.Redis(host="127.0.0.1", port=6379, socket_timeout=1)
    try:
        try:
            await anyio.to_thread.run_sync(client.ping)
        except Exception as exc:
            if REQUIRE_SERVICES:
                pytest.fail(f"Redis is unreachable: {exc!r}")
            pytest.skip(f"Redis is unreachable: {exc!r}")
        loop_thread = threading.get_ident()
        seen: list[int] = []
        original = client.ping

        def ping() -> bool:
            seen.append(threading.get_ident())
            return bool(original())

        client.ping = ping  # type: ignore[method-assign]
        result = await redis(client).current()
        assert result.status == "pass", result.output
        assert seen
        assert seen[0] != loop_thread
        dead = sync_redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2)
        failed = await redis(dead, timeout=2).current()
        assert failed.status == "fail"
        # The driver's reason, or the check's timeout if its retries outlast it.
        assert failed.output is not None
        assert "ConnectionError" in failed.output or "timed out" in failed.output
    finally:
        client.close()


@pytest.fixture
async def http_server() -> AsyncIterator[int]:
    """A tiny HTTP server: /ok answers 200, /down 500, /hang not until the test ends."""
    ending = asyncio.Event()
    handlers: list[asyncio.Task[Any]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        request = await reader.readuntil(b"\r\n\r\n")
        path = request.split(b" ", 2)[1]
        if path == b"/hang":
            await ending.wait()
        status = b"200 OK" if path == b"/ok" else b"500 Internal Server Error"
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    ending.set()
    await asyncio.gather(*handlers, return_exceptions=True)
    server.close()
    await server.wait_closed()


async def test_http_check(http_server: int) -> None:
    base = f"http://127.0.0.1:{http_server}"
    checks = {
        "ok": http(f"{base}/ok"),
        "down": http(f"{base}/down", name="payments"),
        "accepted": http(f"{base}/down", expect={200, 500}),
        "hung": http(f"{base}/hang", timeout=0.2),
    }
    try:
        results = {name: await check.current() for name, check in checks.items()}
    finally:
        for check in checks.values():
            assert check.close is not None
            await check.close()
    assert checks["ok"].name == "127.0.0.1"
    assert checks["down"].name == "payments"
    assert {n: (r.status, r.output) for n, r in results.items()} == {
        "ok": ("pass", None),
        "down": ("fail", "answered 500, expected 200"),
        "accepted": ("pass", None),
        "hung": ("fail", "timed out after 0.2 s"),
    }
    with pytest.raises(ValueError, match="not an absolute"):
        http("/relative")


async def test_values_json_cannot_carry_are_made_safe() -> None:
    from decimal import Decimal

    async def check() -> list[Observation]:
        return [Observation("price", Decimal("1.50")), Observation("lag", float("inf"))]

    result = await Check("odd", check).current()
    assert [o.value for o in result.observations] == ["1.50", None]
    assert result.status == "fail"


@pytest.mark.parametrize(
    ("missing", "build", "extra"),
    [
        (("redis", "redis.asyncio"), lambda: redis("redis://:s3cret@cache:6379/0"), "redis"),
        (("httpx",), lambda: http("http://payments.internal/health"), "http"),
    ],
)
def test_a_missing_optional_dependency_fails_at_construction(
    monkeypatch: pytest.MonkeyPatch, missing: tuple[str, ...], build: Any, extra: str
) -> None:
    """Not at every run (the check failing for a reason no one reads in /healthz)."""
    for module in missing:
        monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    with pytest.raises(ImportError, match=rf"pip install 'poise\[{extra}\]'") as raised:
        build()
    assert "s3cret" not in str(raised.value)


async def test_still_starting_is_logged_with_the_checks_reasons(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from poise._internal import InternalErrors
    from poise.health.state import STARTING_WARN_AFTER, Health, HealthLimits

    def never() -> bool:
        raise ConnectionRefusedError("connection refused by db:5432")

    health = Health(HealthLimits(), started=lambda: True, shedding=None, errors=InternalErrors())
    check = health.add(Check("db", never))
    await check.current()
    start = health.since
    health.evaluate(start + 1)
    assert "still starting" not in caplog.text
    health.evaluate(start + STARTING_WARN_AFTER + 0.1)
    assert health.state == "starting"
    assert (
        "poise: still starting after 10 s, not ready: check db has not passed yet "
        "(ConnectionRefusedError: connection refused by db:5432)"
    ) in caplog.text
    # The check's own failure was logged once, not per evaluation.
    assert caplog.text.count("critical check db failed") == 1


@pytest.mark.postgres
async def test_readyz_follows_a_sync_engine_within_ttl_and_timeout() -> None:
    """The full-stack template's pattern end to end: SQLModel's sync engine on the real
    PostgreSQL, postgres(engine) registered; the server goes away and /readyz turns 503
    within the check's TTL + timeout (+ the ticker's period)."""
    await _require_postgres()
    import httpx
    from fastapi import FastAPI
    from sqlalchemy import create_engine

    from poise import Poise, Settings
    from tests.lifespan import running

    ttl, timeout = 0.5, 0.5
    async with forwarder(5432) as (port, close):
        engine = create_engine(
            f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres?connect_timeout=1"
        )
        app = FastAPI()
        installed = Poise(app, Settings(ready_hold=0))
        installed.health.add(postgres(engine, ttl=ttl, timeout=timeout))
        transport = httpx.ASGITransport(app=app)
        try:
            async with (
                running(app),
                httpx.AsyncClient(transport=transport, base_url="http://test") as http,
            ):

                async def answers(status: int) -> None:
                    for _ in range(500):  # 10 s at most
                        if (await http.get("/readyz")).status_code == status:
                            return
                        await anyio.sleep(0.02)
                    pytest.fail(f"/readyz never answered {status}")

                await answers(200)
                await close()
                cut = time.monotonic()
                await answers(503)
                took = time.monotonic() - cut
        finally:
            await anyio.to_thread.run_sync(engine.dispose)
    assert took <= ttl + timeout + 0.25 + 0.5, took
