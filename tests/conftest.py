"""Fixtures shared by every test: the anyio backend, a clean POISE_* environment, and
real uvicorn processes for the tests where the server matters."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

APPS_DIR = Path(__file__).parent / "apps"
CLEAN_STOP = (0, -signal.SIGTERM)
REQUIRE_SERVICES = os.environ.get("POISE_REQUIRE_SERVICES") == "1"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


#: Every test's apps (in-process and uvicorn processes) get this admin token, so a test
#: reads admin data on the app's port by sending ADMIN_HEADERS; the tests of the access
#: rule itself remove it.
ADMIN_TOKEN = "poise-tests-admin-token"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(autouse=True)
def clean_poise_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No POISE_* variable of the developer's shell leaks into a test's settings; the
    tests' admin token is set."""
    for name in list(os.environ):
        if name.startswith("POISE_") and name != "POISE_REQUIRE_SERVICES":
            monkeypatch.delenv(name)
    monkeypatch.setenv("POISE_ADMIN_TOKEN", ADMIN_TOKEN)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """A uvicorn process serving one of the apps in tests/apps."""

    base_url: str
    process: subprocess.Popen[bytes]
    log: Path
    #: The admin port's URL (POISE_ADMIN_PORT, set for every server): admin data without
    #: a token, as an operator on the host reads it.
    admin_url: str = ""

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, as an orchestrator would; the exit code once it has shut down.

        uvicorn re-raises the signal after a graceful shutdown, so a clean stop is
        ``-SIGTERM`` (not 0); a crash or a forced kill is anything else.
        """
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def _coverage_prefix() -> list[str]:
    """``-m coverage run`` when the tests themselves run under coverage.

    The servers' code paths (the watchdog's, uvicorn's lifespan) are then measured too;
    coverage saves their data on SIGTERM (``sigterm = true`` in pyproject.toml).
    """
    try:
        import coverage
    except ImportError:  # pragma: no cover
        return []
    if coverage.Coverage.current() is None:
        return []
    return ["-m", "coverage", "run", "--parallel-mode"]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start ``module:app`` from tests/apps under a real uvicorn on 127.0.0.1.

    Every process started is stopped when the test ends, whatever its outcome.
    """
    started: list[Server] = []

    def start(
        target: str,
        *,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
        runner: str = "uvicorn",
    ) -> Server:
        """``runner``: ``uvicorn`` (plain) or ``poise`` (``poise run``, with the drain)."""
        port = free_port()
        admin_port = free_port()
        env = {"POISE_ADMIN_PORT": str(admin_port), **(env or {})}
        log = tmp_path / f"{runner}-{port}.log"
        launcher = ["uvicorn", target, "--lifespan", "on"]
        if runner == "poise":
            launcher = ["poise", "run", target]
        command = [
            sys.executable, *_coverage_prefix(), "-m", *launcher,
            "--app-dir", str(APPS_DIR),
            "--host", "127.0.0.1", "--port", str(port), "--no-access-log", *args,
        ]  # fmt: skip
        with log.open("wb") as out:
            process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env}
            )
        server = Server(
            f"http://127.0.0.1:{port}", process, log, f"http://127.0.0.1:{env['POISE_ADMIN_PORT']}"
        )
        started.append(server)
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"uvicorn exited with {process.returncode}:\n{server.output()}")
            try:
                httpx.get(f"{server.base_url}/_poise/api/stats", timeout=1.0)
                return server
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail(f"uvicorn did not start within 30 s:\n{server.output()}")
                time.sleep(0.05)

    yield start
    for server in started:
        server.stop()
