"""The thread pool: per-request queue and run time, the jobs running now, and starvation.

FastAPI runs ``def`` routes and ``def`` dependencies, and Starlette runs
``run_in_threadpool``, through ``anyio.to_thread.run_sync``, limited by anyio's default
capacity limiter (40 tokens). poise replaces that module attribute, while the monitor
runs, with a version that

- times the call into the current request's ledger: the wait from the call to the
  function starting in a worker thread (a limiter token and the hand-over) is
  ``threadpool_queue``, the function itself is ``threadpool_run``;
- keeps the jobs running now (which request each belongs to) and counts the finished
  ones, for :class:`StarvationWatch` and for the watchdog's GIL verdict.

:class:`StarvationWatch` turns "every token busy while requests wait for one" into a
``threadpool_starved`` incident once it lasts ``threshold`` seconds, and calls it a
**deadlock** while no job finishes within the threshold either: the pattern of sync
routes with a sync ``yield`` session dependency, where every thread holds a request
waiting for a pool connection and the code that would give one back waits for a thread.
Plain saturation (jobs finishing) is an incident, never a readiness failure.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import UTC, datetime
from time import monotonic, perf_counter
from typing import Any, Final

import anyio.to_thread

from poise.admission.deadline import _deadline
from poise.ledger import Ledger, _current

__all__ = [
    "STARVED_LOG_INTERVAL",
    "Jobs",
    "StarvationWatch",
    "ThreadPoolStarvation",
    "instrument",
    "jobs",
    "limiter_stats",
    "orphaned_thread_work",
]

logger = logging.getLogger("poise")

#: A starvation that goes on is logged again at most this often.
STARVED_LOG_INTERVAL: Final = 60.0
#: How many finished jobs are remembered, for the routes that ran during a block.
RECENT: Final = 256


class Jobs:
    """The thread-pool calls running now and how many have finished (this process).

    ``running`` holds the jobs that hold a thread now: a job is added by its worker
    thread as it starts and removed as it ends (single dict operations, atomic under
    the GIL); the loop and watchdog threads read it through :meth:`ledgers`, one
    C-level copy. ``finished`` and ``orphaned`` are counted by the worker threads as a
    job ends (an increment two threads race on may be lost: they are monitoring
    counts, read for "has any job finished lately", never for billing).
    """

    def __init__(self) -> None:
        self.running: dict[object, Ledger | None] = {}
        self.finished = 0
        self.last_finished = 0.0
        self.orphaned = 0
        # The last RECENT jobs to end: (when, ledger). Appended by the worker threads
        # (a deque's append is atomic); read for the jobs that ran during a block.
        self.recent: deque[tuple[float, Ledger | None]] = deque(maxlen=RECENT)

    def ledgers(self) -> list[Ledger | None]:
        """The ledger of each running job (``None`` for jobs outside any request)."""
        # One C-level copy under the GIL: safe to call from the watchdog thread.
        return list(self.running.values())

    def busy_routes(
        self, label: Callable[[Ledger], str], since: float | None = None
    ) -> dict[str, int]:
        """How many jobs each request route holds now, and (with ``since``, a
        ``perf_counter`` time) how many of its jobs ended since then (loop thread).

        A block's culprits are the jobs that ran while it lasted: by the time it ends,
        those that starved the loop of the GIL may have just finished (the threads of a
        closed-loop crowd between two requests), and the jobs running at that instant
        alone can be none at all."""
        counts: Counter[str] = Counter()
        ledgers = self.ledgers()
        if since is not None:
            ledgers.extend(ledger for ended, ledger in list(self.recent) if ended >= since)
        for ledger in ledgers:
            counts["<no request>" if ledger is None else label(ledger)] += 1
        return dict(counts.most_common())


#: The one record of this process's thread-pool jobs (the instrumentation is global).
jobs: Final = Jobs()


def orphaned_thread_work() -> int:
    """How many thread-pool calls ran past their request's deadline (this process)."""
    return jobs.orphaned


_original: Callable[..., Any] | None = None


