"""``make demo``: the burnt shop under real uvicorn processes, then poise's table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


@pytest.mark.uvicorn
@pytest.mark.parametrize("flavour", ["burnt", "healthy"])
def test_demo_prints_the_per_route_table(flavour: str) -> None:
    result = subprocess.run(
        [
            sys.executable, str(ROOT / "examples" / "demo.py"),
            "--app", flavour, "--orders", "8", "--requests", "40", "--concurrency", "4",
        ],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    # First the static audit of the same code...
    assert f"poise doctor examples/shop/{flavour}.py" in out
    if flavour == "burnt":
        assert "GET /fx/{currency} -> exchange_rate (burnt.py:" in out
        assert "6 error(s), 6 warning(s)" in out
    else:
        assert "0 error(s), 0 warning(s)" in out
    # ...then the measured view of it under load.
    assert f"per-route latency of the {flavour} shop" in out
    for route in (
        "POST /orders",
        "GET /orders/{order_id}",
        "GET /fx/{currency}",
        "GET <unmatched>",
    ):
        assert route in out, route
    # 8 orders placed, all of them counted in the POST /orders row.
    post_row = next(line for line in out.splitlines() if "POST /orders" in line and "│" in line)
    assert post_row.split("│")[2].strip() == "8"
    assert "the slowest recent requests" in out
    # poise's own health view: the loop lag and shedding always; the healthy shop also
    # registered its database (critical) and payment provider (not critical) checks.
    assert "poise health: /readyz 200 (ready)" in out
    assert "eventloop:lag" in out
    if flavour == "healthy":
        assert "database:responseTime" in out
        assert "database:connections" in out
        assert "payments" in out
    assert "event-loop blocks" in out
    if flavour == "burnt":
        # The burnt shop's blocking calls, found and located at the demo's threshold.
        assert "burnt.py" in out or "common.py" in out
