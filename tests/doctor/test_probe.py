"""The live probe: a real app run in-process, its GET routes burst, blocks measured."""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
from pathlib import Path

from tests.doctor.conftest import WriteProject, doctor_command

PROBED_APP = """
    import time
    from typing import Annotated

    from fastapi import FastAPI, Path

    app = FastAPI()
    started = []


    @app.on_event("startup")
    async def start() -> None:
        started.append(True)


    @app.get("/slow/{item}")
    async def slow(item: Annotated[str, Path(examples=["book"])]) -> dict[str, str]:
        if not started:
            raise RuntimeError("the probe did not run the lifespan")
        time.sleep(0.1)
        return {"item": item}


    @app.get("/fast")
    async def fast(q: int = 3) -> dict[str, int]:
        return {"q": q}


    @app.get("/needs/{thing}")
    async def needs(thing: int) -> dict[str, int]:
        return {"thing": thing}
"""


def probe(root: Path, target: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        doctor_command(target, "--probe", "--format", "json", "--no-cache",
                       "--probe-requests", "6", *extra),
        cwd=root, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_probe_measures_blocks_and_confirms_the_finding(write_project: WriteProject) -> None:
    root = write_project({"shop.py": PROBED_APP})
    result = probe(root, "shop:app")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    routes = {r["route"]: r for r in report["probe"]["routes"]}
    assert routes["GET /slow/{item}"]["statuses"] == {"200": 6}
    assert routes["GET /fast"]["statuses"] == {"200": 6}
    assert routes["GET /needs/{thing}"]["skipped"] == "no example or default for thing"
    blocks = report["probe"]["incidents"]
    assert len(blocks) >= 3
    assert {b["route"] for b in blocks} == {"GET /slow/{item}"}
    assert all(b["duration_s"] >= 0.05 for b in blocks)
    # A block the watchdog thread was not scheduled in time to sample has no stack (a
    # busy CI machine does that); the ones it did sample must all point at the sleep.
    located = {(b["file"], b["line"]) for b in blocks if b["file"] is not None}
    assert located == {("shop.py", 19)}
    sleep = next(f for f in report["findings"] if f["rule"] == "PSE101")
    assert (sleep["line"], sleep["confirmed"]) == (19, True)
    on_event = next(f for f in report["findings"] if f["rule"] == "PSE107")
    assert on_event["confirmed"] is False


def test_probe_reuses_an_installed_poise(write_project: WriteProject) -> None:
    installed = textwrap.dedent(PROBED_APP) + "\n\nfrom poise import Poise\n\nPoise(app)\n"
    root = write_project({"shop.py": installed})
    result = probe(root, "shop.py")
    report = json.loads(result.stdout)
    assert any(i["line"] == 19 for i in report["probe"]["incidents"]), result.stderr


def test_probe_failing_startup_exits_2(write_project: WriteProject) -> None:
    root = write_project({"shop.py": """
        from contextlib import asynccontextmanager

        from fastapi import FastAPI


        @asynccontextmanager
        async def lifespan(app):
            raise ConnectionRefusedError("database is down")
            yield


        app = FastAPI(lifespan=lifespan)
    """})  # fmt: skip
    result = probe(root, "shop:app")
    assert result.returncode == 2
    assert result.stderr.startswith("poise doctor: the app's start-up failed: ")
    assert "database is down" in result.stderr
    assert "Traceback" not in result.stderr


def test_probe_of_a_directory_is_refused(write_project: WriteProject) -> None:
    root = write_project({"shop.py": PROBED_APP})
    result = probe(root, ".")
    assert result.returncode == 2
    assert "--probe needs package.module:app or a file" in result.stderr


def test_the_guides_example_is_probed(write_project: WriteProject) -> None:
    """docs/doctor.md shows how to give a path parameter an example; it works as shown."""
    guide = (Path(__file__).parents[2] / "docs" / "doctor.md").read_text(encoding="utf-8")
    (example,) = re.findall(r"```python\n(.*?)```", guide, re.DOTALL)
    root = write_project({"fx.py": example})
    result = probe(root, "fx:app")
    assert result.returncode == 0, result.stderr
    (route,) = json.loads(result.stdout)["probe"]["routes"]
    assert route == {"route": "GET /fx/{currency}", "sent": 6, "statuses": {"200": 6},
                     "skipped": None}  # fmt: skip
