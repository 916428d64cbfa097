"""Per-route aggregates and the bounded ring of recent ledgers."""

from __future__ import annotations

from poise import Ledger
from poise.observe.stats import RequestStats, RouteStats


def ledger(route: str, wall: float, *, method: str = "GET", outcome: str = "ok") -> Ledger:
    item = Ledger(method)
    item.route = route
    item.wall = wall
    item.status = 500 if outcome == "error" else 200
    item.outcome = outcome  # type: ignore[assignment]
    return item


def test_routes_are_keyed_by_method_and_template() -> None:
    stats = RequestStats(recent=10)
    stats.record(ledger("/a", 0.010))
    stats.record(ledger("/a", 0.030, outcome="error"))
    stats.record(ledger("/a", 0.020, method="POST"))
    routes = stats.routes()
    assert list(routes) == ["GET /a", "POST /a"]
    assert routes["GET /a"]["count"] == 2
    assert routes["GET /a"]["errors"] == 1
    assert routes["GET /a"]["outcomes"] == {"error": 1, "ok": 1}
    assert routes["GET /a"]["max_s"] == 0.03
    assert routes["GET /a"]["mean_s"] == 0.02
    assert set(routes["GET /a"]) >= {"p50_s", "p95_s", "p99_s"}


def test_ring_is_bounded_and_slowest_is_sorted() -> None:
    stats = RequestStats(recent=5)
    for i in range(20):
        stats.record(ledger(f"/r{i}", wall=(i % 7) / 100))
    assert stats.capacity == 5
    recent = stats.recent(10)
    assert [item.route for item in recent] == ["/r19", "/r18", "/r17", "/r16", "/r15"]
    slowest = stats.slowest(2)
    assert [item.wall for item in slowest] == [0.05, 0.04]
    # The aggregates keep counting past the ring.
    assert sum(row["count"] for row in stats.routes().values()) == 20


def test_route_stats_merge() -> None:
    a, b = RouteStats(), RouteStats()
    a.record(ledger("/a", 0.01))
    b.record(ledger("/a", 0.02, outcome="error"))
    b.record(ledger("/a", 0.03, outcome="client_disconnected"))
    a.merge(b)
    row = a.to_dict()
    assert (row["count"], row["errors"]) == (3, 1)
    assert row["outcomes"] == {"client_disconnected": 1, "error": 1, "ok": 1}


def test_ledger_repr_and_json_form() -> None:
    item = ledger("/orders/{order_id}", 0.25)
    assert repr(item) == "<Ledger GET /orders/{order_id} status=200 outcome=ok wall=0.250000s>"
    data = item.to_dict()
    assert data["route"] == "/orders/{order_id}"
    assert data["wall_s"] == 0.25
    assert data["at"].endswith("+00:00")
