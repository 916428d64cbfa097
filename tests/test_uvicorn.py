"""The ledger and the lifespan under a real uvicorn process, where the server matters."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import CLEAN_STOP, Server

pytestmark = pytest.mark.uvicorn


def ledgers(server: Server, **params: Any) -> list[dict[str, Any]]:
    response = httpx.get(f"{server.admin_url}/_poise/api/requests", params=params)
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["requests"]
    return items


def wait_for_ledger(server: Server, route: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [item for item in ledgers(server, limit=100) if item["route"] == route]
        if found:
            return found[0]
        time.sleep(0.05)
    pytest.fail(f"no ledger for {route} within {timeout} s")


def test_lifespan_of_app_runs_and_poise_serves(
    serve: Callable[..., Server], tmp_path: Path
) -> None:
    log = tmp_path / "lifespan.log"
    server = serve("shopfront:app", env={"LIFESPAN_LOG": str(log)})
    assert log.read_text() == "app startup\n"
    stats = httpx.get(f"{server.admin_url}/_poise/api/stats").json()
    assert stats["phase"] == "serving"
    assert server.stop() in CLEAN_STOP
    assert log.read_text() == "app startup\napp shutdown\n"
    assert "Application shutdown complete" in server.output()


def test_route_template_status_and_error(serve: Callable[..., Server]) -> None:
    server = serve("shopfront:app")
    assert httpx.get(f"{server.base_url}/orders/42").json() == {"order_id": 42}
    assert httpx.get(f"{server.base_url}/no/such/page").status_code == 404
    assert httpx.get(f"{server.base_url}/boom").status_code == 500

    routes = httpx.get(f"{server.admin_url}/_poise/api/stats").json()["routes"]
    assert routes["GET /orders/{order_id}"]["count"] == 1
    assert routes["GET /orders/{order_id}"]["errors"] == 0
    assert routes["GET <unmatched>"]["count"] == 1
    assert routes["GET /boom"]["errors"] == 1
    boom = wait_for_ledger(server, "/boom")
    assert (boom["status"], boom["outcome"]) == (500, "error")
    # The exception still reached the server, which logged it.
    assert "the handler failed on purpose" in server.output()


def test_streaming_wall_time_covers_the_whole_body(serve: Callable[..., Server]) -> None:
    server = serve("shopfront:app")
    started = time.perf_counter()
    response = httpx.get(f"{server.base_url}/stream", params={"chunks": 5, "pause": 0.1})
    elapsed = time.perf_counter() - started
    assert response.text.count("chunk") == 5
    ledger = wait_for_ledger(server, "/stream")
    assert ledger["outcome"] == "ok"
    # Five pauses of 0.1 s happen while the body streams, after the headers went out.
    assert 0.45 <= ledger["wall_s"] <= elapsed


def test_client_disconnect_mid_stream(serve: Callable[..., Server]) -> None:
    server = serve("shopfront:app")
    host, port = server.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            b"GET /stream?chunks=100&pause=0.05 HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
        )
        assert b"200 OK" in sock.recv(4096)
    # The socket is closed after the first chunk; the stream had 5 s left to go.
    ledger = wait_for_ledger(server, "/stream")
    assert ledger["outcome"] == "client_disconnected"
    assert ledger["status"] == 200
    assert ledger["wall_s"] < 4.0


def test_raw_asgi_app_without_lifespan_gets_poise(serve: Callable[..., Server]) -> None:
    server = serve("rawasgi:app")
    assert httpx.get(f"{server.base_url}/anything").text == "bare"
    stats = httpx.get(f"{server.admin_url}/_poise/api/stats").json()
    assert stats["phase"] == "serving"
    # A raw app has no routes to name: its requests are unmatched, but counted.
    assert stats["routes"]["GET <unmatched>"]["count"] == 1
    assert server.stop() in CLEAN_STOP
