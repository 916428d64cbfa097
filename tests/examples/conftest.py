"""Fixtures for the example apps: a real payment provider, a database per test, the shop.

The payment provider runs under a real uvicorn server in a thread with its own event
loop. It has to: the burnt shop calls it with ``requests``, which blocks the test's
loop for the whole round trip, so a provider on that same loop could never answer.
"""

from __future__ import annotations

import importlib
import os
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, NoReturn

import asyncpg
import httpx
import pytest
import uvicorn

from tests.conftest import ADMIN_HEADERS
from tests.lifespan import running

POSTGRES: Final = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
SERVER_START_TIMEOUT: Final = 10.0

Message = dict[str, Any]


@pytest.fixture
def anyio_backend() -> str:
    """asyncio only, whatever the suite's default: asyncpg and aiosqlite need it."""
    return "asyncio"


@pytest.fixture(scope="session")
def payments_url() -> Iterator[str]:
    """The base URL of the fake payment provider, served by uvicorn on a free port."""
    from examples.shop import payments

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        payments.app, log_level="warning", loop="asyncio", http="h11", ws="none", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="payments-server", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                pytest.fail("the fake payment provider did not start")
            time.sleep(0.01)
        host, port = sock.getsockname()
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(SERVER_START_TIMEOUT)
        sock.close()


def _unreachable(reason: str) -> NoReturn:
    if os.environ.get("POISE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (POISE_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@asynccontextmanager
async def scratch_postgres_database() -> AsyncIterator[str]:
    """A new, uniquely named PostgreSQL database, dropped afterwards even on failure.

    Skips (or fails, under ``POISE_REQUIRE_SERVICES=1``) when the server is unreachable.
    """
    try:
        admin = await asyncpg.connect(**POSTGRES, database="postgres", timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        _unreachable(f"PostgreSQL on {POSTGRES['host']}:{POSTGRES['port']} is unreachable: {exc!r}")
    name = f"poise_shop_{secrets.token_hex(6)}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql+asyncpg://{POSTGRES['user']}@{POSTGRES['host']}:{POSTGRES['port']}/{name}"
        finally:
            # FORCE: a failed test may have left a connection behind.
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_env(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[dict[str, str]]:
    """The environment variables that point the shop at a fresh, empty database."""
    if request.param == "sqlite":
        yield {"SHOP_SQLITE_PATH": str(tmp_path / "shop.sqlite3")}
        return
    async with scratch_postgres_database() as url:
        yield {"DATABASE_URL": url}


@pytest.fixture
def report_dir(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    database_env: dict[str, str],
    payments_url: str,
) -> Path:
    """Configure the shop through its environment variables; returns its report dir."""
    report_dir = tmp_path / "reports"
    for name in ("DATABASE_URL", "SHOP_SQLITE_PATH"):
        monkeypatch.delenv(name, raising=False)
    for name, value in database_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PAYMENTS_URL", payments_url)
    monkeypatch.setenv("SHOP_REPORT_DIR", str(report_dir))
    return report_dir


@dataclass(frozen=True)
class Shop:
    """A started shop app and what a test needs to check its effects."""

    client: httpx.AsyncClient
    report_dir: Path
    payments_url: str


OpenShop = Callable[[str], AbstractAsyncContextManager[Shop]]


@pytest.fixture
def open_shop(report_dir: Path) -> OpenShop:
    """Start a shop flavour (``"burnt"`` or ``"healthy"``) with the current environment."""

    @asynccontextmanager
    async def open_(flavour: str) -> AsyncIterator[Shop]:
        app = importlib.import_module(f"examples.shop.{flavour}").app
        transport = httpx.ASGITransport(app=app)
        async with (
            running(app),
            httpx.AsyncClient(
                transport=transport, base_url="http://shop.test", headers=ADMIN_HEADERS
            ) as client,
        ):
            yield Shop(client, report_dir, os.environ["PAYMENTS_URL"])

    return open_


@pytest.fixture(params=["burnt", "healthy"])
def flavour(request: pytest.FixtureRequest) -> str:
    """Each flavour of the shop."""
    param: str = request.param
    return param


@pytest.fixture
async def shop(open_shop: OpenShop, flavour: str) -> AsyncIterator[Shop]:
    """The shop, started, on a fresh database, charging the real fake provider."""
    async with open_shop(flavour) as started:
        yield started
