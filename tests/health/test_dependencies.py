"""Readiness against real dependencies: a Redis server that dies and comes back, a
PostgreSQL pool held to saturation, a thousand probes at once, and a blocked loop
seen from the probe port. Each runs the app under a real server process."""

from __future__ import annotations

import asyncio
import gc
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.conftest import ADMIN_HEADERS, REQUIRE_SERVICES, Server, free_port
from tests.health import rawhttp

pytestmark = [pytest.mark.uvicorn, pytest.mark.anyio]

POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def port_of(server: Server) -> int:
    return int(server.base_url.rsplit(":", 1)[1])


async def wait_for(port: int, path: str, status: int, within: float) -> float:
    """Poll ``path`` until it answers ``status``; the seconds that took."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while True:
        answer = await rawhttp.get(port, path, within=2)
        if answer.status == status:
            return loop.time() - start
        if loop.time() - start > within:
            pytest.fail(f"{path} did not answer {status} within {within} s: {answer}")
        await asyncio.sleep(0.02)


class RedisServer:
    """A redis-server this test owns, on a free port, that it can kill and restart."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if REQUIRE_SERVICES:
                pytest.fail("redis-server is not installed")
            pytest.skip("redis-server is not installed")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket_to(self.port):
                    return
            except OSError:
                time.sleep(0.05)
        pytest.fail("redis-server did not start within 10 s")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def socket_to(port: int) -> Any:
    import socket

    return socket.create_connection(("127.0.0.1", port), timeout=0.5)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


async def test_redis_dies_and_comes_back(
    serve: Callable[..., Server], redis_server: RedisServer
) -> None:
    # The check: TTL 0.5 s, timeout 0.5 s (tests/apps/health.py).
    server = serve("health:app", runner="poise", env={
        "REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0", "POISE_READY_HOLD": "1",
    })  # fmt: skip
    port = port_of(server)
    await wait_for(port, "/readyz", 200, within=10)
    await asyncio.sleep(1.1)  # past the minimum time in a state

    loop = asyncio.get_running_loop()
    redis_server.kill()
    took = await wait_for(port, "/readyz", 503, within=10)
    unready_at = loop.time()
    # TTL + timeout, plus the ticker's period (0.25 s: when an expired check is rerun)
    # and a little for the probe itself.
    assert took <= 0.5 + 0.5 + 0.25 + 0.5
    health = (
        await rawhttp.get(port, "/healthz", headers=ADMIN_HEADERS)
    ).json()  # the token: in full
    assert health["status"] == "fail"
    assert health["checks"]["redis"][0]["status"] == "fail"
    assert "redis" in health["output"]
    assert "failed" in health["output"]
    ready = (await rawhttp.get(port, "/readyz")).json()
    assert ready == {"status": "fail", "notes": ["degraded"]}  # no internals here

    redis_server.start()  # the same port again
    await wait_for(port, "/readyz", 200, within=10)
    assert loop.time() - unready_at >= 0.9  # the hold: degraded at least ready_hold (1 s)
    health = (await rawhttp.get(port, "/healthz", headers=ADMIN_HEADERS)).json()
    assert health["status"] == "pass"
    assert health["checks"]["redis:responseTime"][0]["status"] == "pass"


async def test_saturated_postgres_pool_is_not_ready(serve: Callable[..., Server]) -> None:
    try:
        await (await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                                     timeout=5)).close()  # fmt: skip
    except (OSError, asyncpg.PostgresError) as exc:
        if REQUIRE_SERVICES:
            pytest.fail(f"PostgreSQL is unreachable: {exc!r}")
        pytest.skip(f"PostgreSQL is unreachable: {exc!r}")
    server = serve("health:app", runner="poise", env={
        "DATABASE_URL": POSTGRES_URL, "POISE_READY_HOLD": "0.5",
    })  # fmt: skip
    port = port_of(server)
    await wait_for(port, "/readyz", 200, within=10)
    await asyncio.sleep(0.6)

    # Two slow requests hold both connections of the pool (size 2); a third waits.
    holders = [asyncio.create_task(rawhttp.get(port, "/hold?seconds=3")) for _ in range(3)]
    took = await wait_for(port, "/readyz", 503, within=2.5)
    assert took <= 2.5  # the pool window (1 s) after the pool filled up
    probe = await rawhttp.get(port, "/readyz", within=2)
    assert probe.status == 503  # answered, not stuck behind the pool
    health = (await rawhttp.get(port, "/healthz", headers=ADMIN_HEADERS)).json()
    connections = health["checks"]["postgres:connections"][0]
    assert connections["observedValue"] == 2
    assert "pool saturated: 2/2 in use, 1 waiting" in connections["output"]
    assert "pool postgres saturated" in health["output"]

    answers = await asyncio.gather(*holders)
    assert [a.status for a in answers] == [200, 200, 200]
    await wait_for(port, "/readyz", 200, within=5)
    for _ in range(60):  # a run after the last release: TTL 0.5 s + one 0.25 s tick
        health = (await rawhttp.get(port, "/healthz", headers=ADMIN_HEADERS)).json()
        if health["checks"]["postgres:connections"][0]["observedValue"] == 0:
            break
        await asyncio.sleep(0.05)
    assert health["checks"]["postgres:connections"][0]["observedValue"] == 0


