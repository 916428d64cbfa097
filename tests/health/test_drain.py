"""`poise run`: SIGTERM during steady load drains without failing a single accepted request."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import APPS_DIR, Server, free_port
from tests.health import rawhttp

pytestmark = [pytest.mark.uvicorn, pytest.mark.anyio]

DRAIN_DELAY = 1.5
DRAIN_TIMEOUT = 5.0
RATE = 200  # requests per second, one connection each


async def test_sigterm_under_load_drains(serve: Callable[..., Server], tmp_path: Path) -> None:
    marker = tmp_path / "marker.json"
    probe_port = free_port()
    server = serve("health:app", runner="poise", env={
        "MARKER": str(marker), "POISE_DRAIN_DELAY": str(DRAIN_DELAY),
        "POISE_DRAIN_TIMEOUT": str(DRAIN_TIMEOUT), "POISE_PROBE_PORT": str(probe_port),
    })  # fmt: skip
    port = int(server.base_url.rsplit(":", 1)[1])
    loop = asyncio.get_running_loop()
    answers: dict[str, rawhttp.Answer] = {}
    requests: list[asyncio.Task[None]] = []

    async def one(request_id: str) -> None:
        answers[request_id] = await rawhttp.get(port, "/work", headers={"X-Request-Id": request_id})

    async def load(seconds: float) -> None:
        start = loop.time()
        n = 0
        while loop.time() - start < seconds:
            requests.append(asyncio.create_task(one(f"r{n}")))
            n += 1
            # Open loop: the next send time is fixed, whatever the answers do.
            await asyncio.sleep(max(0.0, start + n / RATE - loop.time()))

    readiness: list[tuple[rawhttp.Answer, str]] = []

    async def watch_readiness(until: float) -> None:
        while loop.time() < until:
            for where, p in (("main", port), ("probe", probe_port)):
                readiness.append((await rawhttp.get(p, "/readyz", within=2), where))
            await asyncio.sleep(0.01)

    load_task = asyncio.create_task(load(1.0 + DRAIN_DELAY + 1.5))
    await asyncio.sleep(1.0)
    signalled = loop.time()
    server.process.send_signal(signal.SIGTERM)
    await watch_readiness(signalled + DRAIN_DELAY + 0.5)
    await load_task
    await asyncio.gather(*requests)
    code = await asyncio.to_thread(server.process.wait, DRAIN_DELAY + DRAIN_TIMEOUT + 1)
    exited = loop.time() - signalled

    assert code == 0, server.output()
    assert exited <= DRAIN_DELAY + DRAIN_TIMEOUT + 1
    # Readiness: 503 from the first probe sent 100 ms after the signal, on both ports.
    for where in ("main", "probe"):
        late = [a for a, w in readiness if w == where and a.sent_at >= signalled + 0.1]
        assert late, f"no {where} readiness probe answered after the signal"
        assert all(a.status == 503 for a in late if a.status is not None), where
        assert late[0].status == 503
        assert late[0].json()["notes"] == ["draining"]
    seen = set(json.loads(marker.read_text())["seen"])
    assert json.loads(marker.read_text())["shutdown"] is True  # the app's shutdown ran
    # Every request the app accepted was answered 200; nothing else failed over HTTP.
    assert {rid for rid in seen if answers[rid].status != 200} == set()
    statuses = {a.status for a in answers.values()}
    assert statuses <= {200, None}, statuses
    failed = {rid: a.error for rid, a in answers.items() if a.status is None}
    assert not set(failed) & seen
    odd = {rid: (answers[rid].sent_at - signalled, error) for rid, error in failed.items()
           if error not in ("refused", "reset", "closed")}  # fmt: skip
    assert not odd, f"requests that failed otherwise (sent at s after the signal): {odd}"
    # The app kept serving during the drain delay, and the listener closed after it.
    served_after = [a for a in answers.values()
                    if a.status == 200 and a.sent_at > signalled + 0.2]  # fmt: skip
    assert len(served_after) >= RATE * (DRAIN_DELAY - 0.5) * 0.5
    assert any(a.error == "refused" for a in answers.values())
    assert len(seen) >= RATE * 1.5


def test_second_signal_skips_the_delay(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "POISE_DRAIN_DELAY": "60"}
    process = subprocess.Popen(
        [sys.executable, "-m", "poise", "run", "health:app", "--app-dir", str(APPS_DIR),
         "--port", str(port), "--no-access-log"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        _wait_ready(port)
        process.send_signal(signal.SIGINT)
        time.sleep(0.5)
        assert process.poll() is None  # draining: 60 s of delay ahead
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "skipping the rest of the drain delay" in output
    assert "SIGINT: draining" in output


def _wait_ready(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        answer = asyncio.run(rawhttp.get(port, "/readyz", within=1))
        if answer.status == 200:
            return
        time.sleep(0.1)
    pytest.fail("the app did not become ready within 30 s")
