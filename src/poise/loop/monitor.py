"""The loop monitor: state shared by the loop thread and the watchdog, heartbeat, stalls.

On the loop thread it keeps the requests in flight, the heartbeat that measures loop
lag, and turns a blocking step into stall time for every other request in flight. The
fields the watchdog thread reads (``current``, ``step_started``, ``steps``,
``last_beat``) are plain attributes written by the loop thread: a reader on another
thread sees either the old or the new value, never a torn one, which is all it needs.
"""

from __future__ import annotations

import asyncio
import math
import sys
import threading
from collections import deque
from collections.abc import Callable
from time import perf_counter
from types import CodeType
from typing import Any, Final

from poise._internal import InternalErrors
from poise.ledger import Ledger
from poise.loop import threadpool
from poise.loop.incidents import IncidentStore
from poise.loop.steps import TaskFactory, task_factory
from poise.loop.watchdog import BlockEvent, Watchdog
from poise.types import Scope

__all__ = ["BEAT_INTERVAL", "NO_REQUEST", "LoopMonitor"]

#: How often the heartbeat runs; its lateness is the loop lag. Ten times a second is 600
#: lag samples a minute; a block outside any request is timed to within 100 ms. Each
#: beat wakes an idle loop, which is what it costs (see docs/loop.md).
BEAT_INTERVAL: Final = 0.1
#: Lag percentiles are over this many seconds of heartbeats.
LAG_WINDOW: Final = 60.0
#: The ``stalled_by`` key for blocks in code outside any request.
NO_REQUEST: Final = "<no request>"

RouteOf = Callable[[Scope, int, str], str]


