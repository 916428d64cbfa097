"""Time every step of a request's task, and of the tasks it spawns.

A *step* is one ``send()`` (or ``throw()``) into a task's coroutine: the stretch of code
that runs on the loop thread between two ``await``\\s that really suspend. The request
task is timed by awaiting its app through :class:`StepTimer`; tasks created while a
request is current (``create_task``, ``gather``, ``TaskGroup``, anyio task groups) get
the same wrapper from :func:`task_factory`. Tasks created outside any request are left
alone: they cost nothing, and their blocks are still caught by the watchdog.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Generator
from time import perf_counter
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

from poise.ledger import Ledger, _current

if TYPE_CHECKING:
    from poise.loop.monitor import LoopMonitor

__all__ = ["StepTimer", "task_factory"]

T = TypeVar("T")

TaskFactory = Callable[..., "asyncio.Future[Any]"]


class StepTimer(Coroutine[Any, Any, T]):
    """A coroutine that drives another and times each of its steps into a ledger.

    It forwards ``send``, ``throw`` and ``close`` exactly as the event loop would call
    them on the wrapped coroutine: anyio cancel scopes (``StreamingResponse``, task
    groups, timeouts) cancel by throwing into the coroutine, and a wrapper that only
    forwarded ``send`` would break them.

    While a step runs, the monitor knows which ledger it belongs to and when it began,
    which is what the watchdog thread reads to name the culprit of a block.
    """

    __slots__ = ("_coro", "_ledger", "_monitor")

    def __init__(self, awaitable: Awaitable[T], ledger: Ledger, monitor: LoopMonitor):
        # A coroutine is driven directly; any other awaitable through its iterator.
        self._coro: Any = awaitable if hasattr(awaitable, "send") else awaitable.__await__()
        self._ledger = ledger
        self._monitor = monitor

    def __await__(self) -> Generator[Any, None, T]:
        return self

    def __iter__(self) -> StepTimer[T]:
        return self

    def __next__(self) -> Any:
        return self.send(None)

    def send(self, value: Any) -> Any:
        # _end_step is written out here rather than called: this runs for every step of
        # every request, and a Python call costs about as much as its body.
        monitor = self._monitor
        ledger = self._ledger
        outer = monitor.current
        outer_started = monitor.step_started
        monitor.current = ledger
        started = monitor.step_started = perf_counter()
        try:
            return self._coro.send(value)
        finally:
            ended = perf_counter()
            monitor.current = outer
            monitor.step_started = outer_started
            monitor.steps += 1
            elapsed = ended - started
            ledger.on_loop += elapsed
            if elapsed >= monitor.threshold and not outer_started:
                monitor.step_blocked(ledger, started, ended)

    def throw(self, *args: Any) -> Any:
        monitor = self._monitor
        outer = monitor.current
        outer_started = monitor.step_started
        monitor.current = self._ledger
        started = monitor.step_started = perf_counter()
        try:
            return self._coro.throw(*args)
        finally:
            self._end_step(started, outer, outer_started)

    def close(self) -> None:
        self._coro.close()

    def _end_step(self, started: float, outer: Ledger | None, outer_started: float) -> None:
        ended = perf_counter()
        monitor = self._monitor
        monitor.current = outer
        monitor.step_started = outer_started
        monitor.steps += 1
        elapsed = ended - started
        self._ledger.on_loop += elapsed
        # A step nested in another timed step (poise installed twice in one stack) is
        # reported by the outer one only.
        if elapsed >= monitor.threshold and not outer_started:
            monitor.step_blocked(self._ledger, started, ended)

    # What asyncio and debuggers read from a coroutine (Task.get_stack, repr).
    @property
    def cr_frame(self) -> FrameType | None:
        return getattr(self._coro, "cr_frame", None)

    @property
    def cr_running(self) -> bool:
        return bool(getattr(self._coro, "cr_running", False))

    @property
    def cr_await(self) -> Any:
        return getattr(self._coro, "cr_await", None)

    @property
    def cr_code(self) -> Any:
        return getattr(self._coro, "cr_code", None)

    def __repr__(self) -> str:
        return f"<StepTimer of {self._coro!r}>"


def task_factory(monitor: LoopMonitor, previous: TaskFactory | None) -> TaskFactory:
    """A loop task factory that times the tasks a request spawns.

    Args:
        monitor: where step timings and blocks go.
        previous: the factory that was installed before (composed, not replaced).
    """

    def create(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Future[Any]:
        ledger = _current.get()
        if ledger is not None and not ledger.wall and asyncio.iscoroutine(coro):
            coro = StepTimer(coro, ledger, monitor)
        if previous is not None:
            return previous(loop, coro, **kwargs)
        return asyncio.Task(coro, loop=loop, **kwargs)

    create.poise_monitor = monitor  # type: ignore[attr-defined]
    return create
