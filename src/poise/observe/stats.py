"""Per-route aggregates and the ring of recent requests, fed by finished ledgers.

Both live on the event-loop thread: the ledger middleware records into them after each
response, and the admin API reads them, so no lock is taken on the request path.
"""

from __future__ import annotations

import heapq
from collections import deque
from operator import attrgetter
from typing import Any

from poise.ledger import Ledger
from poise.observe.histogram import LatencyHistogram

__all__ = ["RequestStats", "RouteStats"]

_QUANTILES = (("p50_s", 0.50), ("p95_s", 0.95), ("p99_s", 0.99))
_by_wall = attrgetter("wall")


# Status classes by ``status // 100``; 0 means no response was started.
_CLASSES = ("none", "1xx", "2xx", "3xx", "4xx", "5xx")


class RouteStats:
    """One ``METHOD /template``: a latency histogram of the requests the app *served*,
    the count of each outcome and status class, and the sums of the ledger's time parts
    (reported as means over the served requests).

    A request poise answered without running it (a 503 shed, a 504 whose deadline
    passed before it could start) is counted (``statuses`` ``503_shed`` /
    ``504_unstarted``, ``shed_reasons``) but kept out of the latency percentiles: its
    sub-millisecond refusal says nothing about how fast the route serves, and
    thousands of them would drag its p50 towards zero.
    """

    __slots__ = (
        "count",
        "hung",
        "latency",
        "on_loop",
        "outcomes",
        "shed_reasons",
        "stalled",
        "statuses",
        "threadpool_queue",
        "threadpool_run",
    )

    def __init__(self) -> None:
        self.count = 0
        self.hung = 0
        self.latency = LatencyHistogram()
        self.outcomes: dict[str, int] = {}
        self.statuses: dict[str, int] = {}
        self.shed_reasons: dict[str, int] = {}
        self.on_loop = 0.0
        self.stalled = 0.0
        self.threadpool_queue = 0.0
        self.threadpool_run = 0.0

    def record(self, ledger: Ledger) -> None:
        """Count one finished request."""
        self.count += 1
        outcome = ledger.outcome or "error"
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        reason = ledger.shed_reason
        if reason is not None:
            key = "504_unstarted" if ledger.status == 504 else "503_shed"
            self.statuses[key] = self.statuses.get(key, 0) + 1
            self.shed_reasons[reason] = self.shed_reasons.get(reason, 0) + 1
            return
        status = ledger.status // 100
        key = _CLASSES[status] if 0 <= status < 6 else "other"
        self.statuses[key] = self.statuses.get(key, 0) + 1
        if ledger.hung:
            self.hung += 1
        self.latency.record(ledger.wall)
        self.on_loop += ledger.on_loop
        self.stalled += ledger.stalled
        self.threadpool_queue += ledger.threadpool_queue
        self.threadpool_run += ledger.threadpool_run

    @property
    def errors(self) -> int:
        """Requests whose outcome was ``error`` (the app raised or answered 5xx)."""
        return self.outcomes.get("error", 0)

    def merge(self, other: RouteStats) -> None:
        """Add ``other``'s requests to this one (as from another worker)."""
        self.count += other.count
        self.hung += other.hung
        self.latency.merge(other.latency)
        for mine, theirs in (
            (self.outcomes, other.outcomes),
            (self.statuses, other.statuses),
            (self.shed_reasons, other.shed_reasons),
        ):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n
        self.on_loop += other.on_loop
        self.stalled += other.stalled
        self.threadpool_queue += other.threadpool_queue
        self.threadpool_run += other.threadpool_run

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of one route in ``/_poise/api/stats``."""
        latency = self.latency
        row: dict[str, Any] = {"count": self.count, "served": latency.count}
        row["errors"] = self.errors
        for name, q in _QUANTILES:
            value = latency.quantile(q)
            row[name] = None if value is None else round(value, 6)
        mean = latency.mean
        row["mean_s"] = None if mean is None else round(mean, 6)
        row["max_s"] = round(latency.max, 6)
        row["outcomes"] = dict(sorted(self.outcomes.items()))
        row["statuses"] = dict(sorted(self.statuses.items()))
        row["shed"] = self.outcomes.get("shed", 0)
        row["shed_reasons"] = dict(sorted(self.shed_reasons.items()))
        row["deadline"] = self.outcomes.get("deadline", 0)
        row["hung"] = self.hung
        count = latency.count
        for name in ("on_loop", "stalled", "threadpool_queue", "threadpool_run"):
            total: float = getattr(self, name)
            row[f"{name}_s"] = round(total / count, 6) if count else None
        return row


class RequestStats:
    """Everything the admin API reports about finished requests.

    Args:
        recent: how many finished ledgers the ring keeps.
    """

    def __init__(self, *, recent: int) -> None:
        # method -> template -> stats: two dict lookups, no key string built per request.
        self._routes: dict[str, dict[str, RouteStats]] = {}
        self._recent: deque[Ledger] = deque(maxlen=recent)

    def record(self, ledger: Ledger) -> None:
        """The ledger sink: count ``ledger`` and keep it in the recent ring."""
        try:
            route = self._routes[ledger.method][ledger.route]
        except KeyError:
            route = self._routes.setdefault(ledger.method, {}).setdefault(
                ledger.route, RouteStats()
            )
        route.record(ledger)
        self._recent.append(ledger)

    def routes(self) -> dict[str, dict[str, Any]]:
        """``"METHOD /template"`` -> its JSON row, sorted by key."""
        rows = {
            f"{method} {template}": stats.to_dict()
            for method, by_template in self._routes.items()
            for template, stats in by_template.items()
        }
        return dict(sorted(rows.items()))

    def slowest(self, n: int) -> list[Ledger]:
        """The ``n`` slowest ledgers in the ring, slowest first."""
        return heapq.nlargest(n, self._recent, key=_by_wall)

    def recent(self, n: int) -> list[Ledger]:
        """The ``n`` most recent ledgers, newest first."""
        out: list[Ledger] = []
        for ledger in reversed(self._recent):
            if len(out) == n:
                break
            out.append(ledger)
        return out

    @property
    def capacity(self) -> int:
        """How many ledgers the ring holds at most."""
        maxlen = self._recent.maxlen
        assert maxlen is not None
        return maxlen
