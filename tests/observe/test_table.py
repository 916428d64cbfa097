"""The per-route terminal table."""

from __future__ import annotations

from rich.console import Console

from poise.observe.table import routes_table


def test_routes_sorted_by_p99_with_milliseconds() -> None:
    stats = {
        "routes": {
            "GET /fast": {"count": 10, "errors": 0, "p50_s": 0.001, "p95_s": 0.002,
                          "p99_s": 0.003, "max_s": 0.004, "outcomes": {"ok": 10}},
            "POST /slow": {"count": 2, "errors": 1, "p50_s": 0.2, "p95_s": 0.3,
                           "p99_s": 0.45, "max_s": 0.5, "outcomes": {"error": 1, "ok": 1}},
        }
    }  # fmt: skip
    console = Console(width=160, record=True)
    console.print(routes_table(stats))
    text = console.export_text()
    assert text.index("POST /slow") < text.index("GET /fast")
    assert "450.0" in text
    assert "error 1, ok 1" in text


def test_empty_stats_render_an_empty_table() -> None:
    console = Console(width=120, record=True)
    console.print(routes_table({"routes": {}}))
    assert "route" in console.export_text()