async def test_a_thousand_probes_run_the_check_once(serve: Callable[..., Server]) -> None:
    server = serve("health:app", env={"CHECK_MODE": "count"})
    port = port_of(server)
    assert (await rawhttp.get(port, "/check-runs")).json() == {"count": 0}

    answers = await asyncio.gather(*(rawhttp.get(port, "/readyz", within=30)
                                     for _ in range(1000)))  # fmt: skip
    assert [a.status for a in answers].count(200) == 1000
    assert (await rawhttp.get(port, "/check-runs")).json() == {"count": 1}
    answers = await asyncio.gather(*(rawhttp.get(port, "/readyz", within=30)
                                     for _ in range(1000)))  # fmt: skip
    assert {a.status for a in answers} == {200}
    assert (await rawhttp.get(port, "/check-runs")).json() == {"count": 1}  # TTL 30 s


@pytest.mark.parametrize("mode", ["raise", "hang"])
async def test_a_broken_check_is_reported_not_fatal(
    serve: Callable[..., Server], mode: str
) -> None:
    server = serve("health:app", env={"CHECK_MODE": mode})
    port = port_of(server)
    for _ in range(100):  # until a run (or its timeout) has finished
        health = (await rawhttp.get(port, "/healthz", headers=ADMIN_HEADERS)).json()
        if "time" in health["checks"][{"raise": "broken", "hang": "stuck"}[mode]][0]:
            break
        await asyncio.sleep(0.05)
    for path in ("/readyz", "/startupz"):
        assert (await rawhttp.get(port, path)).status == 503  # a critical check never passed
    assert (await rawhttp.get(port, "/livez")).status == 200
    health = (await rawhttp.get(port, "/healthz", headers=ADMIN_HEADERS)).json()
    name, reason = {
        "raise": ("broken", "ConnectionRefusedError: nobody home at 10.0.0.1:5"),
        "hang": ("stuck", "timed out after 0.3 s"),
    }[mode]
    assert health["checks"][name] == [
        {"componentType": "component", "status": "fail", "output": reason,
         "time": health["checks"][name][0]["time"]}
    ]  # fmt: skip
    assert f"check {name} has not passed yet" in health["output"]
    assert (await rawhttp.get(port, "/work")).status == 200  # the app itself is unharmed


async def test_probe_port_answers_while_the_loop_is_blocked(
    serve: Callable[..., Server],
) -> None:
    """A route blocks the loop for 3 s with live_loop_stuck = 1 s: on the probe port,
    /livez is 200 for the first second, 503 after it, 200 once the loop is back, and
    /livez and /readyz answer within 50 ms throughout the block."""
    probe_port = free_port()
    server = serve("health:app", env={
        "POISE_PROBE_PORT": str(probe_port), "POISE_LIVE_LOOP_STUCK": "1",
    })  # fmt: skip
    port = port_of(server)
    await wait_for(probe_port, "/readyz", 200, within=5)
    loop = asyncio.get_running_loop()
    blocker = asyncio.create_task(rawhttp.get(port, "/block-loop?seconds=3", within=10))
    await asyncio.sleep(0.02)  # the idle server reads it at once: the block has begun
    started = loop.time()
    main = await rawhttp.get(port, "/livez", within=0.3)
    assert main.error == "timeout"  # the main port's probe waits for the loop

    probes: list[tuple[float, str, int | None, float]] = []  # (t, path, status, took)
    ended: float | None = None
    # The times are taken in this process: a garbage collection of the test session's
    # heap (tens of ms, late in a long run) would be counted against the probe port.
    gc.collect()
    gc.disable()
    try:
        while ended is None or loop.time() - started < ended + 1.0:
            for path in ("/livez", "/readyz"):
                sent = loop.time()
                answer = await rawhttp.get(probe_port, path, within=1)
                probes.append((sent - started, path, answer.status, loop.time() - sent))
            if ended is None and blocker.done():
                ended = loop.time() - started
            await asyncio.sleep(0.02)
    finally:
        gc.enable()
    assert (await blocker).status == 200
    assert ended is not None
    assert 2.9 < ended < 4.0

    # The block began up to 20 ms before `started` and the loop is back (catching up and
    # holding the GIL) before the blocker's answer reaches us: "during" is what was over
    # by 2.9 s, certainly inside the 3 s block.
    during = [p for p in probes if p[0] + p[3] < 2.9]
    assert len(during) >= 40
    assert max(p[3] for p in during) < 0.05, [p for p in during if p[3] > 0.01]
    # Once the loop is back it catches up on CPU, and the probe thread competes with it
    # for the GIL (up to the 5 ms switch interval per hand-over): a generous bound.
    assert max(p[3] for p in probes) < 0.5
    live = [(t, status) for t, path, status, _ in probes if path == "/livez"]
    first_second = [status for t, status in live if t < 0.9]
    stuck = [status for t, status in live if 1.4 < t < ended - 0.1]
    back = [status for t, status in live if t > ended + 0.3]
    assert len(first_second) >= 5
    assert len(stuck) >= 10
    assert len(back) >= 5
    assert set(first_second) == {200}  # busy or blocked for a moment: alive
    assert set(stuck) == {503}  # stuck past live_loop_stuck
    assert set(back) == {200}
    ready = {status for _, path, status, _ in probes if path == "/readyz"}
    assert None not in ready  # answered throughout (503 "stalled" while blocked)
    assert 503 in ready

    # One stall, however long, is over when it is over: ready again at once (lag takes
    # the app out only when it recurs), with the stall on record in /healthz.
    await wait_for(probe_port, "/readyz", 200, within=2)
    lag = (await rawhttp.get(port, "/healthz", headers=ADMIN_HEADERS)).json()["checks"][
        "eventloop:lag"
    ][0]
    assert lag["observedValue"] >= 2500
    assert lag["status"] == "pass"
    startup = await rawhttp.get(probe_port, "/startupz")
    assert startup.status == 200
    assert (await rawhttp.get(probe_port, "/healthz")).status == 404  # main port only
