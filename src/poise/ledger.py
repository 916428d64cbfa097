"""The request ledger: one object per HTTP request that every poise component writes into.

The outermost poise middleware creates it, makes it current in a context variable for
the whole request (tasks the request spawns inherit it), and hands it to the ledger
sinks once the last body byte has gone out. Components that come later (loop timing,
admission, pools, outbound calls) add fields here and write them through
:func:`current_ledger`; the middleware does not change.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Final, Literal

__all__ = ["UNMATCHED", "Ledger", "LedgerSink", "Outcome", "ShedReason", "current_ledger"]

Outcome = Literal["ok", "error", "client_disconnected", "shed", "deadline"]

#: Why a request was not let into the app (see docs/admission.md).
ShedReason = Literal["limit", "queue_timeout", "priority", "deadline", "draining"]

# time.time() - time.perf_counter(), taken once: perf_counter does not jump with NTP
# adjustments, so wall-clock times derived from it can drift by the adjustments made
# since start-up (milliseconds), which is fine for display.
_EPOCH_OFFSET: Final = time.time() - time.perf_counter()

#: The route label of a request no route matched (a 404 from the router itself).
UNMATCHED: Final = "<unmatched>"


class Ledger:
    """Where one request's time went, and how it ended.

    Attributes:
        method: the HTTP method.
        route: the route template (``/orders/{order_id}``), never the raw path, or
            ``"<unmatched>"``. Resolved after routing, so empty while in flight.
        status: the response status sent (0 until the response starts; 500 when the
            app raised before starting one, as that is what the server sends).
        outcome: ``ok``, ``error``, ``client_disconnected``, ``shed`` (answered 503
            by admission, never started) or ``deadline`` (504, or cut off, at its
            deadline); ``None`` while in flight. A component that ends a request on
            purpose sets it first and the middleware keeps it.
        start: when the request arrived, on the ``time.perf_counter()`` clock.
        started_at: the same instant as wall-clock time (``time.time()`` form).
        wall: seconds from poise receiving the request (its admission wait included)
            to the last body byte handed to the server (or to the app returning, when
            the response never completed); 0.0 while the response is in flight.
        on_loop: seconds this request's own code ran on the event-loop thread: the
            steps of its task and of the tasks it spawned (``poise.loop``).
        stalled: seconds this request was alive while other code held the loop in a
            blocking step (a step longer than ``block_threshold``).
        stalled_by: who stalled it: ``"METHOD /template"`` of the culprit request, or
            ``"<no request>"`` for code outside any request, to seconds. ``None``
            until the request is first stalled.
        threadpool_queue: seconds spent waiting for a worker thread (a token of the
            thread limiter) in ``run_in_threadpool`` / ``anyio.to_thread.run_sync``, for
            the calls that got one (a call cancelled while it waits is not counted).
        threadpool_run: seconds of work in worker threads.
        threadpool_jumps: how many calls of the request ran in the thread pool.
        admission_wait: seconds it waited in admission's queue before entering the app
            (part of ``wall``).
        queued_behind_block: an estimate of the seconds it waited in the server's and
            the kernel's buffers, before poise saw it, because a loop block was going
            on: the block's length for a request that reached poise right after it
            ended (an upper bound: see docs/loop.md). Not part of ``wall``.
        shed_reason: why it was not let into the app (``limit``, ``queue_timeout``,
            ``priority``, ``deadline``, ``draining``), ``None`` if it was.
        hung: it ran longer than ``hung_after`` without starting its response.
    """

    __slots__ = (
        "admission_wait",
        "hung",
        "method",
        "on_loop",
        "outcome",
        "queued_behind_block",
        "route",
        "shed_reason",
        "stalled",
        "stalled_by",
        "start",
        "status",
        "threadpool_jumps",
        "threadpool_queue",
        "threadpool_run",
        "wall",
    )

    def __init__(self, method: str) -> None:
        self.method = method
        self.route = ""
        self.status = 0
        self.outcome: Outcome | None = None
        self.start = time.perf_counter()
        self.wall = 0.0
        self.on_loop = 0.0
        self.stalled = 0.0
        self.stalled_by: dict[str, float] | None = None
        self.threadpool_queue = 0.0
        self.threadpool_run = 0.0
        self.threadpool_jumps = 0
        self.admission_wait = 0.0
        self.queued_behind_block = 0.0
        self.shed_reason: ShedReason | None = None
        self.hung = False

    @property
    def started_at(self) -> float:
        # Derived rather than read per request: one clock call saved on the hot path.
        return _EPOCH_OFFSET + self.start

    def to_dict(self) -> dict[str, Any]:
        """The JSON form used by ``/_poise/api/requests``."""
        return {
            "at": datetime.fromtimestamp(self.started_at, UTC).isoformat(),
            "method": self.method,
            "route": self.route,
            "status": self.status,
            "outcome": self.outcome,
            "wall_s": round(self.wall, 6),
            "on_loop_s": round(self.on_loop, 6),
            "stalled_s": round(self.stalled, 6),
            "stalled_by": {k: round(v, 6) for k, v in (self.stalled_by or {}).items()},
            "threadpool_queue_s": round(self.threadpool_queue, 6),
            "threadpool_run_s": round(self.threadpool_run, 6),
            "threadpool_jumps": self.threadpool_jumps,
            "admission_wait_s": round(self.admission_wait, 6),
            "queued_behind_block_s": round(self.queued_behind_block, 6),
            "shed_reason": self.shed_reason,
            "hung": self.hung,
        }

    def __repr__(self) -> str:
        return (
            f"<Ledger {self.method} {self.route or '?'} status={self.status} "
            f"outcome={self.outcome} wall={self.wall:.6f}s>"
        )


#: Receives every finished ledger, on the event-loop thread. Must be quick and must not
#: raise (an exception is caught, counted and logged once, and the next sink still runs).
LedgerSink = Callable[[Ledger], None]

_current: ContextVar[Ledger | None] = ContextVar("poise_ledger", default=None)


def current_ledger() -> Ledger | None:
    """The ledger of the request being handled, or ``None`` outside a request."""
    return _current.get()