def instrument() -> Callable[[], None]:
    """Time thread-pool calls per request; returns the function that undoes it."""
    global _original
    if _original is not None:  # already instrumented (another monitor): share it
        return lambda: None
    original = anyio.to_thread.run_sync
    _original = original
    running = jobs.running

    def run_sync(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        # Runs for every sync route and dependency (FastAPI makes two calls for a
        # ``def`` route: the route, then its response's validation). A plain function
        # returning anyio's own coroutine, not a coroutine around it: a wrapping frame
        # would be resumed at each of the call's suspensions. So the bookkeeping is done
        # in the worker thread, which has the request's context (anyio runs the function
        # in a copy of it); a call cancelled before it got a thread adds nothing.
        queued = perf_counter()

        def timed(*call_args: Any) -> Any:
            # In the worker thread: from here the job holds a thread (a call still
            # waiting for a token holds none, and is not named as holding one).
            started = perf_counter()
            ledger = _current.get()
            key = object()
            running[key] = ledger
            try:
                return func(*call_args)
            finally:
                ended = perf_counter()
                running.pop(key, None)
                # Plain stores and one increment: a lost increment between two worker
                # threads only delays the starvation watch's "a job finished" by one.
                jobs.finished += 1
                jobs.last_finished = ended
                jobs.recent.append((ended, ledger))
                if ledger is not None:
                    ledger.threadpool_queue += started - queued
                    ledger.threadpool_run += ended - started
                    ledger.threadpool_jumps += 1
                    # Work in a thread cannot be cancelled: past the request's deadline
                    # it ran on for nobody. Counted, so the cost of deadlines on sync
                    # code shows (poise's own deadline, from its context variable).
                    deadline = _deadline.get()
                    if deadline is not None and monotonic() > deadline:
                        jobs.orphaned += 1

        return original(timed, *args, **kwargs)

    anyio.to_thread.run_sync = run_sync  # type: ignore[assignment]

    def restore() -> None:
        global _original
        if anyio.to_thread.run_sync is run_sync:
            anyio.to_thread.run_sync = original
        _original = None

    return restore


def limiter_stats() -> dict[str, int] | None:
    """``size``, ``busy`` and ``waiting`` of anyio's default thread limiter.

    ``None`` outside a running event loop (the limiter belongs to the loop).
    """
    try:
        limiter = anyio.to_thread.current_default_thread_limiter()
        return {
            "size": int(limiter.total_tokens),
            "busy": int(limiter.borrowed_tokens),
            "waiting": limiter.statistics().tasks_waiting,
        }
    except Exception:
        return None


class ThreadPoolStarvation:
    """One ``threadpool_starved`` incident, updated in place while it lasts.

    Attributes:
        at: wall-clock time it began (``time.time()`` form).
        duration_s: how long every token has been busy with requests waiting.
        size: the limiter's tokens.
        waiting_max: the most requests seen waiting for a thread.
        routes: ``"METHOD /template"`` -> threads it held, at the worst moment.
        deadlock: no job finished within the threshold (now, while it lasts).
        deadlocked_s: for how long, in all, it was a deadlock.
        ongoing: it has not cleared yet.
    """

    kind: Final = "threadpool_starved"

    def __init__(self, at: float, started: float, size: int) -> None:
        self.at = at
        self.started = started
        self.duration_s = 0.0
        self.size = size
        self.waiting_max = 0
        self.routes: dict[str, int] = {}
        self.deadlock = False
        self.deadlocked_s = 0.0
        self.ongoing = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "at": datetime.fromtimestamp(self.at, UTC).isoformat(),
            "duration_s": round(self.duration_s, 6),
            "threads": self.size,
            "waiting_max": self.waiting_max,
            "routes": dict(self.routes),
            "deadlock": self.deadlock,
            "deadlocked_s": round(self.deadlocked_s, 6),
            "ongoing": self.ongoing,
        }

    def describe(self) -> str:
        holders = ", ".join(f"{route} x{n}" for route, n in self.routes.items()) or "unknown"
        verdict = (
            f"no job finished for {self.deadlocked_s:.1f} s: a deadlock (every thread "
            "waits for something only another request's thread can give back, such as a "
            "pool connection held by a sync dependency)"
            if self.deadlock
            else "jobs are finishing: the pool is saturated, not stuck"
        )
        return (
            f"poise: the thread pool has been starved for {self.duration_s:.1f} s: all "
            f"{self.size} threads busy ({holders}), up to {self.waiting_max} call(s) "
            f"waiting for one; {verdict}"
        )