class LoopMonitor:
    """Everything poise measures about one event loop.

    Args:
        threshold: a step at least this long is a block (seconds).
        route_of: resolves the route template of a request in flight (its scope, a
            status, its original root path).
        incidents: where incidents go.
        errors: where poise's own failures go.
    """

    def __init__(
        self,
        *,
        threshold: float,
        route_of: RouteOf,
        incidents: IncidentStore,
        errors: InternalErrors,
    ) -> None:
        self.threshold = threshold
        self.beat_interval = BEAT_INTERVAL
        self.incidents = incidents
        self._route_of = route_of
        self._errors = errors
        # Written on the loop thread, read by the watchdog thread.
        self.current: Ledger | None = None
        self.step_started = 0.0
        self.steps = 0
        self.last_beat = 0.0
        self.loop_thread_id = 0
        # Code objects of the loop's own machinery (runner, asyncio's _run_once, ...):
        # the frames above any callback or task step. Captured by the first heartbeat.
        self.machinery: frozenset[CodeType] = frozenset()
        # Written by the watchdog: the heartbeat episode it saw stuck in one place.
        self.confirmed_beat_block = -1.0
        # Written on the loop thread only; the watchdog reads whether it is empty (to
        # poll faster while requests are in flight).
        self.inflight: dict[Ledger, tuple[Scope, str]] = {}
        self.running = False
        self._lag: deque[tuple[float, float]] = deque(maxlen=int(LAG_WINDOW / BEAT_INTERVAL) * 2)
        self._beat_due = 0.0
        self._beat_handle: asyncio.TimerHandle | None = None
        self._last_step_block_end = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._factory: TaskFactory | None = None
        self._previous_factory: TaskFactory | None = None
        self._restore_threadpool: Callable[[], None] | None = None
        self._watchdog: Watchdog | None = None

    # -- life cycle (loop thread) ----------------------------------------------------

    def start(self) -> None:
        """Start measuring the running loop: task factory, heartbeat, watchdog thread."""
        if self.running:
            return
        loop = asyncio.get_running_loop()
        self._loop = loop
        self.loop_thread_id = threading.get_ident()
        self._previous_factory = loop.get_task_factory()
        self._factory = task_factory(self, self._previous_factory)
        loop.set_task_factory(self._factory)
        self._restore_threadpool = threadpool.instrument()
        self.last_beat = perf_counter()
        self._schedule_beat()
        self._watchdog = Watchdog(self, errors=self._errors)
        self._watchdog.start()
        self.running = True

    async def stop(self) -> None:
        """Stop the watchdog and undo what :meth:`start` installed."""
        if not self.running:
            return
        self.running = False
        if self._beat_handle is not None:
            self._beat_handle.cancel()
        loop = self._loop
        if loop is not None and loop.get_task_factory() is self._factory:
            loop.set_task_factory(self._previous_factory)
        if self._restore_threadpool is not None:
            self._restore_threadpool()
        if self._watchdog is not None:
            watchdog = self._watchdog
            watchdog.stop()
            # Joining can take up to one poll interval: not on the loop thread.
            await asyncio.to_thread(watchdog.join)

    # -- blocks (loop thread) ----------------------------------------------------------

    def step_blocked(self, ledger: Ledger, start: float, end: float) -> None:
        """A timed step of ``ledger``'s request held the loop from ``start`` to ``end``."""
        try:
            route = self.route_label(ledger)
            self._last_step_block_end = end
            stalled = self._stall(start, end, ledger, route)
            if self._watchdog is not None:
                self._watchdog.submit(BlockEvent("step", start, start, end, route, stalled))
        except Exception as exc:
            self._errors.report("loop monitor", exc)

    def route_label(self, ledger: Ledger) -> str:
        """``"METHOD /template"`` of a request, finished or still in flight."""
        if ledger.route:
            return f"{ledger.method} {ledger.route}"
        inflight = self.inflight.get(ledger)
        if inflight is None:
            return f"{ledger.method} <unknown>"
        scope, root_path = inflight
        return f"{ledger.method} {self._route_of(scope, ledger.status, root_path)}"

    def _stall(self, start: float, end: float, culprit: Ledger | None, label: str) -> int:
        stalled = 0
        for ledger in self.inflight:
            if ledger is culprit:
                continue
            overlap = end - max(start, ledger.start)
            if overlap <= 0.0:
                continue
            ledger.stalled += overlap
            by = ledger.stalled_by
            if by is None:
                by = ledger.stalled_by = {}
            by[label] = by.get(label, 0.0) + overlap
            stalled += 1
        return stalled

    # -- heartbeat (loop thread) -------------------------------------------------------

    def _schedule_beat(self) -> None:
        assert self._loop is not None
        self._beat_due = perf_counter() + BEAT_INTERVAL
        self._beat_handle = self._loop.call_later(BEAT_INTERVAL, self._beat)

    def _beat(self) -> None:
        now = perf_counter()
        try:
            if not self.machinery:
                self.machinery = _codes_above(sys._getframe(1))
            due = self._beat_due
            lateness = now - due if now > due else 0.0
            self._lag.append((now, lateness))
            if (
                lateness >= self.threshold
                and self.confirmed_beat_block == self.last_beat
                and self._last_step_block_end <= due
            ):
                # Held by code poise does not time (a callback, a task outside any
                # request): the watchdog saw the loop stuck in one place meanwhile.
                stalled = self._stall(due, now, None, NO_REQUEST)
                if self._watchdog is not None:
                    event = BlockEvent("beat", self.last_beat, due, now, None, stalled)
                    self._watchdog.submit(event)
        except Exception as exc:
            self._errors.report("loop heartbeat", exc)
        self.last_beat = now
        if self.running:
            self._schedule_beat()

    # -- reading ---------------------------------------------------------------------

    def recent_lag(self, since: float) -> float:
        """The worst heartbeat lateness (loop lag) since ``since`` (``perf_counter``).

        The heartbeat that is overdue right now counts too: a saturated loop has not
        run it yet.
        """
        worst = 0.0
        for at, lateness in reversed(self._lag):
            if at < since:
                break
            worst = max(worst, lateness)
        if self.last_beat:
            worst = max(worst, perf_counter() - self.last_beat - BEAT_INTERVAL)
        return worst

    def stats(self) -> dict[str, Any]:
        """The ``loop`` section of ``/_poise/api/stats``."""
        horizon = perf_counter() - LAG_WINDOW
        lags = sorted(lag for at, lag in list(self._lag) if at >= horizon)
        return {
            "lag_p50_s": _rounded(_quantile(lags, 0.50)),
            "lag_p99_s": _rounded(_quantile(lags, 0.99)),
            "lag_max_s": _rounded(lags[-1] if lags else None),
            "blocked_s_total": round(self.incidents.blocked_s, 6),
            "incidents_total": self.incidents.total,
            "block_threshold_s": self.threshold,
            "running": self.running,
        }


def _codes_above(frame: Any) -> frozenset[CodeType]:
    codes = set()
    while frame is not None:
        codes.add(frame.f_code)
        frame = frame.f_back
    return frozenset(codes)


def _quantile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1 if q else 0)]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
