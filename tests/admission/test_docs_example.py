"""docs/admission.md's example runs as written, and its options take effect."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from poise.admission.policy import CRITICAL, SHEDDABLE

DOC = Path(__file__).parents[2] / "docs" / "admission.md"


@pytest.mark.anyio
async def test_the_example_app() -> None:
    example = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)[0]
    namespace: dict[str, Any] = {}
    exec(compile(example, str(DOC), "exec"), namespace)
    app = namespace["app"]
    poise = app.state.poise
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.post("/checkout")).json() == {"status": "paid"}
        assert (await client.get("/reports/daily")).json() == {"status": "ready"}
        stats = (await client.get("/_poise/api/stats")).json()
    assert stats["admission"]["enabled"] is True
    assert stats["admission"]["in_flight"] == 0
    policies = poise._policies
    scope = {"method": "POST", "headers": []}
    assert policies.of(scope, "/checkout") == (CRITICAL, 2.0)
    assert policies.of({"method": "GET", "headers": []}, "/reports/daily") == (SHEDDABLE, None)
