"""Time every step of a request's task, and of the tasks it spawns.

A *step* is one ``send()`` (or ``throw()``) into a task's coroutine: the stretch of code
that runs on the loop thread between two ``await``\\s that really suspend. The request
task is timed by awaiting its app through :func:`timed_steps`; tasks created while a
request is current (``create_task``, ``gather``, ``TaskGroup``, anyio task groups) get
the same driver from :func:`task_factory`. Tasks created outside any request are left
alone: they cost nothing, and their blocks are still caught by the watchdog.

The driver is a generator-based coroutine rather than a class with ``send`` and
``throw`` methods: the interpreter resumes a generator frame directly, where a class
costs a Python method call (two, through ``__next__``) per step and an exception
unwinding through them at the end. Measured under load, the class cost about three
times what its instruction count suggested.
"""

from __future__ import annotations

import asyncio
import types
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Generator
from time import perf_counter
from typing import Any, TypeVar

from poise.ledger import Ledger, _current
from poise.loop.state import LoopState

__all__ = ["task_factory", "timed_steps"]

T = TypeVar("T")

TaskFactory = Callable[..., "asyncio.Future[Any]"]


@types.coroutine
def timed_steps(
    awaitable: Awaitable[T], ledger: Ledger, state: LoopState
) -> Generator[Any, Any, T]:
    """Drive ``awaitable`` step by step, adding each step's duration to ``ledger.on_loop``.

    ``send``, ``throw`` and ``close`` reach the wrapped coroutine exactly as the event
    loop would deliver them: anyio cancel scopes (``StreamingResponse``, task groups,
    timeouts) cancel by throwing into the coroutine, and a wrapper that only forwarded
    ``send`` would break them. While a step runs, ``state`` says which ledger it belongs
    to and when it began: what the watchdog thread reads to name a culprit.

    Use it as ``await timed_steps(coro, ledger, state)``.
    """
    # A coroutine is driven directly; any other awaitable through its iterator.
    coro: Any = awaitable if hasattr(awaitable, "send") else awaitable.__await__()
    send = coro.send
    value: Any = None
    error: BaseException | None = None
    while True:
        outer = state.current
        outer_started = state.step_started
        state.current = ledger
        started = state.step_started = perf_counter()
        try:
            if error is None:
                yielded = send(value)
            else:
                thrown, error = error, None
                yielded = coro.throw(thrown)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        finally:
            ended = perf_counter()
            state.current = outer
            state.step_started = outer_started
            state.steps += 1
            elapsed = ended - started
            ledger.on_loop += elapsed
            # A step nested in another timed step (poise installed twice in one
            # stack) is reported by the outer one only.
            if elapsed >= state.threshold and not outer_started:
                state.on_block(ledger, started, ended)
        try:
            value = yield yielded
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:
            value = None
            error = exc


async def _timed_task(coro: Coroutine[Any, Any, T], ledger: Ledger, state: LoopState) -> T:
    # asyncio.Task wants a native coroutine; this one frame is resumed in C.
    return await timed_steps(coro, ledger, state)


def _wrapped(coro: Any, ledger: Ledger, state: LoopState) -> Any:
    """``coro`` driven by :func:`timed_steps`, looking like ``coro`` where it can.

    The task's coroutine is the wrapper (``task.get_coro()``), so it carries the app's
    coroutine's ``__name__`` and ``__qualname__`` (what ``repr(task)``, debuggers and
    task dumps show); its code object is poise's. A task cancelled before its first step
    never starts the wrapper, and the app's coroutine would be reported "never awaited"
    when collected (a warning suites turn into errors): it is closed when the wrapper
    goes, as asyncio would have.
    """
    wrapper: Any = _timed_task(coro, ledger, state)
    try:
        wrapper.__name__ = coro.__name__
        wrapper.__qualname__ = coro.__qualname__
    except (AttributeError, TypeError):  # a coroutine-like object without names
        pass
    weakref.finalize(wrapper, coro.close)
    return wrapper


def task_factory(state: LoopState, previous: TaskFactory | None) -> TaskFactory:
    """A loop task factory that times the tasks a request spawns.

    Args:
        state: where step timings and blocks go.
        previous: the factory that was installed before (composed, not replaced).
    """

    def create(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Future[Any]:
        ledger = _current.get()
        if ledger is not None and not ledger.wall and asyncio.iscoroutine(coro):
            coro = _wrapped(coro, ledger, state)
        if previous is not None:
            return previous(loop, coro, **kwargs)
        return asyncio.Task(coro, loop=loop, **kwargs)

    create.poise_loop_state = state  # type: ignore[attr-defined]
    return create
