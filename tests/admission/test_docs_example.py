"""docs/admission.md's example runs as written, and its options take effect."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import poise
from poise import Poise
from poise.admission.policy import CRITICAL, DEFAULT, SHEDDABLE
from poise.errors import SettingsError
from tests.conftest import ADMIN_HEADERS

DOC = Path(__file__).parents[2] / "docs" / "admission.md"


@pytest.mark.anyio
async def test_the_example_app() -> None:
    example = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)[0]
    namespace: dict[str, Any] = {}
    exec(compile(example, str(DOC), "exec"), namespace)
    app = namespace["app"]
    guard = app.state.poise
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.post("/checkout")).json() == {"status": "paid"}
        assert (await client.get("/reports/daily")).json() == {"status": "ready"}
        stats = (await client.get("/_poise/api/stats", headers=ADMIN_HEADERS)).json()
    assert stats["admission"]["enabled"] is True
    assert stats["admission"]["in_flight"] == 0
    policies = guard._policies
    scope = {"method": "POST", "headers": []}
    assert policies.of(scope, "/checkout") == (CRITICAL, 2.0, False)
    assert policies.of({"method": "GET", "headers": []}, "/reports/daily") == (
        SHEDDABLE,
        None,
        False,
    )


@pytest.mark.anyio
async def test_a_long_lived_route_bypasses_the_limit() -> None:
    """``@poise.route(long_lived=True)``: its requests take no slot (a long-poll holding
    one would keep others out), so they give none back either (no latency sample)."""
    app = FastAPI()
    seen: dict[str, int] = {}

    @app.get("/events")
    @poise.route(long_lived=True)
    async def events() -> dict[str, str]:
        seen["events"] = guard.admission.in_flight
        return {"status": "streaming"}

    @app.get("/orders")
    async def orders() -> dict[str, str]:
        seen["orders"] = guard.admission.in_flight
        return {"status": "listed"}

    guard = Poise(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/events")).json() == {"status": "streaming"}
        assert (await client.get("/orders")).json() == {"status": "listed"}
    assert seen == {"events": 0, "orders": 1}
    assert (guard.admission.arrived, guard.admission.completed) == (2, 1)
    scope = {"method": "GET", "headers": []}
    assert guard._policies.of(scope, "/events") == (DEFAULT, None, True)
    assert guard._policies.of(scope, "/orders") == (DEFAULT, None, False)


def test_route_options_are_validated() -> None:
    with pytest.raises(SettingsError, match="expected one of critical, default, sheddable"):
        poise.route(priority="urgent")
    with pytest.raises(SettingsError, match=r"expected seconds > 0"):
        poise.route(deadline=0)
    with pytest.raises(SettingsError, match="expected True or False"):
        poise.route(long_lived="yes")  # type: ignore[arg-type]
