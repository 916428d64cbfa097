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


def test_shed_requests_are_counted_but_kept_out_of_served_latency() -> None:
    stats = RequestStats(recent=100)
    for _ in range(3):
        stats.record(ledger("/a", 0.100))
    for reason in ("limit", "limit", "queue_timeout"):
        shed = ledger("/a", 0.0001, outcome="shed")
        shed.status = 503
        shed.shed_reason = reason  # type: ignore[assignment]
        stats.record(shed)
    late = ledger("/a", 0.0001, outcome="deadline")
    late.status = 504
    late.shed_reason = "deadline"
    stats.record(late)
    not_found = ledger("/a", 0.050)
    not_found.status = 404
    hung = ledger("/a", 0.100)
    hung.hung = True
    stats.record(not_found)
    stats.record(hung)

    row = stats.routes()["GET /a"]
    assert row["count"] == 9
    assert row["served"] == 5
    # Four refusals of 0.1 ms would put the p50 at 0.1 ms if they counted.
    assert row["p50_s"] is not None
    assert row["p50_s"] > 0.04
    assert row["statuses"] == {"2xx": 4, "4xx": 1, "503_shed": 3, "504_unstarted": 1}
    assert row["shed_reasons"] == {"deadline": 1, "limit": 2, "queue_timeout": 1}
    assert row["shed"] == 3
    assert row["hung"] == 1

    merged = RouteStats()
    merged.merge(stats._routes["GET"]["/a"])
    assert merged.to_dict()["statuses"] == row["statuses"]
    assert merged.to_dict()["count"] == 9