class StarvationWatch:
    """Watches anyio's default thread limiter from the loop thread (call :meth:`check`
    every tick) and keeps the ``threadpool_starved`` incidents.

    Args:
        threshold: starvation becomes an incident after this many seconds, and a
            deadlock while no job finished within it.
        route_label: ``"METHOD /template"`` of a request in flight.
        record: called once with each new incident (it is then updated in place).
        clock: ``perf_counter`` seconds (injectable for tests).
        limiter: ``() -> (tokens, borrowed, waiting)``; until one is given (here or by
            :meth:`watch_default_limiter`), :meth:`check` does nothing.
    """

    def __init__(
        self,
        *,
        threshold: float,
        route_label: Callable[[Ledger], str],
        record: Callable[[ThreadPoolStarvation], None],
        clock: Callable[[], float] = perf_counter,
        limiter: Callable[[], tuple[int, int, int]] | None = None,
        log_interval: float = STARVED_LOG_INTERVAL,
    ) -> None:
        self.threshold = threshold
        self._label = route_label
        self._record = record
        self._clock = clock
        self.limiter = limiter
        self._log_interval = log_interval
        self._since = 0.0
        self._logged_at = -1e18
        self.current: ThreadPoolStarvation | None = None
        self.total = 0

    def starved_now(self) -> bool:
        """Whether every thread was busy, with calls waiting, at the last check."""
        return self._since > 0.0

    @property
    def deadlocked(self) -> bool:
        current = self.current
        return current is not None and current.ongoing and current.deadlock

    def reason(self) -> str | None:
        """Why readiness should fail now (a deadlock), or ``None``."""
        current = self.current
        if current is None or not current.ongoing or not current.deadlock:
            return None
        return (
            f"thread pool deadlocked: all {current.size} threads busy, "
            f"{current.waiting_max} waiting, no job finished for {current.deadlocked_s:.1f} s"
        )

    def watch_default_limiter(self) -> None:
        """Watch anyio's default thread limiter of the running loop (call it from a task
        on that loop: the limiter is found through the running task)."""
        limiter = anyio.to_thread.current_default_thread_limiter()

        def read() -> tuple[int, int, int]:
            return (int(limiter.total_tokens), int(limiter.borrowed_tokens),
                    limiter.statistics().tasks_waiting)  # fmt: skip

        self.limiter = read

    def check(self) -> None:
        """One look at the limiter (loop thread)."""
        if self.limiter is None:
            return
        now = self._clock()
        size, busy, waiting = self.limiter()
        starved = size > 0 and busy >= size and waiting > 0
        current = self.current
        if not starved:
            self._since = 0.0
            if current is not None and current.ongoing:
                current.ongoing = False
                current.deadlock = False
            return
        if not self._since:
            self._since = now
        if now - self._since < self.threshold:
            return
        if current is None or not current.ongoing:
            current = ThreadPoolStarvation(time.time() - (now - self._since), self._since, size)
            self.current = current
            self.total += 1
            self._record(current)
        current.duration_s = now - self._since
        current.size = size
        if waiting >= current.waiting_max:
            current.waiting_max = waiting
            current.routes = jobs.busy_routes(self._label)
        since_finished = now - max(jobs.last_finished, self._since)
        was_deadlock = current.deadlock
        current.deadlock = since_finished >= self.threshold
        if current.deadlock:
            current.deadlocked_s = since_finished
        # Once a minute; and at once when a saturation turns into a deadlock (the first
        # line said "jobs are finishing", and readiness now fails).
        if now - self._logged_at >= self._log_interval or (current.deadlock and not was_deadlock):
            self._logged_at = now
            logger.warning("%s", current.describe())
