"""The per-route terminal table."""

from __future__ import annotations

from rich.console import Console

from poise.observe.table import incidents_table, routes_table


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


def test_loop_columns_and_incidents_grouped_by_site() -> None:
    frame = {"file": "/srv/app.py", "line": 42, "function": "report", "library": False}
    library = {"file": "/lib/x.py", "line": 1, "function": "x", "library": True}
    stats = {
        "routes": {
            "GET /report": {"count": 2, "errors": 0, "p50_s": 0.3, "p95_s": 0.3, "p99_s": 0.3,
                            "max_s": 0.3, "outcomes": {"ok": 2}, "on_loop_s": 0.29,
                            "stalled_s": 0.0},
        },
        "loop": {"incidents_total": 7},
        "incidents": [
            {"route": "GET /report", "duration_s": 0.3, "stack": [library, frame]},
            {"route": "GET /report", "duration_s": 0.2, "stack": [library, frame]},
            {"route": None, "duration_s": 0.1, "stack": []},
        ],
    }  # fmt: skip
    console = Console(width=200, record=True)
    console.print(routes_table(stats))
    console.print(incidents_table(stats))
    text = console.export_text()
    assert "on loop ms" in text
    assert "290.0" in text
    assert "7 in all, the last 3 grouped" in text
    report_row = next(line for line in text.splitlines() if "/srv/app.py:42 in report" in line)
    assert "500.0" in report_row  # total of the two blocks at that site
    assert "(no request)" in text


def test_thread_pool_and_gil_incidents_name_their_routes() -> None:
    stats = {
        "incidents": [
            {"kind": "threadpool_starved", "duration_s": 3.0, "deadlock": True,
             "routes": {"GET /items": 4}},
            {"kind": "threadpool_starved", "duration_s": 2.5, "deadlock": False,
             "routes": {"GET /report": 4}},
            {"kind": "gil_starved", "route": None, "duration_s": 0.09, "stack": [],
             "busy_routes": {"GET /crunch": 3}},
        ],
    }  # fmt: skip
    console = Console(width=200, record=True)
    console.print(incidents_table(stats))
    text = console.export_text()
    deadlock = next(line for line in text.splitlines() if "GET /items x4" in line)
    assert "thread pool starved (deadlock)" in deadlock
    saturated = next(line for line in text.splitlines() if "GET /report x4" in line)
    assert "thread pool starved (saturated)" in saturated
    gil = next(line for line in text.splitlines() if "GET /crunch x3" in line)
    assert "loop starved by thread-pool work (GIL)" in gil
