"""`poise run` itself: factories, bare ASGI apps, workers, and its exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import APPS_DIR, free_port

pytestmark = pytest.mark.uvicorn


def poise_run(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "poise", "run", *args, "--app-dir", str(APPS_DIR),
         "--no-access-log"],
        env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


def wait_answering(port: int, path: str = "/livez", within: float = 30) -> httpx.Response:
    deadline = time.monotonic() + within
    while True:
        try:
            return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def stop(process: subprocess.Popen[str], within: float = 30) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=within)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return process.returncode, output


def test_factory_with_two_workers_drains_each(tmp_path: Path) -> None:
    port = free_port()
    marker = tmp_path / "marker"
    process = poise_run("runnable:create_app", "--factory", "--workers", "2",
                        "--port", str(port), "--drain-delay", "0.5",
                        env={"MARKER": str(marker)})  # fmt: skip
    try:
        assert wait_answering(port, "/readyz").status_code in (200, 503)
        pids = set()
        deadline = time.monotonic() + 20
        while len(pids) < 2 and time.monotonic() < deadline:
            pids.add(httpx.get(f"http://127.0.0.1:{port}/", timeout=2).json()["pid"])
        assert len(pids) == 2  # both workers serve, each with poise installed
    finally:
        code, output = stop(process)
    assert code == 0, output
    assert output.count("SIGTERM: draining") == 2
    assert sorted(marker.read_text().split()) == sorted(
        ["shutdown", "shutdown", *map(str, pids)]
    )  # both workers ran the app's shutdown


def test_a_bare_asgi_app_gets_poise_around_it() -> None:
    port = free_port()
    process = poise_run("runnable:bare", "--port", str(port), "--drain-delay", "0")
    try:
        assert wait_answering(port).json() == {"status": "pass"}
        assert httpx.get(f"http://127.0.0.1:{port}/x", timeout=2).text == "bare"
    finally:
        code, output = stop(process)
    assert code == 0, output


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nowhere:app", "poise run: cannot load 'nowhere:app'"),
        ("runnable:missing", "poise run: cannot load 'runnable:missing'"),
        ("runnable:not_an_app", "poise run: 'runnable:not_an_app' is a int, not an ASGI app"),
        ("runnable", "poise run: cannot load 'runnable'"),
        ("runnable:zero_args", "poise run: 'runnable:zero_args' is not an ASGI app"),
        ("exits_at_import:app", "poise run: importing 'exits_at_import:app' failed: SystemExit"),
    ],
)
def test_a_target_that_does_not_load_exits_2_with_one_line(
    target: str, message: str, workers: str
) -> None:
    """Also with workers: uvicorn's supervisor would restart a failing worker forever."""
    result = subprocess.run(
        [sys.executable, "-m", "poise", "run", target, "--app-dir", str(APPS_DIR),
         "--workers", workers, "--port", str(free_port())],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_bad_setting_exits_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "poise", "run", "runnable:bare", "--app-dir", str(APPS_DIR),
         "--drain-delay", "soon"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "POISE_DRAIN_DELAY='soon' is not valid" in result.stderr


def test_a_factory_that_returns_no_app_exits_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "poise", "run", "runnable:create_broken_app", "--factory",
         "--app-dir", str(APPS_DIR), "--port", str(free_port())],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "'runnable:create_broken_app()' is a int, not an ASGI app" in result.stderr


def test_a_worker_that_cannot_load_the_app_stops_the_supervisor() -> None:
    process = poise_run("fails_in_worker:app", "--port", str(free_port()), "--workers", "2")
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 3, output
    assert "poise run: importing 'fails_in_worker:app' failed: RuntimeError" in output
    assert "Traceback" not in output


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_failing_start_up_exits_3(workers: str) -> None:
    process = poise_run("runnable:broken", "--port", str(free_port()), "--workers", workers)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 3, output
    assert "the database is not there" in output


