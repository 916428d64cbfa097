"""The examples in the README and docs run as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_HEADERS

ROOT = Path(__file__).parents[1]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.S)


@pytest.mark.parametrize("doc", ["README.md", "docs/settings.md"])
@pytest.mark.anyio
async def test_python_examples_build_a_poised_app(doc: str) -> None:
    blocks = python_blocks(ROOT / doc)
    assert blocks, f"{doc} has no python example"
    for block in blocks:
        namespace: dict[str, Any] = {}
        exec(compile(block, doc, "exec"), namespace)
        app = namespace["app"]
        prefix = app.state.poise.settings.admin_prefix
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            if "get_order" in namespace:
                assert (await http.get("/orders/7")).json() == {"order_id": 7}
            stats = (await http.get(f"{prefix}/api/stats", headers=ADMIN_HEADERS)).json()
        if "get_order" in namespace:
            assert stats["routes"]["GET /orders/{order_id}"]["count"] == 1
