"""Render ``/_poise/api/stats`` as terminal tables (the demo, later ``poise top``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from rich.table import Table

__all__ = ["incidents_table", "routes_table"]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1e3:.1f}"


def routes_table(stats: Mapping[str, Any], *, title: str = "poise: per-route latency") -> Table:
    """A table of every route in a stats document, slowest p99 first.

    The ``on loop`` and ``stalled`` columns (means, from the loop monitor) appear when
    the document has them.

    Args:
        stats: the JSON document of ``/_poise/api/stats`` (parsed).
        title: the table's title.
    """
    routes: Mapping[str, Mapping[str, Any]] = stats.get("routes") or {}
    with_loop = any(row.get("on_loop_s") is not None for row in routes.values())
    table = Table(title=title, title_justify="left")
    table.add_column("route")
    columns = ["count", "errors", "p50 ms", "p95 ms", "p99 ms", "max ms"]
    if with_loop:
        columns += ["on loop ms", "stalled ms"]
    for name in columns:
        table.add_column(name, justify="right")
    table.add_column("outcomes")
    for route, row in sorted(routes.items(), key=lambda item: -(item[1].get("p99_s") or 0.0)):
        cells = [
            route,
            str(row["count"]),
            str(row["errors"]),
            _ms(row.get("p50_s")),
            _ms(row.get("p95_s")),
            _ms(row.get("p99_s")),
            _ms(row.get("max_s")),
        ]
        if with_loop:
            cells += [_ms(row.get("on_loop_s")), _ms(row.get("stalled_s"))]
        cells.append(", ".join(f"{k} {v}" for k, v in row.get("outcomes", {}).items()))
        table.add_row(*cells)
    return table


def _culprit_and_site(incident: Mapping[str, Any]) -> tuple[str, str]:
    """What to blame and where, by the incident's kind."""
    kind = incident.get("kind", "block")
    if kind == "threadpool_starved":
        holders = ", ".join(f"{r} x{n}" for r, n in (incident.get("routes") or {}).items())
        what = "deadlock" if incident.get("deadlock") else "saturated"
        return holders or "(unknown routes)", f"thread pool starved ({what})"
    if kind == "gil_starved":
        busy_routes = incident.get("busy_routes") or {}
        busy = ", ".join(f"{r} x{n}" for r, n in busy_routes.items()) or "thread-pool work"
        return busy, "loop starved by thread-pool work (GIL)"
    user = [f for f in incident.get("stack", []) if not f.get("library")]
    site = f"{user[-1]['file']}:{user[-1]['line']} in {user[-1]['function']}" if user else "?"
    return incident.get("route") or "(no request)", site


def incidents_table(stats: Mapping[str, Any], *, title: str | None = None) -> Table:
    """The incidents kept in a stats document, grouped by route and code site.

    The site is the innermost frame of the project's own code (``library: false``).
    """
    incidents: list[Mapping[str, Any]] = stats.get("incidents") or []
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    for incident in incidents:
        culprit, site = _culprit_and_site(incident)
        groups[(culprit, site)].append(incident["duration_s"])
    loop = stats.get("loop") or {}
    pool = any(i.get("kind") == "threadpool_starved" for i in incidents)
    table = Table(
        title=title
        or (
            f"poise: event-loop blocks{' and thread-pool starvation' if pool else ''} "
            f"({loop.get('incidents_total', len(incidents))} in all, "
            f"the last {len(incidents)} grouped)"
        ),
        title_justify="left",
    )
    table.add_column("culprit")
    table.add_column("where")
    table.add_column("blocks", justify="right")
    table.add_column("longest ms", justify="right")
    table.add_column("total ms", justify="right")
    for (route, site), durations in sorted(groups.items(), key=lambda item: -sum(item[1])):
        table.add_row(
            route,
            site,
            str(len(durations)),
            _ms(max(durations)),
            _ms(sum(durations)),
        )
    return table
