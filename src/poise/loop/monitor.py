"""The loop monitor: wires the step driver, the heartbeat, the watchdog and the thread pool.

On the loop thread it keeps the requests in flight (in :class:`LoopState`, shared with
the watchdog), runs the heartbeat that feeds the one :class:`LagMeter`, turns a blocking
step into stall time for every other request in flight, and counts the requests that
reach poise just after a block as its victims too (they waited in the server's
buffers). Each heartbeat also lets the thread pool's :class:`StarvationWatch` look.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable
from time import perf_counter
from types import CodeType
from typing import Any, Final

from poise._internal import InternalErrors
from poise.ledger import Ledger
from poise.loop import threadpool
from poise.loop.incidents import GIL_CULPRIT, IncidentStore
from poise.loop.lag import LagMeter, quantile
from poise.loop.state import LoopState
from poise.loop.steps import TaskFactory, task_factory
from poise.loop.watchdog import LATE_GRACE, BlockEvent, Watchdog
from poise.types import Scope

__all__ = ["BEAT_INTERVAL", "NO_REQUEST", "LoopMonitor"]

#: How often the heartbeat runs; its lateness is the loop lag. Ten times a second is 600
#: lag samples a minute; a block outside any request is timed to within 100 ms. Each
#: beat wakes an idle loop, which is what it costs (see docs/loop.md).
BEAT_INTERVAL: Final = 0.1
#: Lag percentiles in the stats are over this many seconds of heartbeats.
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
        lag: the lag meter the heartbeat feeds (a new one when omitted).
        starved_after: the thread pool's starvation threshold (seconds).
    """

    def __init__(
        self,
        *,
        threshold: float,
        route_of: RouteOf,
        incidents: IncidentStore,
        errors: InternalErrors,
        lag: LagMeter | None = None,
        starved_after: float = 2.0,
    ) -> None:
        self.state = state = LoopState(threshold=threshold, beat_interval=BEAT_INTERVAL)
        state.on_block = self.step_blocked
        self.threshold = threshold
        self.incidents = incidents
        self.lag = LagMeter(BEAT_INTERVAL) if lag is None else lag
        self.threadpool = threadpool.StarvationWatch(
            threshold=starved_after, route_label=self.route_label, record=incidents.keep
        )
        self._route_of = route_of
        self._errors = errors
        self.running = False
        self._beat_due = 0.0
        self._beat_handle: asyncio.TimerHandle | None = None
        self._last_step_block_end = 0.0
        # The last block's event, while requests arriving now count as its late victims,
        # and until when (perf_counter; 0.0: no block ended lately). A plain attribute:
        # the middleware compares every request's start with it.
        self._late: BlockEvent | None = None
        self.late_until = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._factory: TaskFactory | None = None
        self._previous_factory: TaskFactory | None = None
        self._restore_threadpool: Callable[[], None] | None = None
        self._watchdog: Watchdog | None = None

    @property
    def inflight(self) -> dict[Ledger, tuple[Scope, str]]:
        """The requests in flight (loop thread only)."""
        return self.state.inflight

    # -- life cycle (loop thread) ----------------------------------------------------

    def start(self) -> None:
        """Start measuring the running loop: task factory, heartbeat, watchdog thread."""
        if self.running:
            return
        loop = asyncio.get_running_loop()
        state = self.state
        self._loop = loop
        state.loop_thread_id = threading.get_ident()
        self._previous_factory = loop.get_task_factory()
        self._factory = task_factory(state, self._previous_factory)
        loop.set_task_factory(self._factory)
        self._restore_threadpool = threadpool.instrument()
        try:
            self.threadpool.watch_default_limiter()
        except Exception as exc:  # not in a task of an anyio-supported loop
            self._errors.report("thread pool watch", exc)
        state.last_beat = perf_counter()
        self.lag.reset()
        self._schedule_beat()
        self._watchdog = Watchdog(state, incidents=self.incidents, errors=self._errors)
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
            state = self.state
            gil = state.gil_starved == start
            # The thread-pool jobs running now or ended during the block: if the stack
            # the watchdog took holds no app frame while they ran, it is theirs (the GIL).
            busy = tuple(threadpool.jobs.busy_routes(self.route_label, start).items())
            # The route stays on the event: the watchdog has the final word (a stack
            # with a frame of the app, or none at all, overrules the clocks).
            route = self.route_label(ledger)
            # The loop thread was most likely waiting for the GIL, not running this
            # request's code: the thread pool's work is the culprit of the stalls.
            label = GIL_CULPRIT if gil else route
            self._last_step_block_end = end
            stalled = self._stall(start, end, ledger, label)
            event = BlockEvent("step", start, start, end, route, stalled, gil=gil,
                               busy_routes=busy)  # fmt: skip
            self._late = event
            self.late_until = end + LATE_GRACE
            if self._watchdog is not None:
                self._watchdog.submit(event)
        except Exception as exc:
            self._errors.report("loop monitor", exc)

    def arrived(self, ledger: Ledger) -> None:
        """A request reached poise: if a block ended just before, it waited behind it
        in the server's buffers (loop thread; the middleware calls it only for requests
        that start before :attr:`late_until`)."""
        event = self._late
        if event is None or ledger.start - event.end > LATE_GRACE:
            self._late = None
            self.late_until = 0.0
            return
        # An estimate: it arrived at some point during the block; the whole block is
        # the most it can have waited (docs/loop.md says more).
        ledger.queued_behind_block = event.end - event.start
        event.queued += 1

    def route_label(self, ledger: Ledger) -> str:
        """``"METHOD /template"`` of a request, finished or still in flight."""
        if ledger.route:
            return f"{ledger.method} {ledger.route}"
        inflight = self.state.inflight.get(ledger)
        if inflight is None:
            return f"{ledger.method} <unknown>"
        scope, root_path = inflight
        return f"{ledger.method} {self._route_of(scope, ledger.status, root_path)}"

    def _stall(self, start: float, end: float, culprit: Ledger | None, label: str) -> int:
        stalled = 0
        for ledger in self.state.inflight:
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
        state = self.state
        try:
            if not state.machinery:
                state.machinery = _codes_above(sys._getframe(1))
            due = self._beat_due
            lateness = now - due if now > due else 0.0
            self.lag.beat(now, lateness)
            if (
                lateness >= state.threshold
                and state.confirmed_beat_block == state.last_beat
                and self._last_step_block_end <= due
            ):
                # Held by code poise does not time (a callback, a task outside any
                # request): the watchdog saw the loop stuck in one place meanwhile.
                gil = state.gil_starved == state.last_beat
                label = GIL_CULPRIT if gil else NO_REQUEST
                stalled = self._stall(due, now, None, label)
                busy = tuple(threadpool.jobs.busy_routes(self.route_label, due).items())
                event = BlockEvent("beat", state.last_beat, due, now, None, stalled, gil=gil,
                                   busy_routes=busy)  # fmt: skip
                self._late = event
                self.late_until = now + LATE_GRACE
                if self._watchdog is not None:
                    self._watchdog.submit(event)
            self.threadpool.check()
        except Exception as exc:
            self._errors.report("loop heartbeat", exc)
        state.last_beat = now
        if self.running:
            self._schedule_beat()

    # -- reading ---------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """The ``loop`` section of ``/_poise/api/stats``."""
        lags = sorted(self.lag.window(LAG_WINDOW))
        return {
            "lag_p50_s": _rounded(quantile(lags, 0.50)),
            "lag_p99_s": _rounded(quantile(lags, 0.99)),
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


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
