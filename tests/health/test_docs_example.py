"""docs/health.md's example runs as written, against the real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_HEADERS
from tests.lifespan import running

pytestmark = [pytest.mark.anyio, pytest.mark.postgres, pytest.mark.redis]

DOC = Path(__file__).parents[2] / "docs" / "health.md"


async def test_the_register_checks_example() -> None:
    block = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)[0]
    namespace: dict[str, Any] = {}
    exec(compile(block, str(DOC), "exec"), namespace)
    app = namespace["app"]
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        for _ in range(100):
            if (await c.get("/readyz")).status_code == 200:
                break
            await asyncio.sleep(0.05)
        health = (await c.get("/healthz", headers=ADMIN_HEADERS)).json()
    checks = health["checks"]
    assert checks["postgres:responseTime"][0]["status"] == "pass", health
    assert checks["redis:responseTime"][0]["status"] == "pass", health
    assert checks["disk:free"][0]["observedUnit"] == "GiB"
    # Nothing listens on port 9: the non-critical payments check fails, the app is ready.
    assert checks["payments"][0]["status"] == "fail"
    assert checks["payments"][0]["output"].startswith("ConnectError")
    assert health["status"] == "warn"
    assert health["notes"] == ["ready"]