def test_each_poise_line_appears_once_when_the_app_configures_root_logging() -> None:
    """An app calling logging.basicConfig got every poise line twice under `poise run`
    (poise's handler, then the root's), the unknown-variable warning too."""
    port = free_port()
    process = poise_run("runnable:create_logging_app", "--factory", "--port", str(port),
                        "--drain-delay", "0", env={"POISE_DRAIN_DELAYY": "1"})  # fmt: skip
    assert wait_answering(port, "/readyz").status_code in (200, 503)
    code, output = stop(process)
    assert code == 0, output
    lines = output.splitlines()
    unknown = [line for line in lines if "ignoring unknown environment variable" in line]
    assert len(unknown) == 1, output
    drain = [line for line in lines if "readiness" in line and "draining" in line]
    assert len(drain) == 1, output


def test_env_file_is_loaded_before_the_settings_and_the_app(tmp_path: Path) -> None:
    port, admin_port = free_port(), free_port()
    env_file = tmp_path / "app.env"
    env_file.write_text(f"POISE_ADMIN_PORT={admin_port}\nPOISE_DRAIN_DELAY=0\n")
    process = poise_run("runnable:create_app", "--factory", "--port", str(port),
                        "--env-file", str(env_file))  # fmt: skip
    try:
        wait_answering(port)
        # poise's settings saw the file: the admin port it names is open.
        assert httpx.get(f"http://127.0.0.1:{admin_port}/_poise/api/stats").status_code == 200
    finally:
        code, output = stop(process)
    assert code == 0, output


def test_log_config_is_uvicorns(tmp_path: Path) -> None:
    config = tmp_path / "logging.json"
    config.write_text(json.dumps({
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"custom": {"format": "CUSTOM %(levelname)s %(message)s"}},
        "handlers": {"out": {"class": "logging.StreamHandler", "formatter": "custom",
                             "stream": "ext://sys.stderr"}},
        "loggers": {"uvicorn.error": {"handlers": ["out"], "level": "INFO", "propagate": False}},
    }))  # fmt: skip
    port = free_port()
    process = poise_run("runnable:create_app", "--factory", "--port", str(port),
                        "--log-config", str(config), "--drain-delay", "0")  # fmt: skip
    wait_answering(port)
    code, output = stop(process)
    assert code == 0, output
    assert "CUSTOM INFO Application startup complete." in output


def test_reload_restarts_on_a_change(tmp_path: Path) -> None:
    module = tmp_path / "reloadable.py"
    source = (
        "from fastapi import FastAPI\n"
        "app = FastAPI()\n"
        "@app.get('/v')\n"
        "async def v() -> dict[str, int]:\n"
        "    return {'v': VERSION}\n"
    )
    module.write_text("VERSION = 1\n" + source)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "poise", "run", "reloadable:app", "--reload", "--app-dir",
         str(tmp_path), "--port", str(port), "--drain-delay", "0", "--no-access-log"],
        env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        try:
            assert wait_answering(port, "/v").json() == {"v": 1}
        except httpx.TransportError:
            pytest.fail(f"never answered:\n{stop(process)[1]}")
        module.write_text("VERSION = 2\n" + source)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v", timeout=1).json() == {"v": 2}:
                    break
            except (httpx.TransportError, ValueError):
                pass
            time.sleep(0.2)
        else:
            pytest.fail("the change was not reloaded within 20 s")
    finally:
        _, output = stop(process)
    assert "Will watch for changes" in output, output


def test_tls_options_reach_uvicorn(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"],
        capture_output=True, check=False,
    )  # fmt: skip
    if made.returncode != 0:
        pytest.skip(f"openssl could not make a certificate: {made.stderr!r}")
    port = free_port()
    process = poise_run("runnable:create_app", "--factory", "--port", str(port),
                        "--ssl-keyfile", str(key), "--ssl-certfile", str(cert),
                        "--drain-delay", "0")  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"https://127.0.0.1:{port}/livez", verify=False, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        assert response.status_code == 200
    finally:
        code, output = stop(process)
    assert code == 0, output


def test_timeout_graceful_shutdown_is_the_drain_timeout() -> None:
    from click.testing import CliRunner

    from poise.cli import main

    result = CliRunner().invoke(main, ["run", "--help"])
    assert "--timeout-graceful-shutdown" in result.output
    assert "--drain-timeout" in result.output
