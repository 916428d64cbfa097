"""Per-request time in the thread pool: queueing for a worker thread, and running there.

FastAPI runs ``def`` routes and ``def`` dependencies, and Starlette runs
``run_in_threadpool``, through ``anyio.to_thread.run_sync``, limited by anyio's default
capacity limiter (40 tokens). poise replaces that module attribute, while the monitor
runs, with a version that times the call into the current request's ledger: the
wait from the call to the function starting in a worker thread (a limiter token and
the hand-over) is ``threadpool_queue``, the function itself is ``threadpool_run``.
Calls outside a request go straight to anyio's own function.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter
from typing import Any

import anyio.to_thread

from poise.ledger import _current

__all__ = ["instrument", "limiter_stats", "orphaned_thread_work"]

# Thread-pool calls that were still running when their request's deadline passed.
_orphaned = [0]


def orphaned_thread_work() -> int:
    """How many thread-pool calls ran past their request's deadline (this process)."""
    return _orphaned[0]


_original: Callable[..., Any] | None = None


def instrument() -> Callable[[], None]:
    """Time thread-pool calls per request; returns the function that undoes it."""
    global _original
    if _original is not None:  # already instrumented (another monitor): share it
        return lambda: None
    original = anyio.to_thread.run_sync
    _original = original

    async def run_sync(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        ledger = _current.get()
        if ledger is None:
            return await original(func, *args, **kwargs)
        queued = perf_counter()
        started = 0.0
        ended = 0.0

        def timed(*call_args: Any) -> Any:
            nonlocal started, ended
            started = perf_counter()
            try:
                return func(*call_args)
            finally:
                ended = perf_counter()

        try:
            return await original(timed, *args, **kwargs)
        finally:
            if started:
                ledger.threadpool_queue += started - queued
                ledger.threadpool_run += (ended or perf_counter()) - started
                # Work in a thread cannot be cancelled: past the request's deadline it
                # ran on for nobody. Counted, so the cost of deadlines on sync code shows.
                if anyio.current_effective_deadline() < anyio.current_time():
                    _orphaned[0] += 1
            else:  # cancelled while waiting for a worker
                ledger.threadpool_queue += perf_counter() - queued
            ledger.threadpool_jumps += 1

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
