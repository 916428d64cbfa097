"""Render the per-route statistics of ``/_poise/api/stats`` as a terminal table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

__all__ = ["routes_table"]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1e3:.1f}"


def routes_table(stats: Mapping[str, Any], *, title: str = "poise: per-route latency") -> Table:
    """A table of every route in a stats document, slowest p99 first.

    Args:
        stats: the JSON document of ``/_poise/api/stats`` (parsed).
        title: the table's title.
    """
    table = Table(title=title, title_justify="left")
    table.add_column("route")
    for name in ("count", "errors", "p50 ms", "p95 ms", "p99 ms", "max ms"):
        table.add_column(name, justify="right")
    table.add_column("outcomes")
    routes: Mapping[str, Mapping[str, Any]] = stats.get("routes") or {}
    for route, row in sorted(routes.items(), key=lambda item: -(item[1].get("p99_s") or 0.0)):
        outcomes = ", ".join(f"{k} {v}" for k, v in row.get("outcomes", {}).items())
        table.add_row(
            route,
            str(row["count"]),
            str(row["errors"]),
            _ms(row.get("p50_s")),
            _ms(row.get("p95_s")),
            _ms(row.get("p99_s")),
            _ms(row.get("max_s")),
            outcomes,
        )
    return table
